package sandbox

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// notifyContentType is the Content-Type of notification POSTs.
const notifyContentType = "application/x-www-form-urlencoded; charset=utf-8"

// maxLoggedReply bounds the part of a notify endpoint's reply kept in the log.
const maxLoggedReply = 256

// Notification is a notification the simulator sent: its signed parameters (sign and
// sign_type included) and where it went. URL is empty when the originating request
// named no notify_url; such a notification is not delivered.
type Notification struct {
	NotifyID   string            `json:"notify_id"`
	NotifyType string            `json:"notify_type"`
	URL        string            `json:"url"`
	Params     map[string]string `json:"params"`
	// Body is the exact form-encoded body POSTed.
	Body string `json:"body"`
}

// Delivery is one delivery attempt of a notification.
type Delivery struct {
	NotifyID   string    `json:"notify_id"`
	NotifyType string    `json:"notify_type"`
	URL        string    `json:"url"`
	Attempt    int       `json:"attempt"`
	StatusCode int       `json:"status_code,omitempty"`
	Reply      string    `json:"reply,omitempty"`
	Error      string    `json:"error,omitempty"`
	Acked      bool      `json:"acknowledged"`
	Time       time.Time `json:"time"`
}

// Deliveries returns the delivery log, oldest first (at most the last 10000 attempts).
func (s *Simulator) Deliveries() []Delivery {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return append([]Delivery(nil), s.deliveryQ...)
}

// noticeHeader returns the fields every notification carries.
func (s *Simulator) noticeHeader(kind alipay.NotifyKind, now time.Time) map[string]string {
	return map[string]string{
		"notify_type": string(kind),
		"notify_id":   notifyID(now),
		"notify_time": alipay.FormatTimestamp(now),
		"app_id":      s.appID,
		"auth_app_id": s.appID,
		"charset":     alipay.Charset,
		"version":     alipay.Version,
	}
}

// notifyID is unique per notification and kept across its resends (§8.8).
func notifyID(now time.Time) string {
	b := make([]byte, 21)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return now.In(alipay.ChinaTime).Format("20060102") + "00222" + string(b)
}

// reserveDeliveries refuses a control call before it changes anything when the
// simulator is closed or n more notifications would exceed the pending bound.
func (s *Simulator) reserveDeliveries(n int) *controlError {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.closed {
		return unavailable("SIMULATOR_CLOSED", "the simulator is closed")
	}
	if s.pending+n > maxPendingNotifications {
		return unavailable("TOO_MANY_PENDING_NOTIFICATIONS", "too many notifications are still being delivered; retry later")
	}
	return nil
}

// send signs params (§8.2 content, RSA2, Alipay key), encodes them and starts their
// delivery to url. It returns what was sent.
func (s *Simulator) send(url string, params map[string]string) Notification {
	return s.sendAfter(url, params, 0)
}

// sendAfter is send with the first delivery delay later (a refund Alipay settles
// asynchronously notifies after its reply).
func (s *Simulator) sendAfter(url string, params map[string]string, delay time.Duration) Notification {
	n, err := SignNotification(s.alipayKey, params, alipay.Charset)
	if err != nil {
		// Signing UTF-8 text with a valid in-memory key cannot fail; a notification
		// without a sign would be rejected by the merchant, which is the observable
		// truth here.
		s.log.Error("sandbox: sign notification", "err", err)
	}
	n.URL = url
	if url == "" {
		s.log.Info("sandbox: notification not delivered: the request named no notify_url",
			"notify_id", n.NotifyID, "notify_type", n.NotifyType)
		return n
	}
	s.dmu.Lock()
	if s.closed {
		s.dmu.Unlock()
		return n
	}
	if s.pending == 0 {
		s.idle = make(chan struct{})
	}
	s.pending++
	s.wg.Add(1)
	s.dmu.Unlock()
	go s.deliver(n, delay)
	return n
}

