// Package storetest is the conformance suite every orders.Store must pass. The memory
// store runs it in package orders' tests; the DynamoDB store runs it against dynalite.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
)

// t0 is the suite's clock; every time is derived from it so runs are deterministic.
var t0 = time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)

const (
	orderAmount alipay.Amount = 900   // app pay: 9.00
	freezeAmt   alipay.Amount = 10000 // pre-auth: 100.00
	owner                     = "caller-1"
	tradeKey                  = "70501111111S001111119"
	preAuthKey                = "8077735255938023"
	agreementNo               = "test20190701"
)

// Run runs the whole suite; newStore must return an empty store for each call.
func Run(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("app_pay_create", func(t *testing.T) { testAppPayCreate(t, newStore) })
	t.Run("voucher_lease", func(t *testing.T) { testVoucherLease(t, newStore) })
	t.Run("trade_transitions", func(t *testing.T) { testTradeTransitions(t, newStore) })
	t.Run("pre_auth_transitions", func(t *testing.T) { testPreAuthTransitions(t, newStore) })
	t.Run("agreement_transitions", func(t *testing.T) { testAgreementTransitions(t, newStore) })
	t.Run("notifications", func(t *testing.T) { testNotifications(t, newStore) })
	t.Run("refunds", func(t *testing.T) { testRefunds(t, newStore) })
	t.Run("fund_auth_snapshot", func(t *testing.T) { testFundAuthSnapshot(t, newStore) })
	t.Run("racing_notifications", func(t *testing.T) { testRacing(t, newStore) })
	t.Run("operations", func(t *testing.T) { testOperations(t, newStore) })
	t.Run("trade_no_binding", func(t *testing.T) { testTradeNoBinding(t, newStore) })
	t.Run("paid_amounts", func(t *testing.T) { testPaidAmounts(t, newStore) })
	t.Run("app_pay_lifecycle", func(t *testing.T) { testAppPayLifecycle(t, newStore) })
	t.Run("due", func(t *testing.T) { testDue(t, newStore) })
	t.Run("settle", func(t *testing.T) { testSettle(t, newStore) })
	t.Run("agreement_charges", func(t *testing.T) { testAgreementCharges(t, newStore) })
}

// testPaidAmounts: the order keeps what Alipay reported as paid; a notice whose
// total_amount differs from the order's is ErrInvalid and changes nothing.
func testPaidAmounts(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("paid_notice_records_the_amounts", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		e := trade("paid", orders.TradeSuccess)
		e.TotalAmount, e.ReceiptAmount, e.BuyerPayAmount = orderAmount, orderAmount-100, orderAmount-200
		mustApply(t, applyTrade(t, s), e, orders.Applied)
		o := getTrade(t, s)
		if o.Status != orders.TradeSuccess || o.PaidAmount != orderAmount || o.ReceiptAmount != orderAmount-100 ||
			o.BuyerPayAmount != orderAmount-200 {
			t.Fatalf("order %+v", o)
		}
	})
	t.Run("mismatched_total_amount_changes_nothing", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		before := getTrade(t, s)
		e := trade("cheap", orders.TradeSuccess)
		e.TotalAmount, e.BuyerPayAmount = 1, 1
		if _, err := s.ApplyTrade(context.Background(), e); !errors.Is(err, orders.ErrInvalid) {
			t.Fatalf("ApplyTrade = %v, want ErrInvalid", err)
		}
		if o := getTrade(t, s); o.Status != before.Status || o.PaidAmount != 0 || o.BuyerPayAmount != 0 ||
			!o.PaidAt.IsZero() || slices.Contains(o.NotifyIDs, "cheap") || !o.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("order changed: %+v", o)
		}
		// The genuine payment of the order's amount still applies.
		ok := trade("genuine", orders.TradeSuccess)
		ok.TotalAmount = orderAmount
		mustApply(t, applyTrade(t, s), ok, orders.Applied)
		if o := getTrade(t, s); o.Status != orders.TradeSuccess || o.PaidAmount != orderAmount {
			t.Fatalf("after the genuine payment: %+v", o)
		}
	})
}

// ---- fixtures ----

func appOrder(key, hash string) *orders.AppPayOrder {
	return &orders.AppPayOrder{
		OutTradeNo:  key,
		Owner:       owner,
		ParamsHash:  hash,
		TotalAmount: orderAmount,
		Subject:     "大乐透 2.1",
		ProductCode: "QUICK_MSECURITY_PAY",
		OrderStr:    "app_id=2021000000000001&biz_content=" + hash,
		CreatedAt:   t0,
		ExpiresAt:   t0.Add(72 * time.Hour),
	}
}

func signOrder(key, hash string) *orders.AppPayOrder {
	o := appOrder(key, hash)
	o.ExternalAgreementNo = agreementNo
	o.PersonalProductCode = "CYCLE_PAY_AUTH_P"
	o.SignScene = "INDUSTRY|DIGITAL_MEDIA"
	return o
}

func trade(id string, st orders.TradeStatus) orders.TradeEffect {
	e := orders.TradeEffect{
		NotifyID:    id,
		OutTradeNo:  tradeKey,
		TradeStatus: st,
		TradeNo:     "2025060122001422520500000001",
		BuyerID:     "2088102122524333",
		Now:         t0.Add(time.Minute),
	}
	if st == orders.TradeSuccess || st == orders.TradeFinished {
		e.GmtPayment = t0.Add(10 * time.Second)
	}
	return e
}

func agreementNotice(id string, st orders.AgreementStatus) orders.AgreementEffect {
	return orders.AgreementEffect{
		NotifyID:            id,
		ExternalAgreementNo: agreementNo,
		AgreementNo:         "20255301000000000001",
		Status:              st,
		AlipayUserID:        "2088102122524333",
		Now:                 t0.Add(time.Minute),
	}
}

func begin(req string) orders.VoucherBegin {
	return orders.VoucherBegin{
		OutOrderNo:   preAuthKey,
		OutRequestNo: req,
		Owner:        owner,
		OrderHash:    "order-hash",
		RequestHash:  "request-hash-" + req,
		Amount:       freezeAmt,
		OrderTitle:   "押金",
		PayeeUserID:  "2088102000275795",
		Now:          t0,
		LeaseUntil:   t0.Add(10 * time.Second),
		ExpiresAt:    t0.Add(72 * time.Hour),
	}
}

func issued(now time.Time) orders.VoucherOutcome {
	return orders.VoucherOutcome{State: orders.RequestIssued, CodeType: "QR", CodeValue: "https://qr.alipay.com/abc", CodeURL: "https://qr.alipay.com/abc.png", Now: now}
}

// fund builds a fund-auth notice; rest follows from the totals.
func fund(id, opID, req string, typ orders.OperationType, st orders.OperationStatus, amt, freeze, unfreeze, pay alipay.Amount) orders.FundAuthEffect {
	return orders.FundAuthEffect{
		NotifyID: id, OutOrderNo: preAuthKey, AuthNo: "2025060110002001550500000001",
		OperationID: opID, OutRequestNo: req, OperationType: typ, OperationStatus: st, Amount: amt,
		TotalFreeze: freeze, TotalUnfreeze: unfreeze, TotalPay: pay, Rest: freeze - unfreeze - pay,
		GmtTrans: t0.Add(time.Minute), Now: t0.Add(2 * time.Minute),
	}
}

