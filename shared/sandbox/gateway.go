package sandbox

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

const (
	// maxGatewayBody bounds a gateway request body.
	maxGatewayBody = 256 << 10
	// timestampTolerance is how far a request timestamp may be from China time now.
	timestampTolerance = 15 * time.Minute
	// maxNotifyURL is the length limit of notify_url (§1).
	maxNotifyURL = 256
)

// invalidSignaturePrefix starts the sub_msg of isv.invalid-signature; Alipay appends the
// sign content its gateway built, so a merchant can diff it against their own.
const invalidSignaturePrefix = "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："

// serveGateway is POST /sandbox/gateway.do.
func (s *Simulator) serveGateway(w http.ResponseWriter, r *http.Request) {
	params, rep, ok := s.readGatewayParams(w, r)
	if !ok {
		return
	}
	if rep == nil {
		rep = s.checkCommon(params)
	}
	if rep == nil {
		switch params["method"] {
		case alipay.MethodVoucherCreate:
			rep = s.voucherCreate(params)
		case alipay.MethodFundAuthDetailQuery:
			rep = s.detailQuery(params)
		case alipay.MethodTradeQuery:
			rep = s.tradeQuery(params)
		case alipay.MethodTradeRefund:
			rep = s.tradeRefund(params)
		case alipay.MethodTradeRefundQuery:
			rep = s.tradeRefundQuery(params)
		case alipay.MethodTradeClose:
			rep = s.tradeClose(params)
		case alipay.MethodTradePay:
			rep = s.tradePay(params)
		case alipay.MethodFundAuthUnfreeze:
			rep = s.fundAuthUnfreeze(params)
		case alipay.MethodFundAuthCancel:
			rep = s.fundAuthCancel(params)
		case alipay.MethodAgreementQuery:
			rep = s.agreementQuery(params)
		case alipay.MethodAgreementUnsign:
			rep = s.agreementUnsign(params)
		}
	}
	if rep.node.get("code") != "10000" {
		s.log.Info("sandbox: gateway refused a call", "method", params["method"],
			"code", rep.node.get("code"), "sub_code", rep.node.get("sub_code"))
	}
	s.writeReply(w, r, *rep)
}

// gwError is a gateway-level failure, answered in error_response before dispatch.
func gwError(code, msg, subCode, subMsg string) *reply {
	return &reply{name: alipay.ErrorResponseNode, node: failNode(code, msg, subCode, subMsg)}
}

func invalidParameter(subMsg string) *reply {
	return gwError(code40002, msg40002, "isv.invalid-parameter", subMsg)
}

// readGatewayParams returns the union of the query string and the form body. A
// parameter given twice (twice in one part, or in both) is refused: a gateway cannot
// know which copy was signed. ok is false when an HTTP error was written instead.
func (s *Simulator) readGatewayParams(w http.ResponseWriter, r *http.Request) (params map[string]string, rep *reply, ok bool) {
	params = map[string]string{}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxGatewayBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "Bad Request", http.StatusBadRequest)
		}
		return nil, nil, false
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return params, invalidParameter("查询字符串不是合法的表单编码 (query string is not valid form encoding)"), true
	}
	var body url.Values
	if len(raw) > 0 {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/x-www-form-urlencoded" {
			return params, invalidParameter("Content-Type 必须是 application/x-www-form-urlencoded"), true
		}
		if body, err = url.ParseQuery(string(raw)); err != nil {
			return params, invalidParameter("请求体不是合法的表单编码 (body is not valid form encoding)"), true
		}
	}
	for _, part := range []url.Values{query, body} {
		for k, vs := range part {
			if _, dup := params[k]; dup || len(vs) != 1 {
				return params, invalidParameter("参数重复: " + k), true
			}
			params[k] = vs[0]
		}
	}
	return params, nil, true
}

