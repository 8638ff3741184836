package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

func TestErrorForMapsEveryDomainError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("slice: op: %w", err) }
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		field      string
		subCode    string
		retryAfter int
		message    string // substring, when checked
	}{
		{name: "field_error_is_400_naming_the_field", err: wrap(&alipay.FieldError{Field: "biz.amount", Message: "must be positive"}),
			status: 400, code: CodeIllegalArgument, field: "biz.amount", message: "must be positive"},
		{name: "contract_error_passes_through", err: tooLarge(), status: 413, code: CodeBodyTooLarge},
		{name: "in_progress_is_409_with_retry_after_rounded_up", err: &domain.InProgress{RetryAfter: 2500 * time.Millisecond},
			status: 409, code: CodeRequestInProgress, retryAfter: 3},
		{name: "in_progress_retry_after_is_at_least_one", err: &domain.InProgress{}, status: 409, code: CodeRequestInProgress, retryAfter: 1},
		{name: "conflict_keeps_its_code_and_message", err: wrap(&domain.Conflict{Code: domain.CodeIdempotencyConflict, Message: "used"}),
			status: 409, code: CodeIdempotencyConflict, message: "used"},
		{name: "already_authorized", err: domain.ErrAlreadyAuthorized, status: 409, code: CodeOrderAlreadyAuthorized},
		{name: "order_not_authorized", err: domain.ErrOrderNotAuthorized, status: 409, code: CodeOrderNotAuthorized},
		{name: "order_not_paid", err: domain.ErrOrderNotPaid, status: 409, code: CodeOrderNotPaid},
		{name: "order_not_refundable", err: domain.ErrOrderNotRefundable, status: 409, code: CodeOrderNotRefundable},
		{name: "order_already_paid", err: domain.ErrOrderAlreadyPaid, status: 409, code: CodeOrderAlreadyPaid},
		{name: "agreement_not_active", err: domain.ErrAgreementNotActive, status: 409, code: CodeAgreementNotActive},
		{name: "amount_exceeded_names_field_and_available", err: wrap(&domain.AmountExceeded{Field: "amount", Available: 1234}),
			status: 409, code: CodeAmountExceedsAvailable, field: "amount", message: "12.34"},
		{name: "charge_limit_names_the_rule", err: &domain.ChargeRefused{Code: domain.CodeChargeLimitExceeded, Field: "single_amount", Message: "over"},
			status: 409, code: CodeChargeLimitExceeded, field: "single_amount"},
		{name: "outside_charge_window", err: &domain.ChargeRefused{Code: domain.CodeOutsideChargeWindow, Message: "2026-01-01..2026-01-05"},
			status: 409, code: CodeOutsideChargeWindow, message: "2026-01-01"},
		{name: "business_error_is_502_with_sub_code", err: wrap(&alipay.BusinessError{Code: "40004", SubCode: "ACQ.TRADE_HAS_SUCCESS", SubMsg: "paid"}),
			status: 502, code: CodeAlipayBusinessError, subCode: "ACQ.TRADE_HAS_SUCCESS"},
		{name: "configuration_refusal_is_503_alipay_unavailable", err: &alipay.BusinessError{Code: "40006", SubCode: "isv.insufficient-isv-permissions"},
			status: 503, code: CodeAlipayUnavailable, retryAfter: retryAlipay},
		{name: "unknown_outcome_is_503_with_retry_after", err: wrap(&alipay.UnknownOutcomeError{Reason: "timeout"}),
			status: 503, code: CodeAlipayUnavailable, retryAfter: retryAlipay},
		{name: "not_sent_is_503_alipay_unavailable", err: wrap(domain.ErrNotSent), status: 503, code: CodeAlipayUnavailable, retryAfter: retryAlipay},
		{name: "lease_lost_is_503_alipay_unavailable", err: wrap(orders.ErrLeaseLost), status: 503, code: CodeAlipayUnavailable, retryAfter: retryAlipay},
		{name: "not_found_is_404", err: wrap(orders.ErrNotFound), status: 404, code: CodeNotFound},
		{name: "store_limit_is_409_idempotency_conflict", err: wrap(orders.ErrLimit), status: 409, code: CodeIdempotencyConflict},
		{name: "trade_no_bound_is_409", err: wrap(orders.ErrTradeNoBound), status: 409, code: CodeIdempotencyConflict},
		{name: "store_unavailable_is_503_dependency", err: wrap(orders.ErrUnavailable), status: 503, code: CodeDependencyUnavailable, retryAfter: retryDependency},
		{name: "credentials_unavailable_is_503_dependency", err: fmt.Errorf("%w: %w", credentials.ErrUnavailable, errors.New("kms")),
			status: 503, code: CodeDependencyUnavailable, retryAfter: retryDependency},
		{name: "retry_later_raises_retry_after", err: domain.WithRetryAfter(wrap(orders.ErrUnavailable), 9500*time.Millisecond),
			status: 503, code: CodeDependencyUnavailable, retryAfter: 10},
		{name: "retry_later_never_lowers_retry_after", err: domain.WithRetryAfter(orders.ErrUnavailable, time.Millisecond),
			status: 503, code: CodeDependencyUnavailable, retryAfter: retryDependency},
		{name: "store_invalid_is_opaque_500", err: wrap(orders.ErrInvalid), status: 500, code: CodeInternal},
		{name: "missing_caller_is_opaque_500", err: ErrNoCaller, status: 500, code: CodeInternal},
		{name: "unknown_error_is_opaque_500", err: errors.New("boom"), status: 500, code: CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ErrorFor(tt.err)
			if e.Status != tt.status || e.Code != tt.code || e.Field != tt.field || e.SubCode != tt.subCode || e.RetryAfter != tt.retryAfter {
				t.Fatalf("got %+v, want status %d code %s field %q sub_code %q retry-after %d",
					e, tt.status, tt.code, tt.field, tt.subCode, tt.retryAfter)
			}
			if e.Message == "" || !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q, want it to contain %q", e.Message, tt.message)
			}
			if strings.Contains(e.Message, "slice: op") {
				t.Errorf("message carries the wrapped error text: %q", e.Message)
			}
		})
	}
	if ErrorFor(nil) != nil {
		t.Error("nil error mapped to a reply")
	}
}

