package wiring

import (
	"slices"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/reconcile"
)

// awaitingResolver lists the operation kinds whose resolver is not wired yet. Whoever
// registers one takes its kind off this list (the test below fails until they do).
var awaitingResolver = []orders.OpKind{}

// An operation whose outcome is unknown is due work; without a resolver the reconciler
// can only back it off until it is STUCK. Every kind an order's OpSet can hold needs one.
func TestEveryOperationKindThatCanBeDueHasAResolver(t *testing.T) {
	reg := Resolvers(testDeps())
	for _, k := range orders.OpKinds {
		_, ok := reg[reconcile.Key{Kind: orders.DueOperation, Op: k}]
		switch awaiting := slices.Contains(awaitingResolver, k); {
		case !ok && !awaiting:
			t.Errorf("no resolver for due %s operations: register one in Resolvers", k)
		case ok && awaiting:
			t.Errorf("%s operations have a resolver now: take %s off awaitingResolver", k, k)
		}
	}
	for _, k := range []orders.DueKind{orders.DueVoucherRequest, orders.DueCodeIssued, orders.DueAppPayOpen} {
		if _, ok := reg[reconcile.Key{Kind: k}]; !ok {
			t.Errorf("no resolver for %s", k)
		}
	}
}
