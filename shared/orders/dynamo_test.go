package orders_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/dynalitetest"
	"github.com/alipay-serverless/alipay-serverless/test/storetest"
)

var tableSeq atomic.Int64

func newTable(t testing.TB, client *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("orders-%d", tableSeq.Add(1))
	if err := orders.CreateTable(context.Background(), client, name); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return name
}

func TestDynamoStoreConformance(t *testing.T) {
	srv := dynalitetest.Start(t)
	client := dynalitetest.NewClient(t, srv.Endpoint())
	storetest.Run(t, func(t *testing.T) orders.Store {
		return orders.NewDynamoStore(client, newTable(t, client))
	})
}

func TestCreateTable(t *testing.T) {
	srv := dynalitetest.Start(t)
	client := dynalitetest.NewClient(t, srv.Endpoint())
	t.Run("declares_schema_keys_and_billing", func(t *testing.T) {
		name := newTable(t, client)
		out, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		tab := out.Table
		if len(tab.KeySchema) != 2 || aws.ToString(tab.KeySchema[0].AttributeName) != orders.PartitionKey || aws.ToString(tab.KeySchema[1].AttributeName) != orders.SortKey {
			t.Fatalf("key schema %+v", tab.KeySchema)
		}
		if tab.BillingModeSummary == nil || string(tab.BillingModeSummary.BillingMode) != orders.BillingMode {
			t.Fatalf("billing %+v", tab.BillingModeSummary)
		}
		if len(tab.GlobalSecondaryIndexes) != orders.GlobalSecondaryIndexCount {
			t.Fatalf("indexes %+v", tab.GlobalSecondaryIndexes)
		}
	})
	t.Run("existing_table_is_accepted", func(t *testing.T) {
		name := newTable(t, client)
		if err := orders.CreateTable(t.Context(), client, name); err != nil {
			t.Fatalf("second CreateTable: %v", err)
		}
	})
}

