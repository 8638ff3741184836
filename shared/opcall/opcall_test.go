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

var (
	accepted = &orders.OpOutcome{State: orders.OpUnknown, Result: map[string]string{"fund_change": "N"}}
	later    = time.Now().Add(time.Hour)
	earlier  = time.Now().Add(-time.Hour)
	stillAck = orders.OpOutcome{State: orders.OpUnknown, Result: map[string]string{"fund_change": "N"}}
)

type answers struct {
	query    *orders.OpOutcome
	queryErr error
	// requery, when set, answers every query after the first.
	requery    *orders.OpOutcome
	requeryErr error
	send       *orders.OpOutcome
	sendErr    error
	// The call's settlement rules (Call's fields after Send).
	notBefore  time.Time
	settleOnly bool
	absent     *orders.OpOutcome
	rule       StateRule
}

func (a answers) call(queries, sends *int) Call {
	c := Call{
		Method: alipay.MethodTradePay,
		Query: func(context.Context, *alipay.Credentials) (*orders.OpOutcome, error) {
			*queries++
			if *queries > 1 && (a.requery != nil || a.requeryErr != nil) {
				return a.requery, a.requeryErr
			}
			return a.query, a.queryErr
		},
		Send: func(context.Context, *alipay.Credentials) (*orders.OpOutcome, error) {
			*sends++
			return a.send, a.sendErr
		},
		NotBefore: a.notBefore, SettleOnly: a.settleOnly, StateRefusal: a.rule,
	}
	if a.absent != nil {
		c.Absent = func() orders.OpOutcome { return *a.absent }
	}
	return c
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
		{"accepted_without_proof_unknown_as_sent", answers{send: accepted}, false, orders.OpUnknown, 0, 1},
		{"retry_alipay_has_it_not_done_yet_unknown_nothing_sent", answers{query: accepted}, true, orders.OpUnknown, 1, 0},
		{"retry_before_not_before_nothing_asked_nothing_sent", answers{query: paid, notBefore: later}, true, orders.OpUnknown, 0, 0},
		{"retry_after_not_before_asked", answers{query: paid, notBefore: earlier}, true, orders.OpSucceeded, 1, 0},
		{"first_attempt_sent_whatever_not_before", answers{send: paid, notBefore: later}, false, orders.OpSucceeded, 0, 1},
		{"settle_only_found_nothing_sent", answers{query: paid, settleOnly: true}, false, orders.OpSucceeded, 1, 0},
		{"settle_only_absent_not_created_nothing_sent", answers{send: paid, settleOnly: true}, true, orders.OpFailed, 1, 0},
		{"settle_only_absent_its_own_outcome", answers{absent: &stillAck, settleOnly: true}, true, orders.OpUnknown, 1, 0},
		{"settle_only_query_fails_unknown", answers{queryErr: errQuery, settleOnly: true}, true, orders.OpUnknown, 1, 0},
		{"settle_only_before_not_before_nothing_asked", answers{query: paid, settleOnly: true, notBefore: later}, true, orders.OpUnknown, 0, 0},
		{"state_on_resend_rule_first_send_refused_without_asking", answers{sendErr: state, query: paid, rule: StateAskOnResend}, false, orders.OpFailed, 0, 1},
		{"state_on_resend_rule_resend_asked_again_success", answers{sendErr: state, requery: paid, rule: StateAskOnResend}, true, orders.OpSucceeded, 2, 1},
		{"state_on_resend_rule_resend_asked_again_nothing_refused", answers{sendErr: state, rule: StateAskOnResend}, true, orders.OpFailed, 2, 1},
		{"state_on_resend_rule_resend_found_not_done_refused", answers{sendErr: state, requery: accepted, rule: StateAskOnResend}, true, orders.OpFailed, 2, 1},
		{"state_on_resend_rule_resend_query_fails_refused", answers{sendErr: state, requeryErr: errQuery, rule: StateAskOnResend}, true, orders.OpFailed, 2, 1},
		{"state_on_resend_rule_definite_refusal_failed", answers{sendErr: refusal, rule: StateAskOnResend}, true, orders.OpFailed, 1, 1},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var queries, sends int
			out := decide(context.Background(), log, &alipay.Credentials{}, tt.a.call(&queries, &sends), tt.retried, time.Now)
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

func (r *recorder) CompleteOperation(ctx context.Context, _ orders.OpRef, _ string, out orders.OpOutcome) (orders.Operation, error) {
	r.calls++
	r.out, r.ctxErr = out, ctx.Err()
	return orders.Operation{State: out.State, Result: out.Result, Code: out.Code, SubCode: out.SubCode, SubMsg: out.SubMsg}, nil
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

// An UNKNOWN outcome is the call's own (what its settlement needs), told why.
func TestDecideUnknownIsTheCallsOwnWithItsCause(t *testing.T) {
	tests := []struct {
		name      string
		a         answers
		retried   bool
		wantCause error // nil: not asked yet
	}{
		{"lost_reply_the_send_error", answers{sendErr: lost}, false, alipay.ErrUnknownOutcome},
		{"not_sent_the_send_error", answers{sendErr: errNotSent}, false, errNotSent},
		{"configuration_the_refusal", answers{sendErr: config}, false, config},
		{"retry_query_fails_the_query_error", answers{queryErr: errQuery}, true, errQuery},
		{"state_query_fails_the_query_error", answers{sendErr: state, queryErr: errQuery}, false, errQuery},
		{"too_early_to_ask_no_cause", answers{notBefore: later}, true, nil},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var queries, sends, calls int
			var cause error
			call := tt.a.call(&queries, &sends)
			call.Unknown = func(c error) orders.OpOutcome {
				calls++
				cause = c
				return orders.OpOutcome{State: orders.OpUnknown, Result: map[string]string{"sent_at": "t"}}
			}
			out := decide(context.Background(), log, &alipay.Credentials{}, call, tt.retried, time.Now)
			if out.State != orders.OpUnknown || out.Result["sent_at"] != "t" || calls != 1 {
				t.Fatalf("outcome %+v after %d Unknown calls", out, calls)
			}
			if (tt.wantCause == nil) != (cause == nil) || (tt.wantCause != nil && !errors.Is(cause, tt.wantCause)) {
				t.Fatalf("cause %v, want %v", cause, tt.wantCause)
			}
		})
	}
}

