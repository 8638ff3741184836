// Command notify is the Lambda function behind /v1/notify/alipay: it verifies Alipay's
// asynchronous notifications and applies each to the order state exactly once.
package main

import (
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

func main() { platform.Main(wiring.Lambda(wiring.NewNotify)) }
