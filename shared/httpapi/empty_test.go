package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A route that takes no body accepts nothing or {}; anything else names what is wrong.
func TestReadEmpty(t *testing.T) {
	tests := []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{"no_body", "", "", 0, ""},
		{"empty_object", "application/json", "{}", 0, ""},
		{"whitespace", "text/plain", " \n", 0, ""},
		{"not_json_is_415", "text/plain", "{}", http.StatusUnsupportedMediaType, ""},
		{"a_field_is_400_naming_it", "application/json", `{"force":true}`, http.StatusBadRequest, "force"},
		{"over_64_kib_is_413", "application/json", "{" + strings.Repeat(" ", MaxBodyBytes) + "}", http.StatusRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			err := ReadEmpty(r)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("ReadEmpty = %v, want nil", err)
				}
				return
			}
			e := ErrorFor(err)
			if e.Status != tt.status || e.Field != tt.field {
				t.Fatalf("ReadEmpty = %v → %d field %q, want %d field %q", err, e.Status, e.Field, tt.status, tt.field)
			}
		})
	}
}

func TestOwnerOrAny(t *testing.T) {
	req := func(c *Caller) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		if c != nil {
			r = r.WithContext(WithCaller(r.Context(), *c))
		}
		return r
	}
	if _, err := OwnerOrAny(req(nil), ScopeSettle); !errors.Is(err, ErrNoCaller) {
		t.Errorf("no caller: %v, want ErrNoCaller", err)
	}
	if o, err := OwnerOrAny(req(&Caller{ID: "app-user"}), ScopeSettle); o != "app-user" || err != nil {
		t.Errorf("app user acts on %q (%v), want its own", o, err)
	}
	if o, err := OwnerOrAny(req(&Caller{ID: "back-office", Scopes: []string{ScopeSettle}}), ScopeSettle); o != "" || err != nil {
		t.Errorf("settle caller acts on %q (%v), want anyone's", o, err)
	}
}
