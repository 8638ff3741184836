package alipay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// certCacheMax bounds the downloaded certificates a Client keeps. Alipay replaces its
// certificate every few years, so a handful covers every SN in use; the oldest goes first.
const certCacheMax = 8

// DefaultCertDownloadInterval spaces downloads of one SN after a download that failed
// without a verdict (timeout, 20000, unreadable reply): the caller retries later rather
// than every request calling Alipay again. Other SNs are not delayed.
const DefaultCertDownloadInterval = 10 * time.Second

// DefaultCertRefusalTTL is how long an SN named by an unverified notification is
// answered from memory after Alipay refused it (or served a certificate we refuse): a
// forged notice sent again costs no download.
const DefaultCertRefusalTTL = 10 * time.Minute

// certSNStateMax bounds the per-SN memory of each lane (attempt times and refusals), so
// a flood of made-up SNs cannot grow it: the oldest entry makes room for a new one.
const certSNStateMax = 1024

// ErrCertDownloadLimited means a download of this SN was skipped because one failed
// without a verdict less than the client's download interval ago: a transient
// condition, the caller retries later.
var ErrCertDownloadLimited = errors.New("alipay: certificate download rate-limited")

// certCacheKey ties a downloaded certificate to the root bundle (alipay_root_cert_sn)
// that validated it, so credentials trusting other roots never use it.
type certCacheKey struct{ rootSN, certSN string }

// certLane separates downloads by who named the SN. Replies to our own calls come from
// the gateway over TLS; notifications are unverified input until the certificate is
// known. A lane's limits and refusals never touch the other lane, so forged notices
// cannot delay a download a gateway reply needs.
type certLane int

const (
	laneReply certLane = iota
	laneNotify
	certLanes
)

func (l certLane) String() string {
	if l == laneReply {
		return "reply"
	}
	return "notify"
}

// certSNState is what a lane remembers of one SN.
type certSNState struct {
	lastFailure  time.Time // when a download ended without a verdict
	refusal      error     // Alipay's refusal or our rejection of what it served
	refusedUntil time.Time
}

// certSNStates is a bounded map of SN states; when full, the oldest inserted key goes.
type certSNStates struct {
	m    map[certCacheKey]*certSNState
	ring []certCacheKey // insertion order, len <= certSNStateMax
	next int            // the ring slot to overwrite once full
}

func (s *certSNStates) get(k certCacheKey) *certSNState { return s.m[k] }

func (s *certSNStates) put(k certCacheKey) *certSNState {
	if st, ok := s.m[k]; ok {
		return st
	}
	if s.m == nil {
		s.m = make(map[certCacheKey]*certSNState)
	}
	if len(s.ring) < certSNStateMax {
		s.ring = append(s.ring, k)
	} else {
		delete(s.m, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % certSNStateMax
	}
	st := &certSNState{}
	s.m[k] = st
	return st
}

// certCache holds the PEM of downloaded, validated Alipay certificates (shared by both
// lanes: a certificate that validated is good whoever asked) and each lane's per-SN
// state. The zero value is ready to use.
type certCache struct {
	mu    sync.Mutex
	pems  map[certCacheKey][]byte
	order []certCacheKey // insertion order, for eviction
	sf    singleflight.Group
	// interval spaces retries of one SN after a failure without a verdict; refusalTTL is
	// how long the notify lane remembers a refusal.
	interval   time.Duration
	refusalTTL time.Duration
	states     [certLanes]certSNStates
}

// remembered returns the refusal the lane holds for k at now, or ErrCertDownloadLimited
// when k's last download failed less than interval ago; nil means download.
func (cc *certCache) remembered(lane certLane, k certCacheKey, now time.Time) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	st := cc.states[lane].get(k)
	if st == nil {
		return nil
	}
	// A clock that went backwards ends the waits rather than extending them.
	if st.refusal != nil && now.Before(st.refusedUntil) && !now.Before(st.refusedUntil.Add(-cc.refusalTTL)) {
		return st.refusal
	}
	if !st.lastFailure.IsZero() && !now.Before(st.lastFailure) && now.Sub(st.lastFailure) < cc.interval {
		return fmt.Errorf("%w: %s: %w", ErrUnknownCertSN, k.certSN, ErrCertDownloadLimited)
	}
	return nil
}