// The three notices that drive the pre-auth machine in the transition tests, all about
// request r1's freeze F1 and one unfreeze U1, so a late one contradicts or predates state.
func freezeSuccess(id string) orders.FundAuthEffect {
	return fund(id, "F1", "r1", orders.OperationFreeze, orders.OperationSuccess, freezeAmt, freezeAmt, 0, 0)
}

func freezeClosed(id string) orders.FundAuthEffect {
	return fund(id, "F1", "r1", orders.OperationFreeze, orders.OperationClosed, freezeAmt, 0, 0, 0)
}

// unfreezeAll releases everything with nothing captured: the order ends CLOSED (L2.2).
func unfreezeAll(id string) orders.FundAuthEffect {
	return fund(id, "U1", "u1", orders.OperationUnfreeze, orders.OperationSuccess, freezeAmt, freezeAmt, freezeAmt, 0)
}

// unfreezeRest releases the rest after a capture of 30.00: the order ends FINISHED.
func unfreezeRest(id string) orders.FundAuthEffect {
	return fund(id, "U1", "u1", orders.OperationUnfreeze, orders.OperationSuccess, freezeAmt-capturedAmt, freezeAmt, freezeAmt-capturedAmt, capturedAmt)
}

const capturedAmt = alipay.Amount(3000)

func mustCreate(t *testing.T, s orders.Store, o *orders.AppPayOrder) *orders.AppPayOrder {
	t.Helper()
	out, got, err := s.CreateAppPayOrder(t.Context(), o)
	if err != nil || out != orders.Created {
		t.Fatalf("CreateAppPayOrder = %v, %v; want CREATED", out, err)
	}
	return got
}

func mustApply[E any](t *testing.T, apply func(E) (orders.ApplyResult, error), e E, want orders.ApplyResult) {
	t.Helper()
	got, err := apply(e)
	if err != nil {
		t.Fatalf("apply %+v: %v", e, err)
	}
	if got != want {
		t.Fatalf("apply %+v = %s, want %s", e, got, want)
	}
}

func applyTrade(t *testing.T, s orders.Store) func(orders.TradeEffect) (orders.ApplyResult, error) {
	return func(e orders.TradeEffect) (orders.ApplyResult, error) { return s.ApplyTrade(t.Context(), e) }
}

func applyFund(t *testing.T, s orders.Store) func(orders.FundAuthEffect) (orders.ApplyResult, error) {
	return func(e orders.FundAuthEffect) (orders.ApplyResult, error) { return s.ApplyFundAuth(t.Context(), e) }
}

func applyAgreement(t *testing.T, s orders.Store) func(orders.AgreementEffect) (orders.ApplyResult, error) {
	return func(e orders.AgreementEffect) (orders.ApplyResult, error) { return s.ApplyAgreement(t.Context(), e) }
}

func getTrade(t *testing.T, s orders.Store) *orders.AppPayOrder {
	t.Helper()
	o, err := s.GetAppPayOrder(t.Context(), tradeKey)
	if err != nil {
		t.Fatalf("GetAppPayOrder: %v", err)
	}
	return o
}

func getPreAuth(t *testing.T, s orders.Store) *orders.PreAuthOrder {
	t.Helper()
	o, err := s.GetPreAuthOrder(t.Context(), preAuthKey)
	if err != nil {
		t.Fatalf("GetPreAuthOrder: %v", err)
	}
	return o
}

func getAgreement(t *testing.T, s orders.Store) *orders.Agreement {
	t.Helper()
	a, err := s.GetAgreement(t.Context(), agreementNo)
	if err != nil {
		t.Fatalf("GetAgreement: %v", err)
	}
	return a
}

func mustBegin(t *testing.T, s orders.Store, b orders.VoucherBegin, want orders.BeginOutcome) orders.VoucherBeginResult {
	t.Helper()
	r, err := s.BeginVoucher(t.Context(), b)
	if err != nil {
		t.Fatalf("BeginVoucher(%s, now %s): %v", b.OutRequestNo, b.Now, err)
	}
	if r.Outcome != want {
		t.Fatalf("BeginVoucher(%s, now %s) = %+v, want %s", b.OutRequestNo, b.Now, r, want)
	}
	return r
}

func mustComplete(t *testing.T, s orders.Store, req, token string, out orders.VoucherOutcome) {
	t.Helper()
	if err := s.CompleteVoucher(t.Context(), preAuthKey, req, token, out); err != nil {
		t.Fatalf("CompleteVoucher(%s): %v", req, err)
	}
}

