// Command apppaysign is the Lambda function behind /v1/app-pay/orders: it signs app-pay
// order strings and serves the app's order status reads, syncs and closes.
package main

import (
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

func main() { platform.Main(wiring.Lambda(wiring.NewAppPay)) }
