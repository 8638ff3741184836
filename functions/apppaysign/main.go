// Command apppaysign is the Lambda function behind /v1/app-pay/orders: it signs app-pay
// order strings and serves the app's order status reads.
package main

import (
	"net/http"

	"github.com/alipay-serverless/alipay-serverless/shared/apppay"
	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
)

func main() {
	platform.Main(func(d *platform.Deps) (http.Handler, error) {
		svc := apppay.NewService(d.Store, d.Credentials,
			apppay.WithServerPricing(d.Config.AppPayPricing == config.PricingServer),
			apppay.WithSignNotifyURL(d.Config.SignNotifyURL))
		router := httpapi.NewRouter(httpapi.JWTCaller, d.Log)
		return router, apppay.NewHandler(svc, d.Config.NotifyURL).Mount(router)
	})
}