// reachPreAuth brings a new pre-auth order to status via real events.
func reachPreAuth(t *testing.T, s orders.Store, status orders.PreAuthStatus) {
	t.Helper()
	r := mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
	steps := map[orders.PreAuthStatus][]orders.FundAuthEffect{
		orders.PreAuthAuthorized: {freezeSuccess("setup-freeze")},
		orders.PreAuthFinished:   {freezeSuccess("setup-freeze"), unfreezeRest("setup-unfreeze")},
		orders.PreAuthClosed:     {freezeClosed("setup-close")},
	}
	if status != orders.PreAuthCreated {
		mustComplete(t, s, "r1", r.Token, issued(t0.Add(time.Second)))
	}
	for _, e := range steps[status] {
		mustApply(t, applyFund(t, s), e, orders.Applied)
	}
	if got := getPreAuth(t, s).Status; got != status {
		t.Fatalf("setup reached %s, want %s", got, status)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ---- app-pay create ----

func testAppPayCreate(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("creates_then_replays_same_params", func(t *testing.T) {
		s := newStore(t)
		got := mustCreate(t, s, appOrder(tradeKey, "h1"))
		if got.Status != orders.TradeCreated || got.OrderStr == "" || got.TotalAmount != orderAmount {
			t.Fatalf("created order = %+v", got)
		}
		retry := appOrder(tradeKey, "h1")
		retry.OrderStr = "a freshly signed string that must not replace the stored reply"
		out, replay, err := s.CreateAppPayOrder(t.Context(), retry)
		if err != nil || out != orders.Replayed {
			t.Fatalf("retry = %v, %v; want REPLAYED", out, err)
		}
		if replay.OrderStr != got.OrderStr {
			t.Fatalf("replayed order_str %q, want the stored %q", replay.OrderStr, got.OrderStr)
		}
		stored := getTrade(t, s)
		if !stored.CreatedAt.Equal(t0) || !stored.ExpiresAt.Equal(t0.Add(72*time.Hour)) || stored.Owner != owner {
			t.Fatalf("stored order = %+v", stored)
		}
	})
	t.Run("conflicts_on_other_params_or_owner", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		other := appOrder(tradeKey, "h1")
		other.Owner = "caller-2"
		for name, o := range map[string]*orders.AppPayOrder{"params": appOrder(tradeKey, "h2"), "owner": other} {
			out, got, err := s.CreateAppPayOrder(t.Context(), o)
			if err != nil || out != orders.Conflict || got != nil {
				t.Errorf("%s: = %v, %v, %v; want CONFLICT and no order", name, out, got, err)
			}
		}
		if got := getTrade(t, s); got.ParamsHash != "h1" {
			t.Fatalf("stored params hash %q changed", got.ParamsHash)
		}
	})
	t.Run("rejects_invalid_orders", func(t *testing.T) {
		s := newStore(t)
		cases := map[string]func(o *orders.AppPayOrder){
			"empty_out_trade_no": func(o *orders.AppPayOrder) { o.OutTradeNo = "" },
			"empty_owner":        func(o *orders.AppPayOrder) { o.Owner = "" },
			"empty_params_hash":  func(o *orders.AppPayOrder) { o.ParamsHash = "" },
			"zero_amount":        func(o *orders.AppPayOrder) { o.TotalAmount = 0 },
			"zero_created_at":    func(o *orders.AppPayOrder) { o.CreatedAt = time.Time{} },
		}
		for name, mutate := range cases {
			o := appOrder(tradeKey, "h1")
			mutate(o)
			if _, _, err := s.CreateAppPayOrder(t.Context(), o); !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			}
		}
		if _, err := s.GetAppPayOrder(t.Context(), tradeKey); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("an invalid create wrote an order: %v", err)
		}
	})
	t.Run("unknown_order_is_not_found", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetAppPayOrder(t.Context(), "nope"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("GetAppPayOrder err = %v", err)
		}
		if _, err := s.GetPreAuthOrder(t.Context(), "nope"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("GetPreAuthOrder err = %v", err)
		}
		if _, err := s.GetAgreement(t.Context(), "nope"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("GetAgreement err = %v", err)
		}
	})
	t.Run("returns_copies", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeSuccess), orders.Applied)
		o := getTrade(t, s)
		o.Status, o.NotifyIDs[0] = orders.TradeClosed, "changed"
		if again := getTrade(t, s); again.Status != orders.TradeSuccess || again.NotifyIDs[0] != "n1" {
			t.Fatalf("caller's change leaked into the store: %+v", again)
		}
		reachPreAuth(t, s, orders.PreAuthAuthorized)
		p := getPreAuth(t, s)
		p.Requests["r1"] = orders.VoucherRequest{State: orders.RequestUnknown}
		delete(p.Operations, "F1")
		if again := getPreAuth(t, s); again.Requests["r1"].State != orders.RequestIssued || len(again.Operations) != 1 {
			t.Fatalf("caller's change leaked into the store: %+v", again)
		}
	})
	t.Run("concurrent_creates_one_wins", func(t *testing.T) {
		s := newStore(t)
		const n = 50
		outs := make([]orders.CreateOutcome, n)
		strs := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				var o *orders.AppPayOrder
				outs[i], o, errs[i] = s.CreateAppPayOrder(t.Context(), appOrder(tradeKey, fmt.Sprintf("h%d", i%2)))
				if o != nil {
					strs[i] = o.OrderStr
				}
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("create %d: %v", i, errs[i])
			}
			if outs[i] == orders.Created {
				if winner >= 0 {
					t.Fatalf("creates %d and %d both CREATED", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no create was CREATED")
		}
		for i := range n {
			want := orders.Conflict
			if i == winner {
				want = orders.Created
			} else if i%2 == winner%2 {
				want = orders.Replayed
			}
			if outs[i] != want {
				t.Errorf("create %d (params h%d, winner h%d) = %s, want %s", i, i%2, winner%2, outs[i], want)
			}
			if want != orders.Conflict && strs[i] != strs[winner] {
				t.Errorf("create %d got order_str %q, want the winner's %q", i, strs[i], strs[winner])
			}
		}
		if got := getTrade(t, s); got.ParamsHash != fmt.Sprintf("h%d", winner%2) {
			t.Fatalf("stored params %q are not the winner's", got.ParamsHash)
		}
	})
	t.Run("creates_pending_agreement", func(t *testing.T) {
		s := newStore(t)
		got := mustCreate(t, s, signOrder(tradeKey, "h1"))
		if got.AgreementStatus != orders.AgreementPending {
			t.Fatalf("order agreement status %q", got.AgreementStatus)
		}
		a := getAgreement(t, s)
		if a.OutTradeNo != tradeKey || a.Status != orders.AgreementPending || a.PersonalProductCode != "CYCLE_PAY_AUTH_P" || a.SignScene != "INDUSTRY|DIGITAL_MEDIA" {
			t.Fatalf("agreement = %+v", a)
		}
		out, replay, err := s.CreateAppPayOrder(t.Context(), signOrder(tradeKey, "h1"))
		if err != nil || out != orders.Replayed || replay.AgreementStatus != orders.AgreementPending {
			t.Fatalf("replay = %v, %+v, %v", out, replay, err)
		}
	})
	t.Run("agreement_of_another_order_conflicts", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, signOrder(tradeKey, "h1"))
		out, got, err := s.CreateAppPayOrder(t.Context(), signOrder("another-order", "h9"))
		if err != nil || out != orders.Conflict || got != nil {
			t.Fatalf("= %v, %v, %v; want CONFLICT", out, got, err)
		}
		if a := getAgreement(t, s); a.OutTradeNo != tradeKey {
			t.Fatalf("agreement moved to %q", a.OutTradeNo)
		}
	})
}

// ---- voucher leases ----

