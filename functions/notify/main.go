// Command notify is the Lambda function behind /v1/notify/alipay: it verifies Alipay's
// asynchronous notifications and applies each to the order state exactly once.
package main

import (
	"net/http"

	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/notify"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
)

func main() {
	platform.Main(func(d *platform.Deps) (http.Handler, error) {
		svc := notify.NewService(d.Store, d.Credentials, notify.WithSellerID(d.Config.SellerID),
			notify.WithCertResolver(d.Gateway))
		router := httpapi.NewRouter(httpapi.JWTCaller, d.Log)
		return router, notify.NewHandler(svc).Mount(router)
	})
}