// checkCommon applies the gateway's checks of the common parameters (§1, §2, §10) and
// verifies the signature. nil means the request may be dispatched.
func (s *Simulator) checkCommon(p map[string]string) *reply {
	for _, m := range []struct{ key, sub, msg string }{
		{"app_id", "isv.missing-app-id", "缺少AppID参数"},
		{"method", "isv.missing-method", "缺少方法名参数"},
		{"sign_type", "isv.missing-signature-type", "缺少签名类型参数"},
		{"sign", "isv.missing-signature", "缺少签名参数"},
		{"timestamp", "isv.missing-timestamp", "缺少时间戳参数"},
		{"version", "isv.missing-version", "缺少版本参数"},
	} {
		if blank(p[m.key]) {
			return gwError(code40001, msg40001, m.sub, m.msg)
		}
	}
	if p["app_id"] != s.appID {
		return gwError(code40002, msg40002, "isv.invalid-app-id", "无效的AppID参数")
	}
	switch p["method"] {
	case alipay.MethodVoucherCreate, alipay.MethodFundAuthDetailQuery, alipay.MethodTradeQuery,
		alipay.MethodTradeRefund, alipay.MethodTradeRefundQuery, alipay.MethodTradeClose,
		alipay.MethodTradePay, alipay.MethodFundAuthUnfreeze, alipay.MethodFundAuthCancel,
		alipay.MethodAgreementQuery, alipay.MethodAgreementUnsign:
	case alipay.MethodTradeAppPay:
		return gwError(code40002, msg40002, "isv.invalid-method",
			"alipay.trade.app.pay 不能通过网关调用，请在客户端使用 orderStr (POST /sandbox/orders/pay)")
	default:
		return gwError(code40002, msg40002, "isv.invalid-method", "不存在的方法名")
	}
	if p["sign_type"] != alipay.SignType {
		return gwError(code40002, msg40002, "isv.invalid-signature-type", "无效的签名类型参数 (only RSA2 is simulated)")
	}
	if !strings.EqualFold(p["charset"], alipay.Charset) {
		return gwError(code40002, msg40002, "isv.invalid-charset", "字符集错误 (charset must be utf-8)")
	}
	if f := p["format"]; !blank(f) && !strings.EqualFold(f, "JSON") {
		return gwError(code40002, msg40002, "isv.invalid-format", "无效的数据格式参数")
	}
	if p["version"] != alipay.Version {
		return invalidParameter("version 必须是 1.0")
	}
	ts := p["timestamp"]
	t, err := time.ParseInLocation(alipay.TimestampLayout, ts, alipay.ChinaTime)
	if err != nil || len(ts) != len(alipay.TimestampLayout) || absDuration(s.clock().Sub(t)) > timestampTolerance {
		return gwError(code40002, msg40002, "isv.invalid-timestamp",
			"非法的时间戳参数 (yyyy-MM-dd HH:mm:ss, China time, within 15 minutes of "+alipay.FormatTimestamp(s.clock())+")")
	}
	if u := p["notify_url"]; !blank(u) && !validURL(u, maxNotifyURL) {
		return invalidParameter("notify_url 必须是不超过256个字符的 http 或 https 绝对地址")
	}
	if !blank(p["encrypt_type"]) {
		return gwError(code40002, msg40002, "isv.invalid-encrypt", "应用未开启接口内容加密 (AES is not simulated)")
	}
	if !blank(p["app_auth_token"]) {
		return gwError(code20001, msg20001, "aop.invalid-app-auth-token", "无效的应用授权令牌 (ISV calls are not simulated)")
	}
	content := alipay.SignContent(p)
	if err := s.appKey.Verify([]byte(content), p["sign"]); err != nil {
		return gwError(code40002, msg40002, "isv.invalid-signature", invalidSignaturePrefix+content)
	}
	return nil
}

func blank(v string) bool { return strings.TrimSpace(v) == "" }

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// validURL reports whether v is an absolute http(s) URL of at most max characters.
func validURL(v string, max int) bool {
	if len([]rune(v)) > max {
		return false
	}
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
