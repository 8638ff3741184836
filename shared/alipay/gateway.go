package alipay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of a Client.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMaxReplyBytes = 1 << 20
)

// gwContentType is what the Java SDK sends (§3).
const gwContentType = "application/x-www-form-urlencoded;charset=" + Charset

// Client calls the Alipay OpenAPI v1 gateway. It holds no credentials (they are passed
// per call, so a rotation needs no new client) and is safe for concurrent use.
type Client struct {
	gatewayURL string
	http       *http.Client
	timeout    time.Duration
	maxReply   int64
	clock      func() time.Time
	// certs holds Alipay certificates downloaded after a rotation (§7.4).
	certs certCache
	// hook observes every call's outcome (metrics), so every method is covered.
	hook func(method string, err error)
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient sets the HTTP client (transport, proxies). The default client does not
// follow redirects: a redirected call is an unknown outcome, not a silent GET.
func WithHTTPClient(h *http.Client) ClientOption {
	return func(cl *Client) {
		if h != nil {
			cl.http = h
		}
	}
}

// WithTimeout bounds one gateway call (request and reply); non-positive values keep the
// default of 10s. A shorter deadline on the call's context wins.
func WithTimeout(d time.Duration) ClientOption {
	return func(cl *Client) {
		if d > 0 {
			cl.timeout = d
		}
	}
}

// WithMaxReplyBytes bounds the reply body; a longer reply is an unknown outcome.
// Non-positive values keep the default of 1 MiB.
func WithMaxReplyBytes(n int64) ClientOption {
	return func(cl *Client) {
		if n > 0 {
			cl.maxReply = n
		}
	}
}

// WithCertDownloadInterval spaces retries of one unknown Alipay certificate's SN after
// a download that failed without a verdict (see ResolveAlipayCert); zero allows
// back-to-back downloads, negative values keep the default of 10s.
func WithCertDownloadInterval(d time.Duration) ClientOption {
	return func(cl *Client) {
		if d >= 0 {
			cl.certs.interval = d
		}
	}
}

// WithCallHook sets a function told the method and result of every Execute (nil error:
// success; else one of Execute's three kinds, see OutcomeClass). It runs on the
// caller's goroutine after the call and must not block.
func WithCallHook(h func(method string, err error)) ClientOption {
	return func(cl *Client) { cl.hook = h }
}

// Outcome classes of a gateway call (OutcomeClass).
const (
	ClassSuccess       = "success"
	ClassBusinessError = "business_error"
	ClassUnknown       = "unknown"
	ClassNotSent       = "not_sent"
)

// OutcomeClass names the kind of Execute's result: success, business_error (a verified
// refusal), unknown (ErrUnknownOutcome) or not_sent.
func OutcomeClass(err error) string {
	var be *BusinessError
	switch {
	case err == nil:
		return ClassSuccess
	case errors.As(err, &be):
		return ClassBusinessError
	case errors.Is(err, ErrUnknownOutcome):
		return ClassUnknown
	}
	return ClassNotSent
}

// WithClock sets the clock used for request timestamps.
func WithClock(now func() time.Time) ClientOption {
	return func(cl *Client) {
		if now != nil {
			cl.clock = now
		}
	}
}

// NewClient returns a client for the gateway at gatewayURL (e.g.
// https://openapi.alipay.com/gateway.do). The URL is checked by each call.
func NewClient(gatewayURL string, opts ...ClientOption) *Client {
	cl := &Client{
		gatewayURL: gatewayURL,
		http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		timeout:  DefaultTimeout,
		maxReply: DefaultMaxReplyBytes,
		clock:    time.Now,
		certs:    certCache{interval: DefaultCertDownloadInterval, refusalTTL: DefaultCertRefusalTTL},
	}
	for _, o := range opts {
		o(cl)
	}
	return cl
}

// CallOptions are the optional parts of one call.
type CallOptions struct {
	NotifyURL, AppAuthToken string
	// Encrypt sends biz_content AES-encrypted (§11).
	Encrypt bool
	// Refresh, when set, is called at most once if the reply's signature does not verify
	// or names an unknown alipay_cert_sn; the same reply bytes are then verified with the
	// credentials it returns (Alipay rotated its key or certificate).
	Refresh func(context.Context) (*Credentials, error)
}

// BusinessError is a verified, definite refusal: Alipay processed the call (40004 with a
// business sub_code) or rejected it for a configuration reason (see Configuration).
// Nothing changed on Alipay's side.
type BusinessError struct {
	Code, Msg, SubCode, SubMsg string
}

func (e *BusinessError) Error() string {
	return fmt.Sprintf("alipay: business error: code %s, sub_code %s", e.Code, e.SubCode)
}

// Configuration reports whether the refusal is our or the merchant's configuration
// problem (20001 token, 40001 missing, 40002 invalid arguments, 40006 permissions)
// rather than a business refusal: do not retry unchanged, alert.
func (e *BusinessError) Configuration() bool {
	switch e.Code {
	case "20001", "40001", "40002", "40006":
		return true
	}
	return false
}

// ErrUnknownOutcome matches (errors.Is) every *UnknownOutcomeError.
var ErrUnknownOutcome = errors.New("alipay: outcome unknown")

// UnknownOutcomeError means the call may or may not have taken effect: timeouts,
// transport errors, non-200 statuses, unreadable or unverifiable replies, 20000 and
// system-error sub_codes. Retry with the same identifiers or query; never report
// success or failure on it. Code and SubCode are set when a reply said so.
type UnknownOutcomeError struct {
	Reason        string
	Code, SubCode string
	Err           error
}

func (e *UnknownOutcomeError) Error() string {
	var b strings.Builder
	b.WriteString("alipay: outcome unknown: ")
	b.WriteString(e.Reason)
	if e.Code != "" || e.SubCode != "" {
		fmt.Fprintf(&b, " (code %s, sub_code %s)", e.Code, e.SubCode)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnknownOutcome) true.
func (e *UnknownOutcomeError) Is(target error) bool { return target == ErrUnknownOutcome }

// Reasons of UnknownOutcomeError.
const (
	gwReasonTimeout        = "timeout"
	gwReasonCanceled       = "canceled"
	gwReasonTransport      = "transport error"
	gwReasonStatus         = "http status"
	gwReasonTooLarge       = "reply too large"
	gwReasonMalformed      = "malformed reply"
	gwReasonDuplicate      = "duplicate response node"
	gwReasonBadSignature   = "bad signature"
	gwReasonUnsigned       = "unsigned reply"
	gwReasonUnsignedFail   = "unsigned failure reply"
	gwReasonUnknownCertSN  = "unknown alipay_cert_sn"
	gwReasonVerify         = "reply not verified"
	gwReasonRefresh        = "credentials refresh failed"
	gwReasonUnavailable    = "service unavailable"
	gwReasonSystemError    = "system error"
	gwReasonUnrecognised   = "unrecognised code"
	gwReasonMisplacedReply = "success outside the method node"
	gwReasonContradictory  = "success with a sub_code"
)

// Execute sends one signed request for method and returns the verified reply of a
// successful call (code 10000). Every other result is an error of exactly one kind:
//   - *BusinessError: verified definite refusal;
//   - *UnknownOutcomeError (errors.Is ErrUnknownOutcome): may or may not have happened;
//   - any other error: the request was not sent (bad credentials, method or URL).
//
// In certificate mode a reply naming an alipay_cert_sn that neither c nor the refreshed
// credentials hold is verified with that certificate once ResolveAlipayCert has
// downloaded and validated it.
//
// The caller must still match the identifiers in Reply.Node against its request.
func (cl *Client) Execute(ctx context.Context, c *Credentials, method, bizContent string, opts CallOptions) (*Reply, error) {
	r, err := cl.execute(ctx, c, method, bizContent, opts)
	if cl.hook != nil {
		cl.hook(method, err)
	}
	return r, err
}

func (cl *Client) execute(ctx context.Context, c *Credentials, method, bizContent string, opts CallOptions) (*Reply, error) {
	raw, err := cl.gwSend(ctx, c, method, bizContent, opts)
	if err != nil {
		return nil, err
	}
	r, sr, err := respVerify(raw, method, c)
	if err != nil && opts.Refresh != nil && (errors.Is(err, ErrBadSignature) || errors.Is(err, ErrUnknownCertSN)) {
		fresh, rerr := opts.Refresh(ctx)
		if rerr == nil && fresh == nil {
			rerr = errors.New("refresh returned no credentials")
		}
		if rerr != nil {
			return nil, &UnknownOutcomeError{Reason: gwReasonRefresh, Err: errors.Join(err, rerr)}
		}
		c = fresh
		r, sr, err = respVerify(raw, method, c)
	}
	if err != nil && errors.Is(err, ErrUnknownCertSN) && c.CertMode() && sr.CertSN != "" {
		// Alipay rotated its certificate and the secret does not have it yet (§7.4).
		resolved, rerr := cl.certResolve(ctx, laneReply, c, sr.CertSN)
		if rerr != nil {
			return nil, &UnknownOutcomeError{Reason: gwReasonUnknownCertSN, Err: rerr}
		}
		r, sr, err = respVerify(raw, method, resolved)
	}
	if err != nil {
		return nil, gwVerifyFailure(err)
	}
	if err := gwClassify(r, sr.NodeName); err != nil {
		return nil, err
	}
	return r, nil
}

// gwSend signs and posts one request and returns the raw reply, unverified.
func (cl *Client) gwSend(ctx context.Context, c *Credentials, method, bizContent string, opts CallOptions) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	params, err := BuildRequest(c, method, bizContent, RequestOptions{
		NotifyURL:    opts.NotifyURL,
		AppAuthToken: opts.AppAuthToken,
		Now:          cl.clock(),
		Encrypt:      opts.Encrypt,
	})
	if err != nil {
		return nil, err
	}
	query, body := EncodeRequest(params)
	endpoint, err := gwEndpoint(cl.gatewayURL, query)
	if err != nil {
		return nil, err
	}
	return cl.gwPost(ctx, endpoint, body)
}

func gwEndpoint(gateway, query string) (string, error) {
	u, err := url.Parse(gateway)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("alipay: gateway url %q is not an absolute http(s) URL", gateway)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + query
	} else {
		u.RawQuery = query
	}
	return u.String(), nil
}