// Each gateway call gets at most Timeout, and none is made once the lease's budget is
// spent.
func TestRunBoundsEachCall(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	t.Run("each_call_within_its_timeout", func(t *testing.T) {
		var queries, sends int
		var left time.Duration
		call := answers{query: paid}.call(&queries, &sends)
		query := call.Query
		call.Query = func(ctx context.Context, c *alipay.Credentials) (*orders.OpOutcome, error) {
			dl, _ := ctx.Deadline()
			left = time.Until(dl)
			return query(ctx, c)
		}
		call.Timeout = 50 * time.Millisecond
		l := Lease{Until: now.Add(time.Minute), Margin: time.Second}
		out, err := Run(context.Background(), log, &recorder{}, nil, call, l, true, clock)
		if err != nil || out.State != orders.OpSucceeded || left <= 0 || left > call.Timeout {
			t.Fatalf("out %s err %v, query had %v", out.State, err, left)
		}
	})
	t.Run("budget_spent_by_the_send_no_query_after_its_state_refusal", func(t *testing.T) {
		var queries, sends int
		var cause error
		call := answers{sendErr: state, query: paid}.call(&queries, &sends)
		call.Send = func(ctx context.Context, _ *alipay.Credentials) (*orders.OpOutcome, error) {
			sends++
			<-ctx.Done() // Alipay answers as the budget ends
			return nil, state
		}
		call.Unknown = func(c error) orders.OpOutcome { cause = c; return orders.OpOutcome{State: orders.OpUnknown} }
		l := Lease{Until: now.Add(time.Second + 20*time.Millisecond), Margin: time.Second}
		r := &recorder{}
		out, err := Run(context.Background(), log, r, nil, call, l, false, clock)
		if err != nil || out.State != orders.OpUnknown || sends != 1 || queries != 0 || !errors.Is(cause, ErrNoTimeLeft) || r.calls != 1 {
			t.Fatalf("out %s err %v after %d sends, %d queries, cause %v", out.State, err, sends, queries, cause)
		}
	})
	t.Run("no_budget_unknown_is_the_calls_own", func(t *testing.T) {
		var queries, sends int
		var cause error
		call := answers{send: paid}.call(&queries, &sends)
		call.Unknown = func(c error) orders.OpOutcome {
			cause = c
			return orders.OpOutcome{State: orders.OpUnknown, Result: map[string]string{"sent_at": "t"}}
		}
		r := &recorder{}
		l := Lease{Until: now.Add(time.Second), Margin: 2 * time.Second}
		out, err := Run(context.Background(), log, r, nil, call, l, false, clock)
		if err != nil || sends != 0 || out.Result["sent_at"] != "t" || r.out.Result["sent_at"] != "t" || !errors.Is(cause, ErrNoTimeLeft) {
			t.Fatalf("out %+v err %v sends %d cause %v", out, err, sends, cause)
		}
	})
}