func TestWriteErrUnknownIsOpaqueAndLogged(t *testing.T) {
	var logs bytes.Buffer
	rt := NewRouter(LocalCaller, slog.New(slog.NewJSONHandler(&logs, nil)))
	_ = rt.Handle(http.MethodPost, NotifyPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteErr(w, r, fmt.Errorf("dynamo: table secret-internal-name: %w", errors.New("socket reset")))
	}))
	req := httptest.NewRequest(http.MethodPost, NotifyPath, nil)
	req.Header.Set("X-Request-Id", "req-42")
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, req)
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret-internal-name") || decodeError(t, w.Body.Bytes()).Code != CodeInternal {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
	var failed bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"msg":"request failed"`) {
			failed = strings.Contains(line, "secret-internal-name") && strings.Contains(line, `"request_id":"req-42"`)
		}
	}
	if !failed {
		t.Errorf("the cause is not logged with the request id: %s", logs.String())
	}
}

func TestWriteErrSetsRetryAfterAndSubCode(t *testing.T) {
	for _, tc := range []struct {
		err        error
		retryAfter string
		body       string
	}{
		{&domain.InProgress{RetryAfter: 4 * time.Second}, "4", `"code":"REQUEST_IN_PROGRESS"`},
		{&alipay.BusinessError{Code: "40004", SubCode: "ACQ.X", SubMsg: "m"}, "", `"sub_code":"ACQ.X"`},
	} {
		w := httptest.NewRecorder()
		WriteErr(w, httptest.NewRequest("GET", "/", nil), tc.err)
		if w.Header().Get("Retry-After") != tc.retryAfter || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%v: Retry-After %q body %s", tc.err, w.Header().Get("Retry-After"), w.Body)
		}
	}
}

func TestRequireCaller(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if _, err := RequireCaller(r); !errors.Is(err, ErrNoCaller) {
		t.Fatalf("no caller: %v", err)
	}
	r = r.WithContext(WithCaller(r.Context(), Caller{ID: "c1"}))
	if c, err := RequireCaller(r); err != nil || c.ID != "c1" {
		t.Fatalf("caller %+v %v", c, err)
	}
}

func TestMountFunctionMatchesTheTable(t *testing.T) {
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	tests := []struct {
		name     string
		handlers map[string]http.Handler
		wantErr  bool
	}{
		{"exact_routes_mount", map[string]http.Handler{"POST " + NotifyPath: ok}, false},
		{"missing_route_fails", map[string]http.Handler{}, true},
		{"extra_route_fails", map[string]http.Handler{"POST " + NotifyPath: ok, "GET /v1/other": ok}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewRouter(LocalCaller, nil).MountFunction(FnNotify, tt.handlers)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestLifecycleCodesAreTheDomainCodes(t *testing.T) {
	pairs := [][2]string{
		{CodeOrderNotAuthorized, domain.CodeOrderNotAuthorized},
		{CodeOrderNotPaid, domain.CodeOrderNotPaid},
		{CodeOrderNotRefundable, domain.CodeOrderNotRefundable},
		{CodeOrderAlreadyPaid, domain.CodeOrderAlreadyPaid},
		{CodeAgreementNotActive, domain.CodeAgreementNotActive},
		{CodeOutsideChargeWindow, domain.CodeOutsideChargeWindow},
		{CodeChargeLimitExceeded, domain.CodeChargeLimitExceeded},
		{CodeAmountExceedsAvailable, domain.CodeAmountExceedsAvailable},
		{CodeIdempotencyConflict, domain.CodeIdempotencyConflict},
		{CodeOrderAlreadyAuthorized, domain.CodeOrderAlreadyAuthorized},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("httpapi %q, domain %q", p[0], p[1])
		}
	}
}
