// Command createvoucher is the Lambda function behind /v1/preauth: it creates pre-auth QR
// vouchers through Alipay's gateway and serves the pre-auth order reads.
package main

import (
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

func main() { platform.Main(wiring.Lambda(wiring.NewPreAuth)) }
