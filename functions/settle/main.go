// Command settle is the Lambda function behind the money-moving back-office routes
// (scope settle): pre-auth captures, unfreezes and cancels, app-pay refunds. The
// functions a mobile app reaches hold none of these paths (docs/design.md).
package main

import (
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

func main() { platform.Main(wiring.Lambda(wiring.NewSettle)) }
