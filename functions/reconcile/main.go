// Command reconcile is the scheduled reconciler: each invocation runs one bounded pass
// over the due index, asking Alipay about unsettled orders and unknown outcomes and
// applying the answers (docs/design.md, "The reconciler"). No route reaches it.
package main

import (
	"github.com/alipay-serverless/alipay-serverless/shared/platform"
	"github.com/alipay-serverless/alipay-serverless/shared/wiring"
)

func main() { platform.MainEvent(wiring.ReconcileLambda) }