func testVoucherLease(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("acquires_new_order", func(t *testing.T) {
		s := newStore(t)
		r := mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		if r.Token == "" || !r.LeaseUntil.Equal(t0.Add(10*time.Second)) || r.Status != orders.PreAuthCreated {
			t.Fatalf("result = %+v", r)
		}
		o := getPreAuth(t, s)
		req := o.Requests["r1"]
		if o.Status != orders.PreAuthCreated || o.Amount != freezeAmt || o.Owner != owner || req.State != orders.RequestInProgress || !req.LeaseUntil.Equal(r.LeaseUntil) {
			t.Fatalf("stored = %+v", o)
		}
	})
	t.Run("in_progress_while_lease_held", func(t *testing.T) {
		s := newStore(t)
		mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		b := begin("r1")
		b.Now, b.LeaseUntil = t0.Add(9*time.Second), t0.Add(30*time.Second)
		r := mustBegin(t, s, b, orders.VoucherInProgress)
		if !r.LeaseUntil.Equal(t0.Add(10 * time.Second)) {
			t.Fatalf("in-progress lease_until %s, want the holder's", r.LeaseUntil)
		}
	})
	t.Run("expired_lease_is_taken_over", func(t *testing.T) {
		s := newStore(t)
		first := mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		b := begin("r1")
		b.Now, b.LeaseUntil = t0.Add(10*time.Second), t0.Add(20*time.Second)
		second := mustBegin(t, s, b, orders.VoucherAcquired)
		if second.Token == first.Token {
			t.Fatal("takeover reused the expired token")
		}
		err := s.CompleteVoucher(t.Context(), preAuthKey, "r1", first.Token, issued(b.Now))
		if !errors.Is(err, orders.ErrLeaseLost) {
			t.Fatalf("complete with the expired token: %v, want ErrLeaseLost", err)
		}
		mustComplete(t, s, "r1", second.Token, issued(b.Now))
		if st := getPreAuth(t, s).Requests["r1"].State; st != orders.RequestIssued {
			t.Fatalf("request state %s", st)
		}
	})
	t.Run("wrong_token_loses_lease", func(t *testing.T) {
		s := newStore(t)
		mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		err := s.CompleteVoucher(t.Context(), preAuthKey, "r1", "not-the-token", issued(t0))
		if !errors.Is(err, orders.ErrLeaseLost) {
			t.Fatalf("err = %v, want ErrLeaseLost", err)
		}
		if st := getPreAuth(t, s).Requests["r1"].State; st != orders.RequestInProgress {
			t.Fatalf("request state %s changed", st)
		}
	})
	t.Run("rejects_zero_or_past_lease", func(t *testing.T) {
		s := newStore(t)
		for name, lease := range map[string]time.Time{"zero": {}, "now": t0, "past": t0.Add(-time.Second)} {
			b := begin("r1")
			b.LeaseUntil = lease
			if _, err := s.BeginVoucher(t.Context(), b); !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("%s lease: err = %v, want ErrInvalid", name, err)
			}
		}
		b := begin("r1")
		b.Now = time.Time{}
		if _, err := s.BeginVoucher(t.Context(), b); !errors.Is(err, orders.ErrInvalid) {
			t.Errorf("zero now: err = %v, want ErrInvalid", err)
		}
		if _, err := s.GetPreAuthOrder(t.Context(), preAuthKey); !errors.Is(err, orders.ErrNotFound) {
			t.Fatalf("a rejected begin wrote an order: %v", err)
		}
	})
	t.Run("issued_is_replayed_and_issues_code", func(t *testing.T) {
		s := newStore(t)
		r := mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		mustComplete(t, s, "r1", r.Token, issued(t0.Add(time.Second)))
		if st := getPreAuth(t, s).Status; st != orders.PreAuthCodeIssued {
			t.Fatalf("status %s, want CODE_ISSUED", st)
		}
		b := begin("r1")
		b.Now, b.LeaseUntil = t0.Add(time.Hour), t0.Add(time.Hour+10*time.Second)
		rep := mustBegin(t, s, b, orders.VoucherReplay)
		want := issued(t0)
		if rep.Request.State != orders.RequestIssued || rep.Request.CodeValue != want.CodeValue || rep.Request.CodeURL != want.CodeURL || rep.Request.CodeType != want.CodeType {
			t.Fatalf("replay = %+v", rep.Request)
		}
		// The same completion again (a retry after a lost reply) is harmless; another is not.
		mustComplete(t, s, "r1", r.Token, issued(t0.Add(2*time.Second)))
		other := issued(t0)
		other.CodeValue = "https://qr.alipay.com/other"
		if err := s.CompleteVoucher(t.Context(), preAuthKey, "r1", r.Token, other); !errors.Is(err, orders.ErrLeaseLost) {
			t.Fatalf("a different completion: %v, want ErrLeaseLost", err)
		}
	})
	t.Run("business_error_is_replayed", func(t *testing.T) {
		s := newStore(t)
		r := mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		mustComplete(t, s, "r1", r.Token, orders.VoucherOutcome{State: orders.RequestBusinessError, Code: "40004", SubCode: "ACQ.PAYEE_NOT_EXIST", SubMsg: "收款方不存在", Now: t0})
		rep := mustBegin(t, s, begin("r1"), orders.VoucherReplay)
		if rep.Request.State != orders.RequestBusinessError || rep.Request.SubCode != "ACQ.PAYEE_NOT_EXIST" || rep.Request.SubMsg != "收款方不存在" || rep.Request.Code != "40004" {
			t.Fatalf("replay = %+v", rep.Request)
		}
		if st := getPreAuth(t, s).Status; st != orders.PreAuthCreated {
			t.Fatalf("status %s, want CREATED", st)
		}
	})
	t.Run("unknown_outcome_is_retried", func(t *testing.T) {
		s := newStore(t)
		first := mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		mustComplete(t, s, "r1", first.Token, orders.VoucherOutcome{State: orders.RequestUnknown, Now: t0.Add(time.Second)})
		b := begin("r1")
		b.Now, b.LeaseUntil = t0.Add(2*time.Second), t0.Add(12*time.Second)
		retry := mustBegin(t, s, b, orders.VoucherAcquired)
		if retry.Token == first.Token {
			t.Fatal("retry reused the old token")
		}
		mustComplete(t, s, "r1", retry.Token, issued(b.Now))
		mustBegin(t, s, begin("r1"), orders.VoucherReplay)
	})
	t.Run("other_params_conflict", func(t *testing.T) {
		s := newStore(t)
		mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		cases := map[string]func(b *orders.VoucherBegin){
			"order_params":   func(b *orders.VoucherBegin) { b.OrderHash = "other" },
			"request_params": func(b *orders.VoucherBegin) { b.RequestHash = "other" },
			"owner":          func(b *orders.VoucherBegin) { b.Owner = "caller-2" },
			"new_request_other_order_params": func(b *orders.VoucherBegin) {
				b.OutRequestNo, b.RequestHash, b.OrderHash = "r2", "request-hash-r2", "other"
			},
		}
		for name, mutate := range cases {
			b := begin("r1")
			mutate(&b)
			if r, err := s.BeginVoucher(t.Context(), b); err != nil || r.Outcome != orders.VoucherConflict {
				t.Errorf("%s: = %+v, %v; want CONFLICT", name, r, err)
			}
		}
	})
	t.Run("new_request_issues_fresh_voucher_until_authorized", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		b := begin("r2")
		b.Now, b.LeaseUntil = t0.Add(time.Hour), t0.Add(time.Hour+10*time.Second)
		r := mustBegin(t, s, b, orders.VoucherAcquired)
		mustComplete(t, s, "r2", r.Token, issued(b.Now))
		o := getPreAuth(t, s)
		if len(o.Requests) != 2 || o.LatestRequest != "r2" || o.Status != orders.PreAuthCodeIssued {
			t.Fatalf("order = %+v", o)
		}
	})
	t.Run("new_request_after_authorization_refused", func(t *testing.T) {
		for _, st := range []orders.PreAuthStatus{orders.PreAuthAuthorized, orders.PreAuthFinished} {
			s := newStore(t)
			reachPreAuth(t, s, st)
			mustBegin(t, s, begin("r2"), orders.VoucherAlreadyAuthorized)
			if len(getPreAuth(t, s).Requests) != 1 {
				t.Fatalf("%s: a refused request was stored", st)
			}
		}
	})
	t.Run("new_request_after_close_refused", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthClosed)
		mustBegin(t, s, begin("r2"), orders.VoucherOrderClosed)
	})
	t.Run("late_issue_keeps_authorized_status", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		r2 := mustBegin(t, s, begin("r2"), orders.VoucherAcquired)
		mustApply(t, applyFund(t, s), freezeSuccess("n-freeze"), orders.Applied)
		mustComplete(t, s, "r2", r2.Token, issued(t0.Add(3*time.Minute)))
		o := getPreAuth(t, s)
		if o.Status != orders.PreAuthAuthorized || o.Requests["r2"].State != orders.RequestIssued {
			t.Fatalf("order = %+v", o)
		}
	})
	t.Run("unknown_order_or_request_not_found", func(t *testing.T) {
		s := newStore(t)
		if err := s.CompleteVoucher(t.Context(), preAuthKey, "r1", "tok", issued(t0)); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("unknown order: %v", err)
		}
		mustBegin(t, s, begin("r1"), orders.VoucherAcquired)
		if err := s.CompleteVoucher(t.Context(), preAuthKey, "r9", "tok", issued(t0)); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("unknown request: %v", err)
		}
	})
	t.Run("request_count_is_bounded", func(t *testing.T) {
		s := newStore(t)
		for i := range orders.MaxVoucherRequests {
			mustBegin(t, s, begin(fmt.Sprintf("r%d", i)), orders.VoucherAcquired)
		}
		if _, err := s.BeginVoucher(t.Context(), begin("one-too-many")); !errors.Is(err, orders.ErrLimit) {
			t.Fatalf("err = %v, want ErrLimit", err)
		}
	})
	t.Run("concurrent_begins_one_acquires", func(t *testing.T) {
		s := newStore(t)
		const n = 50
		res := make([]orders.VoucherBeginResult, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				res[i], errs[i] = s.BeginVoucher(t.Context(), begin("r1"))
			})
		}
		close(start)
		wg.Wait()
		var token string
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("begin %d: %v", i, errs[i])
			}
			switch res[i].Outcome {
			case orders.VoucherAcquired:
				if token != "" {
					t.Fatal("two callers acquired the same lease")
				}
				token = res[i].Token
			case orders.VoucherInProgress:
			default:
				t.Fatalf("begin %d = %s", i, res[i].Outcome)
			}
		}
		if token == "" {
			t.Fatal("nobody acquired the lease")
		}
		mustComplete(t, s, "r1", token, issued(t0))
	})
}

