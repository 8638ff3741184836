package reliability

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/shared/sandbox"
)

// advOrder is an order of the adversarial test with the genuine notices Alipay (the
// simulator) sent about it, in the order they were sent, and the state they lead to.
type advOrder struct {
	kind       alipay.NotifyKind
	id         string
	amount     alipay.Amount
	gbk        bool // its text fields are GBK-encodable: a GBK copy of its notices is genuine too
	notices    []simNotice
	wantStatus string
	wantRefund alipay.Amount
	alipayNo   string // trade_no or auth_no
}

// attack is one hostile notification body and the status it must get (always "fail").
type attack struct {
	category string
	ct       string
	body     []byte
	want     int
}

// TestAdversarialNotificationsNeverSucceed runs a running server (notify + apppay +
// preauth, DynamoStore on dynalite, seller id configured) against a corpus built from
// genuine signed notifications: forged, tampered field by field, replayed onto other
// orders, mismatched app_id / amount / seller, unknown orders, truncated, oversized,
// mis-encoded, duplicate keys, garbage, RSA1 and unsigned bodies. None may get
// "success" or change any order, before and after the genuine notices are applied;
// genuine notices delivered twice, reordered, concurrently and re-encoded in GBK are
// all acknowledged and applied exactly once; the server stays healthy.
func TestAdversarialNotificationsNeverSucceed(t *testing.T) {
	sink := sinkServer(t)
	s := newStack(t, stackOptions{dynalite: true, notifyURL: sink.URL + httpapi.NotifyPath, sellerID: sandbox.DefaultSellerID})
	ctx := t.Context()
	k := loadKeys(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 1))

	apps, pres := advOrders(t, s, scale(12, 60), scale(6, 30))
	all := append(append([]*advOrder(nil), apps...), pres...)
	snapshot := func() map[string]any {
		m := map[string]any{}
		for _, o := range apps {
			v, err := s.Store.GetAppPayOrder(ctx, o.id)
			if err != nil {
				t.Fatalf("read %s: %v", o.id, err)
			}
			m["app-pay "+o.id] = v
		}
		for _, o := range pres {
			v, err := s.Store.GetPreAuthOrder(ctx, o.id)
			if err != nil {
				t.Fatalf("read %s: %v", o.id, err)
			}
			m["pre-auth "+o.id] = v
		}
		return m
	}

	corpus := buildCorpus(t, rng, k, newRandomKey(t, "adversarial forger"), apps, pres)
	if len(corpus) < 200 {
		t.Fatalf("corpus has only %d bodies", len(corpus))
	}

	runCorpus := func(phase string) map[string]map[int]int {
		before := snapshot()
		stats := map[string]map[int]int{}
		for _, a := range corpus {
			r := s.notify(t, a.ct, a.body)
			if stats[a.category] == nil {
				stats[a.category] = map[int]int{}
			}
			stats[a.category][r.Status]++
			if string(r.Body) != alipay.NotifyFailReply || r.Status != a.want {
				t.Errorf("%s: %s got %d %q, want %d %q (body %.120q)", phase, a.category, r.Status, r.Body, a.want, alipay.NotifyFailReply, a.body)
			}
		}
		after := snapshot()
		for key, b := range before {
			if !reflect.DeepEqual(b, after[key]) {
				t.Errorf("%s: %s changed:\n before %+v\n after  %+v", phase, key, b, after[key])
			}
		}
		return stats
	}

	// Phase 1: nothing applied yet; every hostile body fails and changes nothing.
	stats := runCorpus("before genuine notices")

	// Phase 2: the genuine notices, each delivered twice (the second time re-encoded in
	// GBK where the text allows), every other order's in reverse order, orders
	// concurrently; then all those deliveries once more, 8 at a time: 4 per notice.
	type delivery struct {
		body []byte
		id   string
	}
	var perOrder [][]delivery
	gbkCopies := 0
	for i, o := range all {
		seq := slices.Clone(o.notices)
		if i%2 == 1 {
			slices.Reverse(seq)
		}
		var ds []delivery
		for _, n := range seq {
			second := []byte(n.Body)
			if o.gbk {
				second = signNotice(t, k.alipay, n.Params, "gbk")
				gbkCopies++
			}
			ds = append(ds, delivery{[]byte(n.Body), n.NotifyID}, delivery{second, n.NotifyID})
		}
		perOrder = append(perOrder, ds)
	}
	rng.Shuffle(len(perOrder), func(i, j int) { perOrder[i], perOrder[j] = perOrder[j], perOrder[i] })
	var mu sync.Mutex
	acked := map[string]int{}
	var failures []string
	deliver := func(d delivery) {
		r := s.goNotify(t, d.body)
		mu.Lock()
		defer mu.Unlock()
		if r.Status == http.StatusOK && string(r.Body) == alipay.NotifySuccessReply {
			acked[d.id]++
		} else {
			failures = append(failures, fmt.Sprintf("%s: %d %s", d.id, r.Status, r.Body))
		}
	}
	parallel(len(perOrder), 4, func(i int) {
		for _, d := range perOrder[i] {
			deliver(d)
		}
	})
	var flat []delivery
	for _, ds := range perOrder {
		flat = append(flat, ds...)
	}
	parallel(len(flat), 8, func(i int) { deliver(flat[i]) })
	for _, f := range failures {
		t.Errorf("genuine notice not acknowledged: %s", f)
	}
	genuine := 0
	for _, o := range all {
		genuine += len(o.notices)
	}
	results := notifyResults(t, s.Log.String())
	var applied, duplicate, stale int
	for _, o := range all {
		for _, n := range o.notices {
			r := results[n.NotifyID]
			applied += r["APPLIED"]
			duplicate += r["DUPLICATE"]
			stale += r["STALE"]
			// Applied exactly once, or (an older notice arriving after a newer one) never
			// applied and acknowledged as stale.
			if r["APPLIED"] > 1 || r["APPLIED"] == 0 && r["STALE"] == 0 {
				t.Errorf("%s notice %s: results %v", o.id, n.NotifyID, r)
			}
			if acked[n.NotifyID] != 4 {
				t.Errorf("%s notice %s acknowledged %d of 4 deliveries", o.id, n.NotifyID, acked[n.NotifyID])
			}
		}
	}
	checkFinalStates(t, ctx, s.Store, apps, pres)

	// Phase 3: the same corpus against the applied state.
	for cat, m := range runCorpus("after genuine notices") {
		for st, c := range m {
			stats[cat][st] += c
		}
	}

	// Phase 4: still healthy — a new genuine payment is acknowledged and applied.
	biz := map[string]any{"out_trade_no": "ADV_HEALTH", "total_amount": "0.99", "subject": "健康检查", "product_code": alipay.ProductCodeQuickMSecurityPay}
	var paid payResult
	s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": s.createAppPay(t, biz)}, &paid)
	if r := s.notify(t, formCT, []byte(paid.Notifications[0].Body)); r.Status != http.StatusOK || string(r.Body) != alipay.NotifySuccessReply {
		t.Errorf("genuine notice after the attacks: %d %s", r.Status, r.Body)
	}
	if o, err := s.Store.GetAppPayOrder(ctx, "ADV_HEALTH"); err != nil || o.Status != orders.TradeSuccess {
		t.Errorf("health order: %+v %v", o, err)
	}

	cats := make([]string, 0, len(stats))
	total := 0
	for c, m := range stats {
		cats = append(cats, c)
		for _, n := range m {
			total += n
		}
	}
	slices.Sort(cats)
	var b strings.Builder
	for _, c := range cats {
		fmt.Fprintf(&b, "\n  %-28s %v", c, stats[c])
	}
	t.Logf("%d hostile bodies per pass (%d sent over 2 passes), %d orders (%d app-pay, %d pre-auth), 0 successes expected:%s",
		len(corpus), total, len(all), len(apps), len(pres), b.String())
	t.Logf("%d genuine notices delivered 4 times each (%d GBK re-encodings, half the orders reversed): applied %d, duplicate %d, stale %d",
		genuine, gbkCopies, applied, duplicate, stale)
}

