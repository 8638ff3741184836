package alipay

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// RequestOptions are the optional parts of a gateway request. Blank NotifyURL and
// AppAuthToken are neither sent nor signed. A zero Now means time.Now().
type RequestOptions struct {
	NotifyURL, AppAuthToken string
	Now                     time.Time
	// Encrypt sends biz_content AES-encrypted with c.EncryptKey (§11).
	Encrypt bool
}

// EncryptTypeAES is the encrypt_type value of an AES-encrypted request.
const EncryptTypeAES = "AES"

// BuildRequest returns the complete signed parameter set of a gateway request (§1, §2):
// the common parameters (cert-mode SNs included), notify_url and app_auth_token when not
// blank, and bizContent exactly as given (the same string is signed and sent). With
// opts.Encrypt the biz_content is encrypted first and encrypt_type=AES added, so the
// signature covers the ciphertext (§11).
func BuildRequest(c *Credentials, method, bizContent string, opts RequestOptions) (map[string]string, error) {
	switch {
	case c == nil:
		return nil, errors.New("alipay: request: no credentials")
	case isBlank(c.AppID):
		return nil, errors.New("alipay: request: credentials: app_id is missing")
	case c.PrivateKey == nil:
		return nil, errors.New("alipay: request: credentials: private_key is missing")
	case isBlank(method):
		return nil, errors.New("alipay: request: method is missing")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := CommonParams(c, method, now)
	p["notify_url"] = opts.NotifyURL
	p["app_auth_token"] = opts.AppAuthToken
	if opts.Encrypt {
		// Asking for encryption and silently sending plaintext would be worse than failing.
		if len(c.EncryptKey) == 0 {
			return nil, errors.New("alipay: request: encryption requested but credentials have no encrypt_key")
		}
		if isBlank(bizContent) {
			return nil, errors.New("alipay: request: encryption requested but biz_content is empty")
		}
		enc, err := EncryptContent(c.EncryptKey, bizContent)
		if err != nil {
			return nil, fmt.Errorf("alipay: request: encrypt biz_content: %w", err)
		}
		bizContent = enc
		p["encrypt_type"] = EncryptTypeAES
	}
	p["biz_content"] = bizContent
	if err := SignParams(c.PrivateKey, p); err != nil {
		return nil, fmt.Errorf("alipay: request: %w", err)
	}
	return p, nil
}

// gwBodyParams are sent in the POST body; every other parameter goes in the query
// string. This is the Node SDK's split (§3); the gateway verifies over the union.
var gwBodyParams = map[string]bool{"biz_content": true, "encrypt_type": true}

// EncodeRequest splits signed parameters into the query string (common parameters and
// sign) and the form body (biz_content, encrypt_type), both form-encoded.
func EncodeRequest(params map[string]string) (query, body string) {
	q, b := url.Values{}, url.Values{}
	for k, v := range params {
		if gwBodyParams[k] {
			b.Set(k, v)
		} else {
			q.Set(k, v)
		}
	}
	return q.Encode(), b.Encode()
}
