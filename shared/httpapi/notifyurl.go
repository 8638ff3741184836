package httpapi

import (
	"net/http"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// NotifyURL is the notify_url sent to Alipay: the configured one (ALIPAY_NOTIFY_URL,
// recommended in production) or else the notify route on the domain this request came
// in on.
//
// In Lambda that domain is API Gateway's request context (the domain it served the
// request on), always https: request headers (Host, X-Forwarded-*) are the client's to
// forge and are never consulted, or a caller could have Alipay post its notices
// elsewhere. The local server has no such context: it uses the request's Host, over
// http unless it serves TLS itself.
func NotifyURL(r *http.Request, configured string) string {
	if configured != "" {
		return configured
	}
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.DomainName != "" {
		return "https://" + rc.DomainName + NotifyPath
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := strings.TrimSpace(r.Host)
	if host == "" {
		host = r.URL.Host
	}
	return scheme + "://" + host + NotifyPath
}
