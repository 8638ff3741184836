package credentials_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/credentials"
)

func TestStaticAnswersItsCredentialsOrItsError(t *testing.T) {
	creds := &alipay.Credentials{AppID: "2021000000000001"}
	down := errors.New("secret unavailable")
	tests := []struct {
		name    string
		src     credentials.Static
		want    *alipay.Credentials
		wantErr error
	}{
		{name: "credentials", src: credentials.Static{Creds: creds}, want: creds},
		{name: "error_wins_over_credentials", src: credentials.Static{Creds: creds, Err: down}, wantErr: down},
		{name: "zero_value_is_nil_credentials", src: credentials.Static{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, call := range map[string]func(context.Context) (*alipay.Credentials, error){"get": tt.src.Get, "refresh": tt.src.Refresh} {
				got, err := call(context.Background())
				if got != tt.want || !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
					t.Errorf("%s = %v, %v; want %v, %v", name, got, err, tt.want, tt.wantErr)
				}
			}
		})
	}
}