// parallel runs f(0..n-1) on workers goroutines and waits.
func parallel(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// advOrders creates nApp app-pay orders and nPre pre-auth orders through the server
// and has the simulator pay, refund, finish and scan them; the notices go to the sink,
// so the test decides when the server sees them.
func advOrders(t *testing.T, s *stack, nApp, nPre int) (apps, pres []*advOrder) {
	t.Helper()
	for i := range nApp {
		o := &advOrder{kind: alipay.KindTradeStatus, id: fmt.Sprintf("ADV_A%03d", i), amount: alipay.Amount(1000 + 101*i)}
		subject := "押金测试商品 第" + fmt.Sprint(i) + "号"
		o.gbk = i%3 == 0
		if !o.gbk {
			subject = "会员 ☕ " + fmt.Sprint(i) + " 100%+"
		}
		biz := map[string]any{"out_trade_no": o.id, "total_amount": o.amount.String(), "subject": subject,
			"body": "a%3Db%26c%3Dd 说明 100%", "product_code": alipay.ProductCodeQuickMSecurityPay}
		var paid payResult
		s.control(t, "/sandbox/orders/pay", map[string]string{"order_str": s.createAppPay(t, biz)}, &paid)
		o.alipayNo, o.wantStatus = paid.TradeNo, string(orders.TradeSuccess)
		o.notices = append(o.notices, paid.Notifications...)
		var next payResult
		switch i % 4 {
		case 0:
			s.control(t, "/sandbox/orders/finish", map[string]string{"out_trade_no": o.id}, &next)
			o.wantStatus = string(orders.TradeFinished)
		case 1:
			s.control(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": o.id, "refund_fee": "0.50"}, &next)
			o.wantRefund = 50
		case 2:
			s.control(t, "/sandbox/orders/refund", map[string]string{"out_trade_no": o.id, "refund_fee": o.amount.String()}, &next)
			o.wantStatus, o.wantRefund = string(orders.TradeClosed), o.amount
		}
		o.notices = append(o.notices, next.Notifications...)
		apps = append(apps, o)
	}
	for i := range nPre {
		o := &advOrder{kind: alipay.KindFundAuth, id: fmt.Sprintf("ADV-P%03d", i), amount: alipay.Amount(20000 + 37*i), gbk: i%2 == 0}
		title := "押金 " + o.id
		if !o.gbk {
			title = "押金 🎉 " + o.id
		}
		s.createVoucher(t, map[string]any{"out_order_no": o.id, "out_request_no": o.id + "-R1", "order_title": title,
			"amount": o.amount.String(), "product_code": alipay.ProductCodePreAuth})
		var scan scanResult
		s.control(t, "/sandbox/vouchers/scan", map[string]string{"out_order_no": o.id}, &scan)
		o.alipayNo, o.wantStatus, o.notices = scan.AuthNo, string(orders.PreAuthAuthorized), scan.Notifications
		pres = append(pres, o)
	}
	return apps, pres
}

// checkFinalStates compares every order with what its genuine notices lead to.
func checkFinalStates(t *testing.T, ctx context.Context, st orders.Store, apps, pres []*advOrder) {
	t.Helper()
	for _, o := range apps {
		v, err := st.GetAppPayOrder(ctx, o.id)
		if err != nil {
			t.Fatalf("read %s: %v", o.id, err)
		}
		if string(v.Status) != o.wantStatus || v.TradeNo != o.alipayNo || v.RefundFee != o.wantRefund {
			t.Errorf("%s: status %s trade_no %s refund %s, want %s %s %s", o.id, v.Status, v.TradeNo, v.RefundFee, o.wantStatus, o.alipayNo, o.wantRefund)
		}
		if dup := duplicates(v.NotifyIDs); len(dup) > 0 {
			t.Errorf("%s: notify_ids recorded twice: %v", o.id, dup)
		}
	}
	for _, o := range pres {
		v, err := st.GetPreAuthOrder(ctx, o.id)
		if err != nil {
			t.Fatalf("read %s: %v", o.id, err)
		}
		if string(v.Status) != o.wantStatus || v.AuthNo != o.alipayNo || v.TotalFreeze != o.amount || v.Rest != o.amount {
			t.Errorf("%s: status %s auth_no %s frozen %s rest %s, want %s %s %s", o.id, v.Status, v.AuthNo, v.TotalFreeze, v.Rest, o.wantStatus, o.alipayNo, o.amount)
		}
		if dup := duplicates(v.NotifyIDs); len(dup) > 0 {
			t.Errorf("%s: notify_ids recorded twice: %v", o.id, dup)
		}
	}
}

func duplicates(ids []string) []string {
	seen := map[string]bool{}
	var dup []string
	for _, id := range ids {
		if seen[id] {
			dup = append(dup, id)
		}
		seen[id] = true
	}
	return dup
}

// buildCorpus derives the hostile bodies from every genuine notice.
func buildCorpus(t *testing.T, rng *mrand.Rand, k *testKeys, forger *alipay.PrivateKey, apps, pres []*advOrder) []attack {
	t.Helper()
	var out []attack
	add := func(cat string, body []byte, want int) {
		out = append(out, attack{category: cat, ct: formCT, body: body, want: want})
	}
	enc := func(p map[string]string) []byte { return encodeNotice(t, p) }
	resign := func(p map[string]string) []byte { return signNotice(t, k.alipay, p, "utf-8") }
	for _, group := range [][]*advOrder{apps, pres} {
		for gi, o := range group {
			other := group[(gi+1)%len(group)]
			idField, amountField, sellerField := "out_trade_no", "total_amount", "seller_id"
			if o.kind == alipay.KindFundAuth {
				idField, amountField, sellerField = "out_order_no", "amount", "payee_user_id"
			}
			for _, n := range o.notices {
				p, body := n.Params, []byte(n.Body)
				with := func(kv ...string) map[string]string {
					c := cloneParams(p)
					for i := 0; i+1 < len(kv); i += 2 {
						c[kv[i]] = kv[i+1]
					}
					return c
				}
				add("forged_app_key", signNotice(t, k.app, p, "utf-8"), http.StatusBadRequest)
				add("forged_random_key", signNotice(t, forger, p, "utf-8"), http.StatusBadRequest)
				for _, key := range slices.Sorted(maps.Keys(p)) {
					if key == "sign_type" {
						continue
					}
					add("tampered_field", enc(with(key, tamper(key, p[key]))), http.StatusBadRequest)
				}
				if o.kind == alipay.KindTradeStatus {
					// The re-split forgery: a notice Alipay signed for this order, whose
					// body (accepted at create before issue 15) plants fields naming the
					// other order, re-parsed into a notice for the other order.
					add("resplit_other_order", resplit(t, signNotice(t, k.alipay, with("body", resplitBody(p, other.id)), "utf-8"), other.id), http.StatusConflict)
				}
				add("replayed_onto_other_order", enc(with(idField, other.id)), http.StatusBadRequest)
				add("replayed_resigned_other_order", resign(with(idField, other.id)), http.StatusConflict)
				add("wrong_app_id_resigned", resign(with("app_id", "2021000000009999")), http.StatusConflict)
				add("wrong_amount_resigned", resign(with(amountField, (o.amount+1).String())), http.StatusConflict)
				add("wrong_seller_resigned", resign(with(sellerField, "2088000000009999")), http.StatusConflict)
				add("unknown_order_resigned", resign(with(idField, "ADVUNKNOWN"+fmt.Sprint(rng.IntN(1e6)))), http.StatusConflict)
				for range 3 {
					add("truncated", body[:1+rng.IntN(len(body)-2)], http.StatusBadRequest)
				}
				pad := strings.Repeat("a", 65<<10)
				add("oversized", append(append([]byte(nil), body...), "&zz_pad="+pad...), http.StatusRequestEntityTooLarge)
				add("oversized_resigned", resign(with("zz_pad", pad)), http.StatusRequestEntityTooLarge)
				add("invalid_charset_name", []byte(strings.Replace(string(body), "charset=utf-8", "charset=latin1", 1)), http.StatusBadRequest)
				add("invalid_gbk_bytes", []byte(strings.Replace(string(body), "charset=utf-8", "charset=gbk", 1)+"&zz_note=%81%20%FF"), http.StatusBadRequest)
				add("invalid_utf8_bytes", append(append([]byte(nil), body...), "&zz_note=%C3%28"...), http.StatusBadRequest)
				add("duplicate_key_other_value", append(append([]byte(nil), body...), "&"+idField+"="+other.id...), http.StatusBadRequest)
				add("duplicate_key_same_value", append(append([]byte(nil), body...), "&notify_id="+p["notify_id"]...), http.StatusBadRequest)
				for range 2 {
					g := make([]byte, 1+rng.IntN(2048))
					_, _ = rand.Read(g)
					add("garbage", g, http.StatusBadRequest)
				}
				add("sign_type_rsa", enc(with("sign_type", "RSA")), http.StatusBadRequest)
				rsa1 := rsa1Sign(t, k.alipay, p)
				add("rsa1_signature_as_rsa", enc(with("sign", rsa1, "sign_type", "RSA")), http.StatusBadRequest)
				add("rsa1_signature_as_rsa2", enc(with("sign", rsa1)), http.StatusBadRequest)
				noSign := cloneParams(p)
				delete(noSign, "sign")
				add("missing_sign", enc(noSign), http.StatusBadRequest)
				add("blank_sign", enc(with("sign", " ")), http.StatusBadRequest)
				noType := cloneParams(p)
				delete(noType, "sign_type")
				add("missing_sign_type", enc(noType), http.StatusBadRequest)
				out = append(out,
					attack{category: "wrong_content_type", ct: jsonCT, body: body, want: http.StatusUnsupportedMediaType},
					attack{category: "wrong_content_type", ct: "text/plain", body: body, want: http.StatusUnsupportedMediaType})
			}
		}
	}
	return out
}

// tamper changes one field's value the way an attacker would: a better status, another
// notice type, one digit or one character.
func tamper(key, v string) string {
	switch key {
	case "trade_status":
		if v == string(alipay.TradeStatusFinished) {
			return string(alipay.TradeStatusClosed)
		}
		return string(alipay.TradeStatusFinished)
	case "status":
		return "CLOSED"
	case "notify_type":
		if v == string(alipay.KindTradeStatus) {
			return string(alipay.KindFundAuth)
		}
		return string(alipay.KindTradeStatus)
	case "sign":
		c := []byte(v)
		i := len(c) / 2
		switch {
		case c[i] != 'A':
			c[i] = 'A'
		default:
			c[i] = 'B'
		}
		return string(c)
	}
	if v == "" {
		return "x"
	}
	last := v[len(v)-1]
	if '0' <= last && last <= '8' {
		return v[:len(v)-1] + string(last+1)
	}
	if last == '9' {
		return v[:len(v)-1] + "0"
	}
	return v + "x"
}

// rsa1Sign signs the notice content with SHA-1 (sign_type RSA), a downgrade we refuse.
func rsa1Sign(t *testing.T, k *alipay.PrivateKey, p map[string]string) string {
	t.Helper()
	sum := sha1.Sum([]byte(alipay.NotifySignContent(p)))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.RSA(), crypto.SHA1, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// resplitBody is a body that plants a second notify_id, notify_time, notify_type and
// out_trade_no (other) in the signed content, and "p=" to swallow what follows.
func resplitBody(p map[string]string, other string) string {
	return "x&notify_id=RESPLIT" + other + "&notify_time=" + p["notify_time"] + "&notify_type=trade_status_sync&out_trade_no=" + other + "&p="
}

// resplit re-parses a genuine notice's (a signed body's) content into another parameter set with
// the same content (so the same valid signature), naming other as out_trade_no.
func resplit(t *testing.T, genuineBody []byte, other string) []byte {
	t.Helper()
	form, err := url.ParseQuery(string(genuineBody))
	if err != nil {
		t.Fatal(err)
	}
	genuine := make(map[string]string, len(form))
	for k := range form {
		genuine[k] = form.Get(k)
	}
	content := alipay.NotifySignContent(genuine)
	head := "&out_trade_no=" + other + "&p="
	i := strings.Index(content, head)
	if i < 0 {
		t.Fatalf("content does not hold the planted fields: %.200s", content)
	}
	keys := slices.Sorted(maps.Keys(genuine))
	next := ""
	for _, k := range keys {
		if k > "p" && k != "sign" && k != "sign_type" && genuine[k] != "" {
			next = k
			break
		}
	}
	j := len(content)
	if next != "" {
		j = strings.Index(content[i:], "&"+next+"=") + i
	}
	forged := map[string]string{"p": content[i+len(head) : j]}
	for _, kv := range strings.Split(content[:i+len(head)-len("&p=")], "&") {
		k, v, _ := strings.Cut(kv, "=")
		forged[k] = v
	}
	for _, k := range keys {
		if k > "p" {
			forged[k] = genuine[k]
		}
	}
	if alipay.NotifySignContent(forged) != content {
		t.Fatalf("re-split content differs")
	}
	return encodeNotice(t, forged)
}