// sample is one order of each kind, written while the store is up.
func sample(t *testing.T, s orders.Store) (token string) {
	t.Helper()
	now := time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)
	o := &orders.AppPayOrder{OutTradeNo: "T1", Owner: "c", ParamsHash: "h", TotalAmount: 900, OrderStr: "s", CreatedAt: now,
		ExternalAgreementNo: "A1"}
	if out, _, err := s.CreateAppPayOrder(t.Context(), o); err != nil || out != orders.Created {
		t.Fatalf("create: %v %v", out, err)
	}
	r, err := s.BeginVoucher(t.Context(), orders.VoucherBegin{OutOrderNo: "P1", OutRequestNo: "R1", Owner: "c", OrderHash: "oh", RequestHash: "rh",
		Amount: 10000, Now: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil || r.Outcome != orders.VoucherAcquired {
		t.Fatalf("begin: %+v %v", r, err)
	}
	return r.Token
}

// storeCalls exercises every Store method; each must fail with ErrUnavailable when the
// store cannot be reached.
func storeCalls(token string) map[string]func(ctx context.Context, s orders.Store) error {
	now := time.Date(2025, 6, 1, 5, 0, 0, 0, time.UTC)
	return map[string]func(ctx context.Context, s orders.Store) error{
		"create_app_pay_order": func(ctx context.Context, s orders.Store) error {
			_, _, err := s.CreateAppPayOrder(ctx, &orders.AppPayOrder{OutTradeNo: "T2", Owner: "c", ParamsHash: "h", TotalAmount: 1, CreatedAt: now})
			return err
		},
		"get_app_pay_order": func(ctx context.Context, s orders.Store) error { _, err := s.GetAppPayOrder(ctx, "T1"); return err },
		"get_agreement":     func(ctx context.Context, s orders.Store) error { _, err := s.GetAgreement(ctx, "A1"); return err },
		"begin_voucher": func(ctx context.Context, s orders.Store) error {
			_, err := s.BeginVoucher(ctx, orders.VoucherBegin{OutOrderNo: "P1", OutRequestNo: "R2", Owner: "c", OrderHash: "oh", RequestHash: "rh2",
				Amount: 10000, Now: now, LeaseUntil: now.Add(time.Minute)})
			return err
		},
		"complete_voucher": func(ctx context.Context, s orders.Store) error {
			return s.CompleteVoucher(ctx, "P1", "R1", token, orders.VoucherOutcome{State: orders.RequestIssued, CodeValue: "qr", Now: now})
		},
		"get_pre_auth_order": func(ctx context.Context, s orders.Store) error { _, err := s.GetPreAuthOrder(ctx, "P1"); return err },
		"apply_trade": func(ctx context.Context, s orders.Store) error {
			_, err := s.ApplyTrade(ctx, orders.TradeEffect{NotifyID: "n1", OutTradeNo: "T1", TradeNo: "2025060122001422520500000001", TradeStatus: orders.TradeSuccess, Now: now})
			return err
		},
		"apply_fund_auth": func(ctx context.Context, s orders.Store) error {
			_, err := s.ApplyFundAuth(ctx, orders.FundAuthEffect{NotifyID: "n2", OutOrderNo: "P1", OperationID: "F1", OperationType: orders.OperationFreeze,
				OperationStatus: orders.OperationSuccess, Amount: 10000, TotalFreeze: 10000, Rest: 10000, Now: now})
			return err
		},
		"apply_agreement": func(ctx context.Context, s orders.Store) error {
			_, err := s.ApplyAgreement(ctx, orders.AgreementEffect{NotifyID: "n3", ExternalAgreementNo: "A1", Status: orders.AgreementNormal, Now: now})
			return err
		},
	}
}

func expectUnavailable(t *testing.T, s orders.Store, ctx context.Context, calls map[string]func(context.Context, orders.Store) error, bound time.Duration) {
	t.Helper()
	for name, call := range calls {
		start := time.Now()
		err := call(ctx, s)
		if !errors.Is(err, orders.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > bound {
			t.Errorf("%s took %s, want under %s", name, d, bound)
		}
	}
}

func TestDynamoStoreOutage(t *testing.T) {
	t.Run("stopped_server_is_unavailable_and_data_survives_restart", func(t *testing.T) {
		srv := dynalitetest.Start(t)
		client := dynalitetest.NewClient(t, srv.Endpoint())
		s := orders.NewDynamoStore(client, newTable(t, client))
		token := sample(t, s)

		srv.Stop()
		expectUnavailable(t, s, t.Context(), storeCalls(token), 3*dynalitetest.ClientTimeout)

		srv.Restart()
		if o, err := s.GetAppPayOrder(t.Context(), "T1"); err != nil || o.AgreementStatus != orders.AgreementPending {
			t.Fatalf("after restart: %+v, %v", o, err)
		}
		for name, call := range storeCalls(token) {
			if err := call(t.Context(), s); err != nil {
				t.Errorf("%s after restart: %v", name, err)
			}
		}
		if p, err := s.GetPreAuthOrder(t.Context(), "P1"); err != nil || p.Status != orders.PreAuthAuthorized || p.Requests["R1"].State != orders.RequestIssued {
			t.Fatalf("after restart: %+v, %v", p, err)
		}
	})
	t.Run("silent_server_times_out_with_context", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, never answered
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		client := dynalitetest.NewClient(t, "http://"+l.Addr().String())
		s := orders.NewDynamoStore(client, "orders")
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = s.ApplyTrade(ctx, orders.TradeEffect{NotifyID: "n1", OutTradeNo: "T1", TradeNo: "2025060122001422520500000001", TradeStatus: orders.TradeSuccess, Now: start})
		if !errors.Is(err, orders.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %s despite a 300ms deadline", d)
		}
	})
	t.Run("throttling_and_server_errors_are_unavailable", func(t *testing.T) {
		replies := map[string]struct {
			status int
			body   string
		}{
			"throttled":      {400, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}`},
			"internal_error": {500, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}`},
			"unavailable":    {503, `{"__type":"com.amazonaws.dynamodb.v20120810#ServiceUnavailable","message":"later"}`},
			"not_json":       {200, `<html>gateway</html>`},
		}
		for name, reply := range replies {
			t.Run(name, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/x-amz-json-1.0")
					w.WriteHeader(reply.status)
					_, _ = w.Write([]byte(reply.body))
				}))
				t.Cleanup(srv.Close)
				s := orders.NewDynamoStore(dynalitetest.NewClient(t, srv.URL), "orders")
				expectUnavailable(t, s, t.Context(), storeCalls("tok"), 3*dynalitetest.ClientTimeout)
			})
		}
	})
}