// gwPost sends the request and returns the raw reply bytes, which verification needs
// untouched (§3, §5).
func (cl *Client) gwPost(ctx context.Context, endpoint, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("alipay: build http request: %w", err)
	}
	req.Header.Set("Content-Type", gwContentType)
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, gwTransportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; the body is not reported.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, &UnknownOutcomeError{Reason: fmt.Sprintf("%s %d", gwReasonStatus, resp.StatusCode)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, cl.maxReply+1))
	if err != nil {
		return nil, gwTransportError(ctx, err)
	}
	if int64(len(raw)) > cl.maxReply {
		return nil, &UnknownOutcomeError{Reason: fmt.Sprintf("%s (over %d bytes)", gwReasonTooLarge, cl.maxReply)}
	}
	return raw, nil
}

func gwTransportError(ctx context.Context, err error) error {
	// The *url.Error text repeats the request URL with its signed query; keep only the
	// operation and the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	reason := gwReasonTransport
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		reason = gwReasonTimeout
	case errors.Is(ctx.Err(), context.Canceled):
		reason = gwReasonCanceled
	}
	return &UnknownOutcomeError{Reason: reason, Err: err}
}

func gwVerifyFailure(err error) error {
	var uf *UnsignedFailureError
	if errors.As(err, &uf) {
		// Unauthenticated: it could be forged, so it cannot prove nothing happened.
		return &UnknownOutcomeError{Reason: gwReasonUnsignedFail, Code: uf.Code, SubCode: uf.SubCode, Err: err}
	}
	reason := gwReasonVerify
	switch {
	case errors.Is(err, ErrReplyDuplicateNode):
		reason = gwReasonDuplicate
	case errors.Is(err, ErrReplyMalformed):
		reason = gwReasonMalformed
	case errors.Is(err, ErrReplyUnsigned):
		reason = gwReasonUnsigned
	case errors.Is(err, ErrUnknownCertSN):
		reason = gwReasonUnknownCertSN
	case errors.Is(err, ErrBadSignature):
		reason = gwReasonBadSignature
	}
	return &UnknownOutcomeError{Reason: reason, Err: err}
}