// deliver POSTs n until it is acknowledged with "success" or the schedule is used up.
func (s *Simulator) deliver(n Notification, delay time.Duration) {
	defer func() {
		s.dmu.Lock()
		s.pending--
		if s.pending == 0 {
			close(s.idle)
		}
		s.dmu.Unlock()
		s.wg.Done()
	}()
	for attempt := 1; attempt <= len(s.schedule)+1; attempt++ {
		if wait := delay; attempt > 1 || wait > 0 {
			if attempt > 1 {
				wait = s.schedule[attempt-2]
			}
			t := time.NewTimer(wait)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if s.attempt(n, attempt) || s.ctx.Err() != nil {
			return
		}
	}
	s.log.Warn("sandbox: notification never acknowledged; giving up",
		"notify_id", n.NotifyID, "url", n.URL, "deliveries", len(s.schedule)+1)
}

// attempt makes one delivery and logs it; it reports whether the endpoint answered
// 200 with exactly "success" (§8.4).
func (s *Simulator) attempt(n Notification, attempt int) bool {
	d := Delivery{NotifyID: n.NotifyID, NotifyType: n.NotifyType, URL: n.URL, Attempt: attempt, Time: time.Now()}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, n.URL, strings.NewReader(n.Body))
	if err == nil {
		req.Header.Set("Content-Type", notifyContentType)
		var resp *http.Response
		if resp, err = s.httpClient.Do(req); err == nil {
			var body []byte
			body, err = io.ReadAll(io.LimitReader(resp.Body, maxLoggedReply+1))
			resp.Body.Close()
			d.StatusCode = resp.StatusCode
			d.Acked = err == nil && resp.StatusCode == http.StatusOK && string(body) == alipay.NotifySuccessReply
			if len(body) > maxLoggedReply {
				body = body[:maxLoggedReply]
			}
			d.Reply = string(body)
		}
	}
	if err != nil {
		d.Error = err.Error()
	}
	s.log.Info("sandbox: notification delivery", "notify_id", d.NotifyID, "notify_type", d.NotifyType,
		"url", d.URL, "attempt", d.Attempt, "status", d.StatusCode, "acknowledged", d.Acked, "err", d.Error)
	s.dmu.Lock()
	if len(s.deliveryQ) >= maxDeliveryLog {
		s.deliveryQ = append(s.deliveryQ[:0], s.deliveryQ[len(s.deliveryQ)-maxDeliveryLog+1:]...)
	}
	s.deliveryQ = append(s.deliveryQ, d)
	s.dmu.Unlock()
	return d.Acked
}

// SignNotification signs params as Alipay signs an asynchronous notification and
// returns it with the form body Alipay POSTs: the sign content is every parameter but
// sign and sign_type, blanks dropped, sorted (§8.2), its bytes in charset, signed RSA2
// with key (Alipay's); the body is EncodeNotification's (§8.1). charset is "utf-8" (or
// empty), "gbk" or "gb18030"; params["charset"], which tells the merchant how to decode,
// is the caller's to set. params is not modified. The simulator delivers what this
// returns, and tests sign their own notices with it. On an error the notification is
// returned unsigned.
func SignNotification(key *alipay.PrivateKey, params map[string]string, charset string) (Notification, error) {
	p := maps.Clone(params)
	if p == nil {
		p = map[string]string{}
	}
	delete(p, "sign")
	delete(p, "sign_type")
	sign, err := notificationSign(key, p, charset)
	if err == nil {
		p["sign"], p["sign_type"] = sign, alipay.SignType
	}
	body, encErr := EncodeNotification(p, charset)
	return Notification{NotifyID: p["notify_id"], NotifyType: p["notify_type"], Params: p, Body: string(body)},
		errors.Join(err, encErr)
}

// notificationSign is the RSA2 signature of params' notification sign content (§8.2)
// in charset.
func notificationSign(key *alipay.PrivateKey, params map[string]string, charset string) (string, error) {
	content, err := alipay.EncodeCharset(orUTF8(charset), alipay.NotifySignContent(params))
	if err != nil {
		return "", fmt.Errorf("sandbox: notification sign content in %s: %w", charset, err)
	}
	sign, err := key.Sign(content)
	if err != nil {
		return "", fmt.Errorf("sandbox: sign notification: %w", err)
	}
	return sign, nil
}

// EncodeNotification returns the form body of params as they are (sign included, or
// tampered with by a test): keys sorted, every key and value converted to charset's
// bytes and encoded like java.net.URLEncoder (§8.1).
func EncodeNotification(params map[string]string, charset string) ([]byte, error) {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(params)) {
		v, err := alipay.EncodeCharset(orUTF8(charset), params[k])
		if err != nil {
			return nil, fmt.Errorf("sandbox: notification parameter %s in %s: %w", k, charset, err)
		}
		if i > 0 {
			b.WriteByte('&')
		}
		javaURLEncode(&b, k)
		b.WriteByte('=')
		javaURLEncode(&b, string(v))
	}
	return []byte(b.String()), nil
}

func orUTF8(charset string) string {
	if charset == "" {
		return alipay.Charset
	}
	return charset
}

// javaURLEncode is java.net.URLEncoder.encode(s, "UTF-8"): A-Z a-z 0-9 * - . _ stay,
// space becomes +, every other byte %XX with upper-case hex.
func javaURLEncode(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '*', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}

// serveDeliveries is GET /sandbox/deliveries[?notify_id=...].
func (s *Simulator) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	all := s.Deliveries()
	if id := r.URL.Query().Get("notify_id"); id != "" {
		kept := all[:0]
		for _, d := range all {
			if d.NotifyID == id {
				kept = append(kept, d)
			}
		}
		all = kept
	}
	s.dmu.Lock()
	pending := s.pending
	s.dmu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"pending": pending, "deliveries": all})
}
