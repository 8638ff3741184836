package alipay

// OpenAPI method names. The reply node of each is ResponseNodeName(method) (§4): dots
// become underscores, plus "_response".
const (
	MethodVoucherCreate       = "alipay.fund.auth.order.voucher.create"   // §9.2, §10.1
	MethodFundAuthDetailQuery = "alipay.fund.auth.operation.detail.query" // §9.4
	MethodFundAuthUnfreeze    = "alipay.fund.auth.order.unfreeze"         // L2
	MethodFundAuthCancel      = "alipay.fund.auth.operation.cancel"       // L3
	MethodTradeAppPay         = "alipay.trade.app.pay"                    // §4, §10.2 (order string, never through the gateway)
	MethodTradePay            = "alipay.trade.pay"                        // L1 capture, L9.1 deduction
	MethodTradeQuery          = "alipay.trade.query"                      // L8
	MethodTradeRefund         = "alipay.trade.refund"                     // L4
	MethodTradeRefundQuery    = "alipay.trade.fastpay.refund.query"       // L5
	MethodTradeClose          = "alipay.trade.close"                      // L7
	MethodAgreementQuery      = "alipay.user.agreement.query"             // L9.2
	MethodAgreementUnsign     = "alipay.user.agreement.unsign"            // L9.3
	MethodCertDownload        = "alipay.open.app.alipaycert.download"     // §7.4
)