// ---- transitions, table-driven from the machines ----

func testTradeTransitions(t *testing.T, newStore func(t *testing.T) orders.Store) {
	for _, from := range orders.TradeMachine.States() {
		for _, to := range orders.TradeMachine.States() {
			if to == orders.TradeCreated {
				continue // not a notified status
			}
			allowed := orders.TradeMachine.Allowed(from, to)
			t.Run(fmt.Sprintf("%s_to_%s", from, to), func(t *testing.T) {
				s := newStore(t)
				mustCreate(t, s, appOrder(tradeKey, "h1"))
				if from != orders.TradeCreated {
					mustApply(t, applyTrade(t, s), trade("setup", from), orders.Applied)
				}
				before := getTrade(t, s)
				if !allowed {
					mustApply(t, applyTrade(t, s), trade("event", to), orders.Stale)
					if after := getTrade(t, s); !reflect.DeepEqual(after, before) {
						t.Fatalf("a stale notice changed the order:\nbefore %+v\nafter  %+v", before, after)
					}
					return
				}
				mustApply(t, applyTrade(t, s), trade("event", to), orders.Applied)
				after := getTrade(t, s)
				if after.Status != to || after.TradeNo == "" || !slices.Contains(after.NotifyIDs, "event") {
					t.Fatalf("after = %+v", after)
				}
				paid := to == orders.TradeSuccess || to == orders.TradeFinished || from == orders.TradeSuccess
				if paid != !after.PaidAt.IsZero() || paid != after.ExpiresAt.IsZero() {
					t.Fatalf("paid=%v but paid_at %s, expires_at %s", paid, after.PaidAt, after.ExpiresAt)
				}
			})
		}
	}
}

func testPreAuthTransitions(t *testing.T, newStore func(t *testing.T) orders.Store) {
	// CLOSED is reached by a voucher closed unpaid, or, once authorized, by everything
	// unfrozen without a capture (L2.2); FINISHED by the rest unfrozen after a capture.
	notice := func(from, to orders.PreAuthStatus) func(id string) orders.FundAuthEffect {
		switch {
		case to == orders.PreAuthAuthorized:
			return freezeSuccess
		case to == orders.PreAuthFinished:
			return unfreezeRest
		case from == orders.PreAuthAuthorized || from == orders.PreAuthFinished:
			return unfreezeAll
		}
		return freezeClosed
	}
	notices := map[orders.PreAuthStatus]bool{orders.PreAuthAuthorized: true, orders.PreAuthFinished: true, orders.PreAuthClosed: true}
	// Every allowed move is driven by a notice here, except CODE_ISSUED (a completed
	// voucher; see voucher_lease): keep the table and this test in step.
	for _, from := range orders.PreAuthMachine.States() {
		for _, to := range orders.PreAuthMachine.States() {
			if orders.PreAuthMachine.Allowed(from, to) && !notices[to] && to != orders.PreAuthCodeIssued {
				t.Errorf("allowed move %s → %s has no notice in this test", from, to)
			}
		}
	}
	for _, from := range orders.PreAuthMachine.States() {
		for _, to := range []orders.PreAuthStatus{orders.PreAuthAuthorized, orders.PreAuthFinished, orders.PreAuthClosed} {
			allowed := orders.PreAuthMachine.Allowed(from, to)
			t.Run(fmt.Sprintf("%s_to_%s", from, to), func(t *testing.T) {
				s := newStore(t)
				reachPreAuth(t, s, from)
				before := getPreAuth(t, s)
				if !allowed {
					mustApply(t, applyFund(t, s), notice(from, to)("event"), orders.Stale)
					if after := getPreAuth(t, s); !reflect.DeepEqual(after, before) {
						t.Fatalf("a stale notice changed the order:\nbefore %+v\nafter  %+v", before, after)
					}
					return
				}
				mustApply(t, applyFund(t, s), notice(from, to)("event"), orders.Applied)
				after := getPreAuth(t, s)
				if after.Status != to || !slices.Contains(after.NotifyIDs, "event") {
					t.Fatalf("after = %+v", after)
				}
				if frozen := to != orders.PreAuthClosed || from == orders.PreAuthAuthorized; frozen != after.ExpiresAt.IsZero() {
					t.Fatalf("status %s with expires_at %s", to, after.ExpiresAt)
				}
			})
		}
	}
}

func testAgreementTransitions(t *testing.T, newStore func(t *testing.T) orders.Store) {
	for _, from := range orders.AgreementMachine.States() {
		for _, to := range orders.AgreementMachine.States() {
			if to == orders.AgreementPending {
				continue // not a notified status
			}
			allowed := orders.AgreementMachine.Allowed(from, to)
			t.Run(fmt.Sprintf("%s_to_%s", from, to), func(t *testing.T) {
				s := newStore(t)
				mustCreate(t, s, signOrder(tradeKey, "h1"))
				if from != orders.AgreementPending {
					mustApply(t, applyAgreement(t, s), agreementNotice("setup", from), orders.Applied)
				}
				before := getAgreement(t, s)
				if !allowed {
					mustApply(t, applyAgreement(t, s), agreementNotice("event", to), orders.Stale)
					if after := getAgreement(t, s); !reflect.DeepEqual(after, before) {
						t.Fatalf("a stale notice changed the agreement:\nbefore %+v\nafter  %+v", before, after)
					}
					return
				}
				mustApply(t, applyAgreement(t, s), agreementNotice("event", to), orders.Applied)
				a := getAgreement(t, s)
				if a.Status != to || a.AgreementNo == "" || a.AlipayUserID == "" || !a.ExpiresAt.IsZero() {
					t.Fatalf("agreement = %+v", a)
				}
				if o := getTrade(t, s); o.AgreementStatus != to || o.AgreementNo != a.AgreementNo {
					t.Fatalf("order shows agreement %s/%s, want %s/%s", o.AgreementStatus, o.AgreementNo, to, a.AgreementNo)
				}
			})
		}
	}
}

// ---- duplicates, unknown orders, invalid notices ----

