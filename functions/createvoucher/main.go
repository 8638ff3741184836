// Command createvoucher is the Lambda function behind /v1/preauth: it creates pre-auth QR
// vouchers through Alipay's gateway and serves the pre-auth order reads.
package main

import (
	"net/http"

	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/preauth"
)

func main() {
	platform.Main(func(d *platform.Deps) (http.Handler, error) {
		svc := preauth.NewService(d.Store, d.Credentials, d.Gateway,
			preauth.WithNotifyURL(d.Config.NotifyURL), preauth.WithGatewayTimeout(d.Config.GatewayTimeout))
		router := httpapi.NewRouter(httpapi.JWTCaller, d.Log)
		return router, preauth.NewHandler(svc).Mount(router)
	})
}
