package wiring

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

func routeKeys(rs []httpapi.Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return out
}

func testDeps() Deps {
	return Deps{Store: orders.NewMemoryStore(), Gateway: alipay.NewClient("http://127.0.0.1:1/gateway.do")}
}

func TestEachConstructorMountsItsFunctionsRoutes(t *testing.T) {
	for _, tc := range []struct {
		function string
		build    Constructor
	}{
		{httpapi.FnCreateVoucher, NewPreAuth},
		{httpapi.FnAppPaySign, NewAppPay},
		{httpapi.FnNotify, NewNotify},
	} {
		t.Run(tc.function, func(t *testing.T) {
			r := httpapi.NewRouter(httpapi.JWTCaller, nil)
			if err := Mount(r, testDeps(), tc.build); err != nil {
				t.Fatal(err)
			}
			if got, want := routeKeys(r.Mounted()), routeKeys(httpapi.RoutesOf(tc.function)); !slices.Equal(got, want) {
				t.Errorf("mounted %v, want %v", got, want)
			}
		})
	}
}

func TestAllMountsTheWholeRouteTable(t *testing.T) {
	r := httpapi.NewRouter(httpapi.LocalCaller, nil)
	if err := Mount(r, testDeps(), All...); err != nil {
		t.Fatal(err)
	}
	if got, want := routeKeys(r.Mounted()), routeKeys(httpapi.Routes); !slices.Equal(got, want) {
		t.Errorf("mounted %v, want %v", got, want)
	}
}

// TestAppPayServesTheAgreementRoutes: the apppaysign function serves the agreements'
// routes with their slice's handler, not the placeholder a slice mounted alone gets.
func TestAppPayServesTheAgreementRoutes(t *testing.T) {
	r := httpapi.NewRouter(httpapi.LocalCaller, nil)
	if err := Mount(r, testDeps(), NewAppPay); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/agreements/AGNOSUCH", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"no such agreement"`) {
		t.Fatalf("GET an unknown agreement: %d %s", rec.Code, rec.Body)
	}
}