// gwSystemError reports sub_codes that mean "Alipay had a problem; the outcome is
// unknown": SYSTEM_ERROR, ACQ.SYSTEM_ERROR, isp.unknow-error, aop.unknow-error, ...
func gwSystemError(subCode string) bool {
	s := strings.ToUpper(subCode)
	for _, suffix := range []string{"SYSTEM_ERROR", "SYSTEM-ERROR", "UNKNOW-ERROR", "UNKNOWN-ERROR", "UNKNOW_ERROR", "UNKNOWN_ERROR"} {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}

// gwClassify turns a verified reply into nil (success) or a typed error (§9.1).
func gwClassify(r *Reply, nodeName string) error {
	unknown := func(reason string) error {
		return &UnknownOutcomeError{Reason: reason, Code: r.Code, SubCode: r.SubCode}
	}
	if gwSystemError(r.SubCode) {
		return unknown(gwReasonSystemError)
	}
	switch r.Code {
	case "10000":
		// A success must come in the method's own node and say nothing else; anything
		// contradictory is resolved by a query, not guessed.
		if nodeName == ErrorResponseNode {
			return unknown(gwReasonMisplacedReply)
		}
		if r.SubCode != "" {
			return unknown(gwReasonContradictory)
		}
		return nil
	case "20000":
		return unknown(gwReasonUnavailable)
	case "40004", "20001", "40001", "40002", "40006":
		return &BusinessError{Code: r.Code, Msg: r.Msg, SubCode: r.SubCode, SubMsg: r.SubMsg}
	}
	return unknown(gwReasonUnrecognised)
}