// crashingClient fails every UpdateItem while crash is set, as a process that dies
// between its writes would leave the table.
type crashingClient struct {
	orders.DynamoAPI
	crash atomic.Bool
}

func (c *crashingClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if c.crash.Load() {
		return nil, errors.New("process died")
	}
	return c.DynamoAPI.UpdateItem(ctx, in, optFns...)
}

// The trade_no binding and the order update are two writes: a crash between them leaves
// the binding alone, and the resent notice converges (the binding is already its own).
func TestDynamoTradeNoBindingSurvivesCrashBetweenWrites(t *testing.T) {
	srv := dynalitetest.Start(t)
	client := &crashingClient{DynamoAPI: dynalitetest.NewClient(t, srv.Endpoint())}
	s := orders.NewDynamoStore(client, newTable(t, client.DynamoAPI.(*dynamodb.Client)))
	now := time.Date(2025, 6, 1, 5, 0, 0, 0, time.UTC)
	for _, k := range []string{"T1", "T2"} {
		if out, _, err := s.CreateAppPayOrder(t.Context(), &orders.AppPayOrder{OutTradeNo: k, Owner: "c", ParamsHash: "h" + k, TotalAmount: 900, CreatedAt: now}); err != nil || out != orders.Created {
			t.Fatalf("create %s: %v %v", k, out, err)
		}
	}
	e := orders.TradeEffect{NotifyID: "n1", OutTradeNo: "T1", TradeNo: "2025060122001422520500000001", TradeStatus: orders.TradeSuccess, Now: now}
	client.crash.Store(true)
	if _, err := s.ApplyTrade(t.Context(), e); err == nil {
		t.Fatal("the order update cannot have succeeded")
	}
	client.crash.Store(false)
	if o, err := s.GetAppPayOrder(t.Context(), "T1"); err != nil || o.Status != orders.TradeCreated {
		t.Fatalf("after the crash: %+v %v", o, err)
	}
	// The binding was written first: another order cannot take the trade_no meanwhile.
	forged := e
	forged.NotifyID, forged.OutTradeNo = "forged", "T2"
	if _, err := s.ApplyTrade(t.Context(), forged); !errors.Is(err, orders.ErrTradeNoBound) {
		t.Fatalf("forged: %v, want ErrTradeNoBound", err)
	}
	if res, err := s.ApplyTrade(t.Context(), e); err != nil || res != orders.Applied {
		t.Fatalf("resent notice: %q %v, want APPLIED", res, err)
	}
	if o, err := s.GetAppPayOrder(t.Context(), "T1"); err != nil || o.Status != orders.TradeSuccess || o.TradeNo != e.TradeNo {
		t.Fatalf("after the resend: %+v %v", o, err)
	}
}

// racingClient runs before once, just before the first PutItem whose key starts with
// prefix is sent: another writer acting between a decision and its write.
type racingClient struct {
	orders.DynamoAPI
	prefix string
	before func()
	once   sync.Once
}

func (c *racingClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item[orders.PartitionKey].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, c.prefix) {
		c.once.Do(c.before)
	}
	return c.DynamoAPI.PutItem(ctx, in, optFns...)
}

