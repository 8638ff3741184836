package opcall

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

var (
	paid       = &orders.OpOutcome{State: orders.OpSucceeded, Result: map[string]string{orders.ResultTradeNo: "T1"}}
	closed     = &orders.OpOutcome{State: orders.OpFailed, SubCode: "ACQ.TRADE_HAS_CLOSE"}
	refusal    = &alipay.BusinessError{Code: "40004", SubCode: "ACQ.BUYER_BALANCE_NOT_ENOUGH"}
	state      = &alipay.BusinessError{Code: "40004", SubCode: "ACQ.TRADE_HAS_SUCCESS"}
	config     = &alipay.BusinessError{Code: "40006", SubCode: "isv.insufficient-isv-permissions"}
	lost       = &alipay.UnknownOutcomeError{Reason: "timeout"}
	errNotSent = errors.New("dial tcp 127.0.0.1:1: connection refused")
	errQuery   = errors.New("query: timeout")
)

type answers struct {
	query    *orders.OpOutcome
	queryErr error
	send     *orders.OpOutcome
	sendErr  error
}

func (a answers) call(queries, sends *int) Call {
	return Call{
		Method: alipay.MethodTradePay,
		Query: func(context.Context, *alipay.Credentials) (*orders.OpOutcome, error) {
			*queries++
			return a.query, a.queryErr
		},
		Send: func(context.Context, *alipay.Credentials) (*orders.OpOutcome, error) {
			*sends++
			return a.send, a.sendErr
		},
	}
}

// Money moves at most once: a retry asks before it sends, a STATE refusal is settled by
// asking, and anything without Alipay's word is UNKNOWN, never a success or a failure.
func TestDecide(t *testing.T) {
	tests := []struct {
		name           string
		a              answers
		retried        bool
		want           orders.OpState
		queries, sends int
	}{
		{"first_attempt_sent_and_paid", answers{send: paid}, false, orders.OpSucceeded, 0, 1},
		{"retry_alipay_has_it_nothing_sent", answers{query: paid}, true, orders.OpSucceeded, 1, 0},
		{"retry_alipay_closed_it_nothing_sent", answers{query: closed}, true, orders.OpFailed, 1, 0},
		{"retry_alipay_lacks_it_sent_again", answers{send: paid}, true, orders.OpSucceeded, 1, 1},
		{"retry_query_fails_unknown_nothing_sent", answers{queryErr: errQuery}, true, orders.OpUnknown, 1, 0},
		{"definite_refusal_failed", answers{sendErr: refusal}, false, orders.OpFailed, 0, 1},
		{"state_refusal_settled_by_query", answers{sendErr: state, query: paid}, false, orders.OpSucceeded, 1, 1},
		{"state_refusal_confirmed_by_query", answers{sendErr: state}, false, orders.OpFailed, 1, 1},
		{"state_refusal_query_fails_unknown", answers{sendErr: state, queryErr: errQuery}, false, orders.OpUnknown, 1, 1},
		{"configuration_error_unknown_so_a_retry_can_send", answers{sendErr: config}, false, orders.OpUnknown, 0, 1},
		{"lost_reply_unknown", answers{sendErr: lost}, false, orders.OpUnknown, 0, 1},
		{"not_sent_unknown", answers{sendErr: errNotSent}, false, orders.OpUnknown, 0, 1},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var queries, sends int
			out := Decide(context.Background(), log, &alipay.Credentials{}, tt.a.call(&queries, &sends), tt.retried)
			if out.State != tt.want || queries != tt.queries || sends != tt.sends {
				t.Fatalf("state %s after %d queries, %d sends; want %s, %d, %d", out.State, queries, sends, tt.want, tt.queries, tt.sends)
			}
		})
	}
}

type recorder struct {
	out    orders.OpOutcome
	ctxErr error
	calls  int
}

func (r *recorder) CompleteOperation(ctx context.Context, _ orders.OpRef, _ string, out orders.OpOutcome) error {
	r.calls++
	r.out, r.ctxErr = out, ctx.Err()
	return nil
}

func TestRunRecordsInsideTheLease(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	t.Run("no_time_left_nothing_sent_unknown_recorded", func(t *testing.T) {
		var queries, sends int
		r := &recorder{}
		l := Lease{Until: now.Add(time.Second), Margin: 2 * time.Second}
		out, err := Run(context.Background(), log, r, nil, answers{send: paid}.call(&queries, &sends), l, false, clock)
		if err != nil || sends != 0 || out.State != orders.OpUnknown || r.calls != 1 || r.out.State != orders.OpUnknown {
			t.Fatalf("out %s err %v sends %d recorded %d %s", out.State, err, sends, r.calls, r.out.State)
		}
	})
	t.Run("caller_gone_outcome_still_recorded", func(t *testing.T) {
		var queries, sends int
		r := &recorder{}
		ctx, cancel := context.WithCancel(context.Background())
		a := answers{send: paid}
		call := a.call(&queries, &sends)
		send := call.Send
		call.Send = func(c context.Context, cr *alipay.Credentials) (*orders.OpOutcome, error) {
			defer cancel() // the caller goes away while Alipay answers
			return send(c, cr)
		}
		l := Lease{Until: now.Add(10 * time.Second), Margin: time.Second}
		out, err := Run(ctx, log, r, nil, call, l, false, clock)
		if err != nil || out.State != orders.OpSucceeded || r.calls != 1 || r.ctxErr != nil || !r.out.Now.Equal(now) {
			t.Fatalf("out %s err %v recorded %d (ctx %v, now %v)", out.State, err, r.calls, r.ctxErr, r.out.Now)
		}
	})
}