func testNotifications(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("duplicate_notify_id_changes_nothing", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, signOrder(tradeKey, "h1"))
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeSuccess), orders.Applied)
		before := getTrade(t, s)
		// A redelivery carries the same notify_id; even a later status under it is not re-applied.
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeSuccess), orders.Duplicate)
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeFinished), orders.Duplicate)
		if after := getTrade(t, s); !reflect.DeepEqual(after, before) {
			t.Fatalf("duplicate changed the order:\nbefore %+v\nafter  %+v", before, after)
		}

		mustApply(t, applyAgreement(t, s), agreementNotice("a1", orders.AgreementNormal), orders.Applied)
		beforeA := getAgreement(t, s)
		mustApply(t, applyAgreement(t, s), agreementNotice("a1", orders.AgreementNormal), orders.Duplicate)
		if after := getAgreement(t, s); !reflect.DeepEqual(after, beforeA) {
			t.Fatalf("duplicate changed the agreement")
		}

		reachPreAuth(t, s, orders.PreAuthAuthorized)
		beforeP := getPreAuth(t, s)
		mustApply(t, applyFund(t, s), freezeSuccess("setup-freeze"), orders.Duplicate)
		if after := getPreAuth(t, s); !reflect.DeepEqual(after, beforeP) {
			t.Fatalf("duplicate changed the pre-auth order")
		}
	})
	t.Run("unknown_order_is_not_found", func(t *testing.T) {
		s := newStore(t)
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeSuccess), orders.NotFound)
		mustApply(t, applyFund(t, s), freezeSuccess("n2"), orders.NotFound)
		mustApply(t, applyAgreement(t, s), agreementNotice("n3", orders.AgreementNormal), orders.NotFound)
		mustCreate(t, s, appOrder(tradeKey, "h1")) // an order without agreement
		mustApply(t, applyAgreement(t, s), agreementNotice("n3", orders.AgreementNormal), orders.NotFound)
	})
	t.Run("invalid_notices_rejected", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		tradeCases := map[string]func(e *orders.TradeEffect){
			"empty_notify_id":  func(e *orders.TradeEffect) { e.NotifyID = "" },
			"empty_trade_no":   func(e *orders.TradeEffect) { e.TradeNo = "" },
			"status_created":   func(e *orders.TradeEffect) { e.TradeStatus = orders.TradeCreated },
			"status_unknown":   func(e *orders.TradeEffect) { e.TradeStatus = "TRADE_PENDING" },
			"negative_refund":  func(e *orders.TradeEffect) { e.RefundFee = -1 },
			"refund_over_paid": func(e *orders.TradeEffect) { e.RefundFee = orderAmount + 1 },
			"zero_now":         func(e *orders.TradeEffect) { e.Now = time.Time{} },
		}
		for name, mutate := range tradeCases {
			e := trade("n1", orders.TradeSuccess)
			mutate(&e)
			if _, err := s.ApplyTrade(t.Context(), e); !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("trade %s: err = %v, want ErrInvalid", name, err)
			}
		}
		fundCases := map[string]func(e *orders.FundAuthEffect){
			"empty_operation_id": func(e *orders.FundAuthEffect) { e.OperationID = "" },
			"unknown_type":       func(e *orders.FundAuthEffect) { e.OperationType = "REFUND" },
			"unknown_status":     func(e *orders.FundAuthEffect) { e.OperationStatus = "DONE" },
			"rest_mismatch":      func(e *orders.FundAuthEffect) { e.Rest-- },
			"negative_amount":    func(e *orders.FundAuthEffect) { e.Amount = -1 },
		}
		for name, mutate := range fundCases {
			e := freezeSuccess("n2")
			mutate(&e)
			if _, err := s.ApplyFundAuth(t.Context(), e); !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("fund-auth %s: err = %v, want ErrInvalid", name, err)
			}
		}
		for name, st := range map[string]orders.AgreementStatus{"pending": orders.AgreementPending, "unknown": "STOPPED"} {
			if _, err := s.ApplyAgreement(t.Context(), agreementNotice("n3", st)); !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("agreement %s: err = %v, want ErrInvalid", name, err)
			}
		}
		if o := getTrade(t, s); o.Status != orders.TradeCreated || len(o.NotifyIDs) != 0 {
			t.Fatalf("a rejected notice changed the order: %+v", o)
		}
		if o := getPreAuth(t, s); o.Status != orders.PreAuthCodeIssued || len(o.Operations) != 0 {
			t.Fatalf("a rejected notice changed the pre-auth order: %+v", o)
		}
	})
	t.Run("receipts_are_bounded", func(t *testing.T) {
		s := newStore(t)
		o := appOrder(tradeKey, "h1")
		o.TotalAmount = alipay.MaxAmount
		mustCreate(t, s, o)
		const n = orders.MaxReceipts + 5
		for i := range n {
			e := trade(fmt.Sprintf("n%03d", i), orders.TradeSuccess)
			e.RefundFee = alipay.Amount(i) // cumulative refunds: each notice is news
			mustApply(t, applyTrade(t, s), e, orders.Applied)
		}
		got := getTrade(t, s)
		if len(got.NotifyIDs) != orders.MaxReceipts || got.NotifyIDs[0] != "n005" || got.NotifyIDs[len(got.NotifyIDs)-1] != fmt.Sprintf("n%03d", n-1) {
			t.Fatalf("receipts: %d kept, first %s", len(got.NotifyIDs), got.NotifyIDs[0])
		}
		// An evicted notice is still harmless: its effect is older than the state.
		e := trade("n000", orders.TradeSuccess)
		mustApply(t, applyTrade(t, s), e, orders.Stale)
	})
}

// ---- money rules ----

func testRefunds(t *testing.T, newStore func(t *testing.T) orders.Store) {
	refund := func(id string, st orders.TradeStatus, fee alipay.Amount) orders.TradeEffect {
		e := trade(id, st)
		e.RefundFee = fee
		e.Now = t0.Add(24 * time.Hour)
		return e
	}
	t.Run("partial_refund_is_not_a_second_payment", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustApply(t, applyTrade(t, s), trade("paid", orders.TradeSuccess), orders.Applied)
		paid := getTrade(t, s)
		mustApply(t, applyTrade(t, s), refund("refund-1", orders.TradeSuccess, 300), orders.Applied)
		got := getTrade(t, s)
		if got.Status != orders.TradeSuccess || got.RefundFee != 300 || !got.PaidAt.Equal(paid.PaidAt) || !got.PaidAt.Equal(t0.Add(10*time.Second)) {
			t.Fatalf("after refund: %+v", got)
		}
		mustApply(t, applyTrade(t, s), refund("refund-0", orders.TradeSuccess, 100), orders.Stale)
		mustApply(t, applyTrade(t, s), refund("refund-2", orders.TradeClosed, orderAmount), orders.Applied)
		if got := getTrade(t, s); got.Status != orders.TradeClosed || got.RefundFee != orderAmount {
			t.Fatalf("after full refund: %+v", got)
		}
	})
	t.Run("late_refund_after_finished_is_recorded", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustApply(t, applyTrade(t, s), trade("finished", orders.TradeFinished), orders.Applied)
		mustApply(t, applyTrade(t, s), refund("refund-1", orders.TradeSuccess, 300), orders.Applied)
		if got := getTrade(t, s); got.Status != orders.TradeFinished || got.RefundFee != 300 {
			t.Fatalf("after late refund: %+v", got)
		}
	})
	t.Run("finished_first_records_payment", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		e := trade("finished", orders.TradeFinished)
		e.GmtPayment = time.Time{}
		mustApply(t, applyTrade(t, s), e, orders.Applied)
		got := getTrade(t, s)
		if got.Status != orders.TradeFinished || got.TradeNo == "" || got.BuyerID == "" || !got.PaidAt.Equal(e.Now) || !got.ExpiresAt.IsZero() {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("unpaid_close_keeps_expiry", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustApply(t, applyTrade(t, s), trade("closed", orders.TradeClosed), orders.Applied)
		got := getTrade(t, s)
		if got.Status != orders.TradeClosed || !got.PaidAt.IsZero() || !got.ExpiresAt.Equal(t0.Add(72*time.Hour)) {
			t.Fatalf("got %+v", got)
		}
	})
}