// An out_trade_no names one record: an app-pay order created while a capture with the
// same number is being begun (each having found the number free) leaves exactly one of
// them holding it, whichever side's write comes second.
func TestDynamoOutTradeNoRaceBetweenCaptureAndAppPayOrder(t *testing.T) {
	srv := dynalitetest.Start(t)
	raw := dynalitetest.NewClient(t, srv.Endpoint())
	now := time.Date(2025, 6, 1, 5, 0, 0, 0, time.UTC)
	const no = "X1"
	appPay := func(s orders.Store) orders.CreateOutcome {
		out, _, err := s.CreateAppPayOrder(context.Background(), &orders.AppPayOrder{OutTradeNo: no, Owner: "c", ParamsHash: "h",
			TotalAmount: 100, CreatedAt: now})
		if err != nil {
			t.Errorf("create: %v", err)
		}
		return out
	}
	capture := func(s orders.Store) orders.OpBeginOutcome {
		r, err := s.BeginOperation(context.Background(), orders.OpBegin{
			OpRef: orders.OpRef{Parent: orders.ParentPreAuth, OrderNo: "P1", Kind: orders.OpCapture, RequestNo: no},
			Owner: "c", ParamsHash: "cap", Amount: 100, Now: now, LeaseUntil: now.Add(time.Minute)})
		if err != nil {
			t.Errorf("begin: %v", err)
		}
		return r.Outcome
	}
	for _, tc := range []struct {
		name   string
		prefix string // the write the other side slips in front of
		first  string // the side whose write is held
	}{
		{"app_pay_created_before_the_claim_is_written", "OUTTRADE#", "capture"},
		{"claim_written_before_the_app_pay_order", "APPPAY#", "app_pay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := newTable(t, raw)
			direct := orders.NewDynamoStore(raw, table)
			authorizedPreAuth(t, direct, now)
			var created orders.CreateOutcome
			var begun orders.OpBeginOutcome
			rc := &racingClient{DynamoAPI: raw, prefix: tc.prefix}
			held := orders.NewDynamoStore(rc, table)
			if tc.first == "capture" {
				rc.before = func() { created = appPay(direct) }
				begun = capture(held)
			} else {
				rc.before = func() { begun = capture(direct) }
				created = appPay(held)
			}
			if created == orders.Created && begun == orders.OpAcquired {
				t.Fatalf("both an app-pay order and a capture hold out_trade_no %s", no)
			}
			if created != orders.Created && begun != orders.OpAcquired {
				t.Fatalf("neither holds %s: create %s, begin %s", no, created, begun)
			}
		})
	}
}

// authorizedPreAuth writes pre-auth order P1 with 100.00 frozen.
func authorizedPreAuth(t *testing.T, s orders.Store, now time.Time) {
	t.Helper()
	r, err := s.BeginVoucher(t.Context(), orders.VoucherBegin{OutOrderNo: "P1", OutRequestNo: "R1", Owner: "c", OrderHash: "oh", RequestHash: "rh",
		Amount: 10000, Now: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil || r.Outcome != orders.VoucherAcquired {
		t.Fatalf("begin voucher: %+v %v", r, err)
	}
	if err := s.CompleteVoucher(t.Context(), "P1", "R1", r.Token, orders.VoucherOutcome{State: orders.RequestIssued, CodeValue: "qr", Now: now}); err != nil {
		t.Fatalf("complete voucher: %v", err)
	}
	if res, err := s.ApplyFundAuth(t.Context(), orders.FundAuthEffect{NotifyID: "n-freeze", OutOrderNo: "P1", AuthNo: "A1", OperationID: "F1",
		OutRequestNo: "R1", OperationType: orders.OperationFreeze, OperationStatus: orders.OperationSuccess, Amount: 10000,
		TotalFreeze: 10000, Rest: 10000, Now: now}); err != nil || res != orders.Applied {
		t.Fatalf("freeze: %s %v", res, err)
	}
}