// record notes the result of a download of k by lane at now.
func (cc *certCache) record(lane certLane, k certCacheKey, now time.Time, err error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	states := &cc.states[lane]
	if err == nil {
		if st := states.get(k); st != nil {
			*st = certSNState{}
		}
		return
	}
	st := states.put(k)
	var refused *BusinessError
	if lane == laneNotify && cc.refusalTTL > 0 && (errors.As(err, &refused) || errors.Is(err, ErrBadCert)) {
		st.refusal, st.refusedUntil = err, now.Add(cc.refusalTTL)
		return
	}
	st.lastFailure = now
}

func (cc *certCache) get(k certCacheKey) ([]byte, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	p, ok := cc.pems[k]
	return p, ok
}

func (cc *certCache) put(k certCacheKey, pemData []byte) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.pems == nil {
		cc.pems = make(map[certCacheKey][]byte, certCacheMax)
	}
	if _, ok := cc.pems[k]; ok {
		return
	}
	if len(cc.order) == certCacheMax {
		delete(cc.pems, cc.order[0])
		cc.order = append(cc.order[:0], cc.order[1:]...)
	}
	cc.pems[k] = pemData
	cc.order = append(cc.order, k)
}

// certValidSN reports whether sn looks like an SN (§7.1): 32 lower-case hex digits. It
// keeps arbitrary text from a forged notification out of requests and error messages.
func certValidSN(sn string) bool {
	if len(sn) != 32 {
		return false
	}
	for i := 0; i < len(sn); i++ {
		if c := sn[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ResolveAlipayCert makes sure credentials can verify a signature made under the Alipay
// certificate certSN (§7.4), for an SN named by unverified input such as a notification.
// In key mode, or when c already holds certSN, it returns c. Otherwise it returns a copy
// of c that also holds the certificate, taken from the client's cache or downloaded with
// alipay.open.app.alipaycert.download. A downloaded certificate is used only if its SN
// is certSN and WithAlipayCert accepts it (chain to c's root bundle, validity at the
// client's clock, Alipay's issuer and subject); the download reply's own signature is
// not checked (it is made with the very certificate being fetched), trust comes from
// those checks. Concurrent resolutions of one SN share one download.
//
// Limits are per SN, never global, so made-up SNs cannot delay a genuine one: an SN
// whose download failed without a verdict is not downloaded again for the download
// interval (ErrCertDownloadLimited), and an SN Alipay refused (or whose certificate was
// rejected) is answered with that refusal for DefaultCertRefusalTTL without a download.
// Replies to Execute resolve their SN in a lane of their own that these limits and
// refusals never touch.
//
// Every failure wraps ErrUnknownCertSN and its cause: an *UnknownOutcomeError or
// *BusinessError of the download, ErrBadCert for a certificate that does not validate,
// ErrReplyMalformed for unusable content, or ErrCertDownloadLimited.
func (cl *Client) ResolveAlipayCert(ctx context.Context, c *Credentials, certSN string) (*Credentials, error) {
	return cl.certResolve(ctx, laneNotify, c, certSN)
}

func (cl *Client) certResolve(ctx context.Context, lane certLane, c *Credentials, certSN string) (*Credentials, error) {
	if c == nil {
		return nil, errors.New("alipay: resolve alipay_cert_sn: no credentials")
	}
	if !c.CertMode() {
		return c, nil
	}
	if _, ok := c.AlipayCerts[certSN]; ok {
		return c, nil
	}
	switch {
	case certSN == "":
		return nil, fmt.Errorf("%w: no alipay_cert_sn to resolve", ErrUnknownCertSN)
	case !certValidSN(certSN):
		return nil, fmt.Errorf("%w: alipay_cert_sn is not 32 lower-case hex digits", ErrUnknownCertSN)
	case len(c.RootCerts) == 0 || c.AlipayRootCertSN == "":
		return nil, fmt.Errorf("%w: %s: credentials hold no alipay_root_cert to validate a downloaded certificate", ErrUnknownCertSN, certSN)
	}
	key := certCacheKey{rootSN: c.AlipayRootCertSN, certSN: certSN}
	if pemData, ok := cl.certs.get(key); ok {
		return cl.certApply(c, certSN, pemData)
	}
	// The download runs detached from this caller's cancellation (the client timeout
	// still bounds it) because other callers may be waiting for the same result.
	dctx := context.WithoutCancel(ctx)
	ch := cl.certs.sf.DoChan(lane.String()+"/"+key.rootSN+"/"+certSN, func() (any, error) {
		return cl.certFetch(dctx, lane, c, key)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return cl.certApply(c, certSN, res.Val.([]byte))
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s: gave up waiting for the certificate download: %w", ErrUnknownCertSN, certSN, ctx.Err())
	}
}

// certFetch downloads and validates the certificate key.certSN for lane and caches it,
// unless the lane remembers a refusal or a recent failure of that SN.
func (cl *Client) certFetch(ctx context.Context, lane certLane, c *Credentials, key certCacheKey) ([]byte, error) {
	if pemData, ok := cl.certs.get(key); ok {
		return pemData, nil // another lane got it meanwhile
	}
	if err := cl.certs.remembered(lane, key, cl.clock()); err != nil {
		return nil, err
	}
	pemData, err := cl.certDownload(ctx, c, key.certSN)
	if err != nil {
		err = fmt.Errorf("%w: %s: %s: %w", ErrUnknownCertSN, key.certSN, MethodCertDownload, err)
	} else {
		_, err = cl.certApply(c, key.certSN, pemData)
	}
	cl.certs.record(lane, key, cl.clock(), err)
	if err != nil {
		return nil, err
	}
	cl.certs.put(key, pemData)
	return pemData, nil
}

// certApply validates pemData against c's root bundle at the client's clock and returns
// a copy of c holding it, provided its SN is certSN.
func (cl *Client) certApply(c *Credentials, certSN string, pemData []byte) (*Credentials, error) {
	got, sn, err := c.WithAlipayCert(pemData, cl.clock())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: downloaded certificate rejected: %w", ErrUnknownCertSN, certSN, err)
	}
	if sn != certSN {
		return nil, fmt.Errorf("%w: %s: downloaded certificate has SN %s: %w", ErrUnknownCertSN, certSN, sn, ErrBadCert)
	}
	return got, nil
}

// certDownload calls alipay.open.app.alipaycert.download and returns the PEM text of
// alipay_cert_content. It never resolves certificates itself, so it cannot recurse.
func (cl *Client) certDownload(ctx context.Context, c *Credentials, certSN string) ([]byte, error) {
	raw, err := cl.gwSend(ctx, c, MethodCertDownload, `{"alipay_cert_sn":"`+certSN+`"}`, CallOptions{})
	if err != nil {
		return nil, err
	}
	sr, err := ExtractSignedNode(raw, MethodCertDownload)
	if err == nil && sr.Encrypted {
		err = fmt.Errorf("%w: %s is an encrypted string", ErrReplyMalformed, sr.NodeName)
	}
	var h respHeader
	if err == nil {
		h, err = respParseNode(sr.Source)
	}
	if err != nil {
		return nil, gwVerifyFailure(err)
	}
	if err := gwClassify(&Reply{Code: h.Code, Msg: h.Msg, SubCode: h.SubCode, SubMsg: h.SubMsg}, sr.NodeName); err != nil {
		return nil, err
	}
	var node map[string]json.RawMessage
	if err := json.Unmarshal(sr.Source, &node); err != nil {
		return nil, fmt.Errorf("%w: response node is not a JSON object", ErrReplyMalformed)
	}
	content, err := respTopString(node, "alipay_cert_content")
	if err != nil {
		return nil, err
	}
	// Line breaks in the base64 are tolerated, as the Java SDK's decoder does.
	content = strings.Join(strings.Fields(content), "")
	if content == "" {
		return nil, fmt.Errorf("%w: alipay_cert_content is missing", ErrReplyMalformed)
	}
	pemData, err := base64.StdEncoding.DecodeString(content)
	if err != nil {
		return nil, fmt.Errorf("%w: alipay_cert_content is not base64", ErrReplyMalformed)
	}
	return pemData, nil
}
