// Command settle is the Lambda function behind the money-moving back-office routes
// (scope settle): app-pay refunds. The mobile-facing apppaysign holds none of them.
package main

import (
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

func main() { platform.Main(wiring.Lambda(wiring.NewSettle)) }