func testFundAuthSnapshot(t *testing.T, newStore func(t *testing.T) orders.Store) {
	pay := fund("n-pay", "P1", "p1", orders.OperationPay, orders.OperationSuccess, 1000, freezeAmt, 0, 1000)
	t.Run("older_snapshot_after_newer_is_ignored", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		mustApply(t, applyFund(t, s), pay, orders.Applied)
		// The freeze notice arrives last with the older snapshot: its operation is news,
		// its totals are not.
		mustApply(t, applyFund(t, s), freezeSuccess("n-freeze"), orders.Applied)
		o := getPreAuth(t, s)
		if o.Status != orders.PreAuthAuthorized || o.TotalFreeze != freezeAmt || o.TotalPay != 1000 || o.Rest != freezeAmt-1000 || o.TotalUnfreeze != 0 {
			t.Fatalf("order = %+v", o)
		}
		if len(o.Operations) != 2 || o.Operations["F1"].Status != orders.OperationSuccess || o.Operations["P1"].Amount != 1000 {
			t.Fatalf("operations = %+v", o.Operations)
		}
		if o.AuthNo == "" || !o.ExpiresAt.IsZero() {
			t.Fatalf("auth_no %q, expires_at %s", o.AuthNo, o.ExpiresAt)
		}
		// The same freeze again under another id: nothing new at all.
		mustApply(t, applyFund(t, s), freezeSuccess("n-freeze-again"), orders.Stale)
	})
	t.Run("unfreeze_before_freeze_authorizes", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		part := fund("n-unfreeze", "U1", "u1", orders.OperationUnfreeze, orders.OperationSuccess, 2000, freezeAmt, 2000, 0)
		mustApply(t, applyFund(t, s), part, orders.Applied)
		if o := getPreAuth(t, s); o.Status != orders.PreAuthAuthorized || o.Rest != freezeAmt-2000 {
			t.Fatalf("order = %+v", o)
		}
	})
	t.Run("rest_zero_finishes", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthAuthorized)
		mustApply(t, applyFund(t, s), pay, orders.Applied)
		last := fund("n-unfreeze", "U1", "u1", orders.OperationUnfreeze, orders.OperationSuccess, freezeAmt-1000, freezeAmt, freezeAmt-1000, 1000)
		mustApply(t, applyFund(t, s), last, orders.Applied)
		if o := getPreAuth(t, s); o.Status != orders.PreAuthFinished || o.Rest != 0 || len(o.Operations) != 3 {
			t.Fatalf("order = %+v", o)
		}
	})
	t.Run("closed_earlier_voucher_does_not_close_order", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		r2 := mustBegin(t, s, begin("r2"), orders.VoucherAcquired)
		mustComplete(t, s, "r2", r2.Token, issued(t0.Add(time.Minute)))
		mustApply(t, applyFund(t, s), freezeClosed("n-close-r1"), orders.Applied)
		if o := getPreAuth(t, s); o.Status != orders.PreAuthCodeIssued || o.Operations["F1"].Status != orders.OperationClosed {
			t.Fatalf("closing the earlier voucher moved the order: %+v", o)
		}
		closeR2 := fund("n-close-r2", "F2", "r2", orders.OperationFreeze, orders.OperationClosed, freezeAmt, 0, 0, 0)
		mustApply(t, applyFund(t, s), closeR2, orders.Applied)
		if o := getPreAuth(t, s); o.Status != orders.PreAuthClosed || !o.ExpiresAt.Equal(t0.Add(72*time.Hour)) {
			t.Fatalf("closing the latest voucher: %+v", o)
		}
	})
	t.Run("operation_count_is_bounded", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		for i := range orders.MaxOperations {
			e := fund(fmt.Sprintf("n-init-%d", i), fmt.Sprintf("OP%d", i), "r1", orders.OperationFreeze, orders.OperationInit, freezeAmt, 0, 0, 0)
			mustApply(t, applyFund(t, s), e, orders.Applied)
		}
		e := fund("n-one-too-many", "OPX", "r1", orders.OperationFreeze, orders.OperationInit, freezeAmt, 0, 0, 0)
		if _, err := s.ApplyFundAuth(t.Context(), e); !errors.Is(err, orders.ErrLimit) {
			t.Fatalf("err = %v, want ErrLimit", err)
		}
	})
}

// ---- races ----

type delivery struct {
	id    string
	apply func() (orders.ApplyResult, error)
}

// race delivers every notice copies times at once and checks each notify_id was applied
// at most once, and only duplicated after being applied. It returns the applied ids.
func race(t *testing.T, notices []delivery, total int) map[string]bool {
	t.Helper()
	results := make([]orders.ApplyResult, total)
	errs := make([]error, total)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range total {
		wg.Go(func() {
			<-start
			results[i], errs[i] = notices[i%len(notices)].apply()
		})
	}
	close(start)
	wg.Wait()
	count := map[string]map[orders.ApplyResult]int{}
	for i := range total {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		id := notices[i%len(notices)].id
		if count[id] == nil {
			count[id] = map[orders.ApplyResult]int{}
		}
		count[id][results[i]]++
	}
	applied := map[string]bool{}
	for id, c := range count {
		if c[orders.Applied] > 1 || c[orders.NotFound] > 0 || (c[orders.Duplicate] > 0 && c[orders.Applied] == 0) {
			t.Errorf("notify_id %s results %v", id, c)
		}
		if c[orders.Applied] == 1 {
			applied[id] = true
		}
	}
	return applied
}

func keys(m map[string]bool, prefix string) []string {
	var out []string
	for k := range m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k)
		}
	}
	return out
}

