package httpapi

import (
	"net/http"
	"strings"
)

// NotifyURL is the notify_url sent to Alipay: the configured one (ALIPAY_NOTIFY_URL) or
// else the notify route on the domain this request came in on. API Gateway is always
// https; the local server is reached over plain http unless a proxy says otherwise.
func NotifyURL(r *http.Request, configured string) string {
	if configured != "" {
		return configured
	}
	scheme := "https"
	if r.TLS == nil && r.URL.Scheme != "https" {
		scheme = "http"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := strings.TrimSpace(r.Host)
	if host == "" {
		host = r.URL.Host
	}
	return scheme + "://" + host + NotifyPath
}
