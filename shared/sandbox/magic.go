package sandbox

import (
	"regexp"
	"strings"
)

// magic is an outcome forced by a marker in order_title or subject (see the package
// documentation).
type magic struct {
	// bizSubCode: a definite business refusal with this sub_code; nothing is recorded.
	bizSubCode string
	// The rest are unknown outcomes; the request takes effect first.
	unavailable bool // 20000 isp.unknow-error
	systemError bool // 40004 SYSTEM_ERROR
	force       force
}

var reMagicBiz = regexp.MustCompile(`SIM_BIZ_([A-Z0-9_.]+)`)

// parseMagic finds the first marker in s, in a fixed order of precedence.
func parseMagic(s string) magic {
	if m := reMagicBiz.FindStringSubmatch(s); m != nil {
		return magic{bizSubCode: m[1]}
	}
	switch {
	case strings.Contains(s, "SIM_HTTP500"):
		return magic{force: forceHTTP500}
	case strings.Contains(s, "SIM_TIMEOUT"):
		return magic{force: forceTimeout}
	case strings.Contains(s, "SIM_BAD_SIGN"):
		return magic{force: forceBadSign}
	case strings.Contains(s, "SIM_20000"):
		return magic{unavailable: true}
	case strings.Contains(s, "SIM_SYSTEM_ERROR"):
		return magic{systemError: true}
	}
	return magic{}
}

// bizSubMsgs are the sub_msg texts of the business sub_codes a test is likely to force;
// others get a generic text.
var bizSubMsgs = map[string]string{
	"ILLEGAL_ARGUMENT":                 "参数有误",
	"UNIQUE_VIOLATION":                 "授权失败，商户订单号重复",
	"EXIST_FORBIDDEN_WORD":             "订单信息中包含违禁词",
	"ACCESS_FORBIDDEN":                 "无权限使用接口",
	"PAYEE_NOT_EXIST":                  "收款方账号不存在",
	"PAYEE_USER_STATUS_LIMIT":          "收款方账户状态受限",
	"PAYER_USER_STATUS_LIMIT":          "付款方账户状态受限",
	"ORDER_ALREADY_FINISH":             "授权失败，本笔授权订单已完结",
	"ORDER_ALREADY_CLOSED":             "授权失败，本笔授权订单已关闭",
	"FREEZE_ALREADY_SUCCESS":           "授权失败，本笔授权订单已冻结成功",
	"ERROR_BALANCE_PAYMENT_DISABLE":    "付款方余额支付功能关闭",
	"SYSTEM_ERROR":                     "系统异常",
	"MONEY_NOT_ENOUGH":                 "账户余额不足",
	"NO_PAYMENT_INSTRUMENTS_AVAILABLE": "没有可用的支付工具",
	"PAYER_PAYEE_EQUAL":                "付款方和收款方不能相同",
	"AUTH_ORDER_NOT_EXIST":             "授权订单不存在",
	"ACQ.TRADE_NOT_EXIST":              "交易不存在",
	"ACQ.INVALID_PARAMETER":            "参数无效",
	"ACQ.SYSTEM_ERROR":                 "系统错误",
}

func bizSubMsg(subCode string) string {
	if m, ok := bizSubMsgs[subCode]; ok {
		return m
	}
	return "业务处理失败 (simulated " + subCode + ")"
}
