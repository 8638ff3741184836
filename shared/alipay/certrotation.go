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

// DefaultCertDownloadInterval spaces downloads of certificates not in the cache. A
// rotation brings one new SN, fetched once; without a bound, notifications forged with
// made-up SNs would each spend a call to Alipay.
const DefaultCertDownloadInterval = 10 * time.Second

// ErrCertDownloadLimited means a download was skipped because another one started less
// than the client's download interval ago: a transient condition, the caller retries later.
var ErrCertDownloadLimited = errors.New("alipay: certificate download rate-limited")

// certCacheKey ties a downloaded certificate to the root bundle (alipay_root_cert_sn)
// that validated it, so credentials trusting other roots never use it.
type certCacheKey struct{ rootSN, certSN string }

// certCache holds the PEM of downloaded, validated Alipay certificates. The zero value
// is ready to use.
type certCache struct {
	mu    sync.Mutex
	pems  map[certCacheKey][]byte
	order []certCacheKey // insertion order, for eviction
	sf    singleflight.Group
	// interval spaces downloads; last is when the last one started.
	interval time.Duration
	last     time.Time
}

// allowDownload reports whether a download may start at now, and records it if so.
func (cc *certCache) allowDownload(now time.Time) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	// A clock that went backwards does not block downloads.
	if !cc.last.IsZero() && !now.Before(cc.last) && now.Sub(cc.last) < cc.interval {
		return false
	}
	cc.last = now
	return true
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

func (cc *certCache) size() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.pems)
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
// certificate certSN (§7.4). In key mode, or when c already holds certSN, it returns c.
// Otherwise it returns a copy of c that also holds the certificate, taken from the
// client's cache or downloaded with alipay.open.app.alipaycert.download. A downloaded
// certificate is used only if its SN is certSN, it chains to c's root bundle and it is
// valid at the client's clock; the download reply's own signature is not checked (it
// is made with the very certificate being fetched), trust comes from that chain check.
// Concurrent resolutions of one SN share one download.
//
// Every failure wraps ErrUnknownCertSN and its cause: an *UnknownOutcomeError or
// *BusinessError of the download, ErrBadCert for a certificate that does not validate,
// ErrReplyMalformed for unusable content, or ErrCertDownloadLimited when a download ran
// less than 10 s ago. Nothing is cached on failure.
func (cl *Client) ResolveAlipayCert(ctx context.Context, c *Credentials, certSN string) (*Credentials, error) {
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
	ch := cl.certs.sf.DoChan(key.rootSN+"/"+certSN, func() (any, error) {
		return cl.certFetch(dctx, c, key)
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

// certFetch downloads and validates the certificate key.certSN and caches it.
func (cl *Client) certFetch(ctx context.Context, c *Credentials, key certCacheKey) ([]byte, error) {
	if !cl.certs.allowDownload(cl.clock()) {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnknownCertSN, key.certSN, ErrCertDownloadLimited)
	}
	pemData, err := cl.certDownload(ctx, c, key.certSN)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %w", ErrUnknownCertSN, key.certSN, MethodCertDownload, err)
	}
	if _, err := cl.certApply(c, key.certSN, pemData); err != nil {
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