func testRacing(t *testing.T, newStore func(t *testing.T) orders.Store) {
	t.Run("trade_and_agreement_notices", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, signOrder(tradeKey, "h1"))
		refund := func(id string, fee alipay.Amount) orders.TradeEffect {
			e := trade(id, orders.TradeSuccess)
			e.RefundFee = fee
			return e
		}
		tradeNotices := []orders.TradeEffect{
			trade("trade-wait", orders.TradeWaitBuyerPay),
			trade("trade-paid", orders.TradeSuccess),
			refund("trade-refund-1", 100),
			refund("trade-refund-2", 300),
			trade("trade-finished", orders.TradeFinished),
		}
		var notices []delivery
		for _, e := range tradeNotices {
			notices = append(notices, delivery{e.NotifyID, func() (orders.ApplyResult, error) { return s.ApplyTrade(t.Context(), e) }})
		}
		for _, e := range []orders.AgreementEffect{agreementNotice("agreement-sign", orders.AgreementNormal), agreementNotice("agreement-unsign", orders.AgreementUnsign)} {
			notices = append(notices, delivery{e.NotifyID, func() (orders.ApplyResult, error) { return s.ApplyAgreement(t.Context(), e) }})
		}
		applied := race(t, notices, 50)

		// Whatever the order of arrival: finished, paid once, largest cumulative refund, unsigned.
		o := getTrade(t, s)
		if o.Status != orders.TradeFinished || o.RefundFee != 300 || !o.PaidAt.Equal(t0.Add(10*time.Second)) || o.TradeNo == "" || !o.ExpiresAt.IsZero() {
			t.Fatalf("order = %+v", o)
		}
		if !sameSet(o.NotifyIDs, keys(applied, "trade-")) {
			t.Fatalf("recorded %v, applied %v", o.NotifyIDs, keys(applied, "trade-"))
		}
		for _, id := range []string{"trade-finished", "trade-refund-2", "agreement-unsign"} {
			if !applied[id] {
				t.Errorf("%s was never applied", id)
			}
		}
		a := getAgreement(t, s)
		if a.Status != orders.AgreementUnsign || a.AgreementNo == "" || !sameSet(a.NotifyIDs, keys(applied, "agreement-")) {
			t.Fatalf("agreement = %+v, applied %v", a, keys(applied, "agreement-"))
		}
	})
	t.Run("fund_auth_notices", func(t *testing.T) {
		s := newStore(t)
		reachPreAuth(t, s, orders.PreAuthCodeIssued)
		const paid = 3000
		fundNotices := []orders.FundAuthEffect{
			fund("fund-init", "F1", "r1", orders.OperationFreeze, orders.OperationInit, freezeAmt, 0, 0, 0),
			freezeSuccess("fund-freeze"),
			fund("fund-pay", "P1", "p1", orders.OperationPay, orders.OperationSuccess, paid, freezeAmt, 0, paid),
			fund("fund-unfreeze", "U1", "u1", orders.OperationUnfreeze, orders.OperationSuccess, freezeAmt-paid, freezeAmt, freezeAmt-paid, paid),
		}
		var notices []delivery
		for _, e := range fundNotices {
			notices = append(notices, delivery{e.NotifyID, func() (orders.ApplyResult, error) { return s.ApplyFundAuth(t.Context(), e) }})
		}
		applied := race(t, notices, 50)

		o := getPreAuth(t, s)
		if o.Status != orders.PreAuthFinished || o.TotalFreeze != freezeAmt || o.TotalPay != paid || o.TotalUnfreeze != freezeAmt-paid || o.Rest != 0 {
			t.Fatalf("order = %+v", o)
		}
		for _, id := range []string{"F1", "P1", "U1"} {
			if o.Operations[id].Status != orders.OperationSuccess {
				t.Errorf("operation %s = %+v", id, o.Operations[id])
			}
		}
		if !sameSet(o.NotifyIDs, keys(applied, "fund-")) {
			t.Fatalf("recorded %v, applied %v", o.NotifyIDs, keys(applied, "fund-"))
		}
		for _, id := range []string{"fund-freeze", "fund-pay", "fund-unfreeze"} {
			if !applied[id] {
				t.Errorf("%s was never applied", id)
			}
		}
	})
}

// testTradeNoBinding: one Alipay trade_no pays one order. A notice naming a trade_no
// already bound to another order (a genuine notification re-split into other parameters)
// is refused with ErrTradeNoBound and changes nothing; redeliveries to the bound order
// stay idempotent.
func testTradeNoBinding(t *testing.T, newStore func(t *testing.T) orders.Store) {
	const other = "70501111111S001111120"
	forOrder := func(key, id string, st orders.TradeStatus) orders.TradeEffect {
		e := trade(id, st)
		e.OutTradeNo = key
		return e
	}
	t.Run("trade_no_of_another_order_is_refused", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustCreate(t, s, appOrder(other, "h2"))
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeSuccess), orders.Applied)
		before := getOrder(t, s, other)
		for _, st := range []orders.TradeStatus{orders.TradeSuccess, orders.TradeWaitBuyerPay, orders.TradeClosed} {
			res, err := s.ApplyTrade(t.Context(), forOrder(other, "forged-"+string(st), st))
			if !errors.Is(err, orders.ErrTradeNoBound) || res != "" {
				t.Fatalf("%s for another order: %q %v, want ErrTradeNoBound", st, res, err)
			}
		}
		if after := getOrder(t, s, other); !reflect.DeepEqual(after, before) {
			t.Fatalf("a refused notice changed the order:\nbefore %+v\nafter  %+v", before, after)
		}
		// The bound order is unaffected: redelivery is a Duplicate, later notices apply.
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeSuccess), orders.Duplicate)
		mustApply(t, applyTrade(t, s), trade("n2", orders.TradeFinished), orders.Applied)
	})
	t.Run("unpaid_notice_binds_too", func(t *testing.T) {
		// WAIT_BUYER_PAY and an unpaid TRADE_CLOSED carry the trade_no as well: the first
		// notice of a trade binds it, whatever its status.
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustCreate(t, s, appOrder(other, "h2"))
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeWaitBuyerPay), orders.Applied)
		if _, err := s.ApplyTrade(t.Context(), forOrder(other, "forged", orders.TradeSuccess)); !errors.Is(err, orders.ErrTradeNoBound) {
			t.Fatalf("err = %v, want ErrTradeNoBound", err)
		}
	})
	t.Run("unknown_or_rejected_notice_binds_nothing", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(other, "h2"))
		// No order: nothing is bound.
		mustApply(t, applyTrade(t, s), trade("n0", orders.TradeSuccess), orders.NotFound)
		// The order model rejects it: nothing is bound either.
		bad := forOrder(other, "n1", orders.TradeSuccess)
		bad.RefundFee = orderAmount + 1
		if _, err := s.ApplyTrade(t.Context(), bad); !errors.Is(err, orders.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustApply(t, applyTrade(t, s), trade("n2", orders.TradeSuccess), orders.Applied)
	})
	t.Run("other_trade_no_for_a_bound_order_is_invalid", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, appOrder(tradeKey, "h1"))
		mustApply(t, applyTrade(t, s), trade("n1", orders.TradeSuccess), orders.Applied)
		e := trade("n2", orders.TradeFinished)
		e.TradeNo = "2025060122001422520500000002"
		if _, err := s.ApplyTrade(t.Context(), e); !errors.Is(err, orders.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		if o := getTrade(t, s); o.Status != orders.TradeSuccess {
			t.Fatalf("order = %+v", o)
		}
	})
	t.Run("racing_orders_one_claims_the_trade_no", func(t *testing.T) {
		s := newStore(t)
		keys := []string{tradeKey, other}
		for i, k := range keys {
			mustCreate(t, s, appOrder(k, fmt.Sprintf("h%d", i)))
		}
		const deliveries = 20
		res := make([]orders.ApplyResult, deliveries)
		errs := make([]error, deliveries)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range deliveries {
			wg.Go(func() {
				<-start
				k := keys[i%2]
				res[i], errs[i] = s.ApplyTrade(t.Context(), forOrder(k, "n-"+k, orders.TradeSuccess))
			})
		}
		close(start)
		wg.Wait()
		won := map[string]bool{}
		for i := range deliveries {
			k := keys[i%2]
			switch {
			case errs[i] == nil && (res[i] == orders.Applied || res[i] == orders.Duplicate):
				won[k] = true
			case errors.Is(errs[i], orders.ErrTradeNoBound):
			default:
				t.Fatalf("delivery %d for %s: %q %v", i, k, res[i], errs[i])
			}
		}
		if len(won) != 1 {
			t.Fatalf("orders that took the trade_no: %v, want exactly one", won)
		}
		for _, k := range keys {
			o := getOrder(t, s, k)
			if paid := o.Status == orders.TradeSuccess; paid != won[k] || (o.TradeNo != "") != won[k] {
				t.Fatalf("order %s = %+v, won %v", k, o, won[k])
			}
		}
	})
}

func getOrder(t *testing.T, s orders.Store, key string) *orders.AppPayOrder {
	t.Helper()
	o, err := s.GetAppPayOrder(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
