// Package sandbox simulates the Alipay OpenAPI v1 gateway for the methods this project
// uses, plus the buyer's side (scanning a voucher, paying an order string) and Alipay's
// asynchronous notifications with Alipay-like resends. It serves the local server
// (`make run`), end-to-end tests and demos; it keeps everything in memory.
//
// # Gateway
//
// POST /sandbox/gateway.do reads parameters from the query string and the form body
// (their union; a parameter given twice is refused), checks the common parameters
// (40001 isv.missing-*, 40002 isv.invalid-app-id / -method / -signature-type /
// -charset / -format / -timestamp (not within 15 minutes of China time now) /
// -parameter / -encrypt, 20001 for app_auth_token), verifies the RSA2 signature over
// the request sign content with the app public key (40002 isv.invalid-signature, whose
// sub_msg ends with the sign content the simulator built, as Alipay's does) and
// dispatches:
//
//   - alipay.fund.auth.order.voucher.create: biz_content decoded and validated with the
//     protocol package (40004 ILLEGAL_ARGUMENT). The same out_order_no +
//     out_request_no with the same parameters replays the same code_value; with other
//     parameters, or a new out_request_no with other order parameters, it is
//     UNIQUE_VIOLATION. A new out_request_no with the same order parameters issues a
//     fresh voucher while the order is unpaid (FREEZE_ALREADY_SUCCESS once frozen,
//     ORDER_ALREADY_CLOSED once closed).
//   - alipay.fund.auth.operation.detail.query: by auth_no + operation_id (preferred) or
//     out_order_no + out_request_no; status INIT until scanned, SUCCESS after the
//     freeze, CLOSED after a close; 40004 AUTH_ORDER_NOT_EXIST when unknown.
//   - alipay.trade.query: by trade_no (preferred) or out_trade_no; 40004
//     ACQ.TRADE_NOT_EXIST until the order string was paid, then trade_status etc.
//   - alipay.trade.refund (L4): out_request_no (default out_trade_no) identifies one
//     refund; the same number and amount again moves no money (10000, fund_change N);
//     the same number with another amount is ACQ.DISCORDANT_REPEAT_REQUEST; refunds
//     never exceed the total (ACQ.REASON_TRADE_REFUND_FEE_ERR); TRADE_FINISHED refuses
//     (ACQ.TRADE_HAS_FINISHED), TRADE_CLOSED too (ACQ.TRADE_HAS_CLOSE). A refund replies
//     fund_change Y with the cumulative refund_fee and sends a trade_status_sync refund
//     notice (out_biz_no, refund_fee, gmt_refund with milliseconds; TRADE_CLOSED once
//     everything is refunded) to the payment's notify_url, with resends.
//   - alipay.trade.fastpay.refund.query (L5): refund_status REFUND_SUCCESS for a refund
//     that happened; a 10000 reply without refund data for one Alipay does not have.
//   - alipay.trade.close (L7): ACQ.TRADE_NOT_EXIST for an order string nobody paid
//     (nothing recorded: it stays payable), ACQ.TRADE_STATUS_ERROR for a paid or closed
//     trade.
//
// Simulator.Refunds lists the refunds of a trade (tests count that money moved once).
//
//	  ACQ.TRADE_NOT_EXIST until the order string was paid (or the capture made), then
//	  trade_status etc.
//	- alipay.trade.pay with auth_no (a pre-auth capture, L1; tradepay.go keeps a branch
//	  per scenario):
//	  product_code PRE_AUTH, buyer_id the freeze's payer, seller_id its payee (absent is
//	  taken as the merchant), total_amount at most what is still frozen
//	  (ACQ.AUTH_AMOUNT_NOT_ENOUGH), auth order INIT / FINISH / CLOSED refused
//	  (ACQ.AUTH_ORDER_NOT_PAID / _HAS_FINISHED / _HAS_CLOSED); COMPLETE releases the
//	  rest. The same out_trade_no with the same request replays, with another
//	  ACQ.CONTEXT_INCONSISTENT. Sends trade_status_sync to the request's notify_url.
//	- alipay.fund.auth.order.unfreeze (L2): at most what is still frozen
//	  (REQUEST_AMOUNT_EXCEED); out_request_no replay / UNIQUE_VIOLATION; the order ends
//	  FINISH (something captured) or CLOSED when nothing is left. Sends
//	  fund_auth_unfreeze.
//	- alipay.fund.auth.operation.cancel (L3) of a voucher request: unpaid → action close;
//	  frozen with nothing captured or unfrozen → action unfreeze; otherwise
//	  REQUEST_AMOUNT_EXCEED; more than 24 h after the request CANCEL_OPERATION_TIME_OUT;
//	  a repeat answers the same action. Sends fund_auth_operation_cancel (ids + action).
//	- alipay.trade.pay with agreement_params (a deduction, L9.1; agreement.go): the
//	  agreement must be NORMAL (unknown or unsigned: ACQ.AGREEMENT_NOT_EXIST); the
//	  signed plan is Alipay's: period k = succeeded deductions + 1, its plan date
//	  execute_time + k−1 periods, the window the 5 days before it (China dates;
//	  ACQ.CYCLE_PAY_DATE_NOT_MATCH), single_amount (ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED),
//	  cumulative total_amount (ACQ.CYCLE_PAY_TOTAL_FEE_EXCEED), total_payments
//	  (ACQ.CYCLE_PAY_TOTAL_TIMES_EXCEED); only a success moves the plan. Replays and
//	  ACQ.CONTEXT_INCONSISTENT as a capture; a ledger movement CHARGE (OutOrderNo is the
//	  agreement_no); trade_status_sync to the request's notify_url. Markers in subject
//	  as for a capture (SIM_20000, SIM_SYSTEM_ERROR, SIM_TIMEOUT take the money first).
//	- alipay.user.agreement.query (L9.2) by agreement_no, or by external_agreement_no with
//	  the signing's personal_product_code, sign_scene and the user: the status and the
//	  next plan date (next_deduct_time); USER_AGREEMENT_NOT_EXIST, AGREEMENT_HAS_UNSIGNED.
//	- alipay.user.agreement.unsign (L9.3) by agreement_no: the agreement ends and
//	  dut_user_unsign goes to the request's notify_url; an ended one is
//	  USER_AGREEMENT_STATUS_NOT_NORMAL.
//
// Replies have Alipay's shape, {"<method>_response":{...},"sign":"..."} (error_response
// for failures before dispatch), with every `/` in the node written as `\/`, signed over
// the node's exact bytes with the Alipay key. Every reply is signed.
//
// # Forced outcomes
//
// A marker in voucher create's order_title forces an outcome:
//
//	SIM_BIZ_<SUB_CODE>  40004 Business Failed with that sub_code (e.g.
//	                    SIM_BIZ_PAYEE_NOT_EXIST, SIM_BIZ_EXIST_FORBIDDEN_WORD); nothing is
//	                    recorded, so a retry fails the same way
//	SIM_20000           20000 isp.unknow-error
//	SIM_SYSTEM_ERROR    40004 SYSTEM_ERROR
//	SIM_TIMEOUT         no reply until the client gives up (bounded by the request's
//	                    context and Options.MaxHold, default 30s; after MaxHold the real
//	                    reply is sent)
//	SIM_BAD_SIGN        the real reply with a corrupted signature
//	SIM_HTTP500         HTTP 500 with a non-JSON body
//
// The last five are unknown outcomes: as at Alipay, the voucher is created before the
// reply is lost, so a retry of the same out_order_no + out_request_no gets the normal
// reply with the same code_value, and detail.query finds the voucher. Only the first
// request is sabotaged.
//
// In a refund's refund_reason, SIM_BIZ_<SUB_CODE> refuses the refund (nothing moves);
// SIM_FUND_CHANGE_N refunds but replies fund_change N (its notice comes about 0.5 s
// later, as for an asynchronous refund); the five unknown outcomes refund first and then
// lose or spoil the reply, the first time only (an identical retry gets 10000 with
// fund_change N, and the refund query finds the refund).
// The same markers work in a capture's subject and an unfreeze's or cancel's remark;
// there the unknown outcomes also take effect first (the money moves, the reply is
// lost), and GET /sandbox/ledger (Simulator.Ledger) lists every movement so a test can
// count that a retried call moved money once.
//
// In an app-pay subject, SIM_BIZ_<SUB_CODE> makes POST /sandbox/orders/pay refuse the
// payment (422 PAYMENT_REFUSED with that sub_code; no trade). The other markers let the
// payment succeed but force the outcome of every alipay.trade.query of that trade
// (SIM_SYSTEM_ERROR answers ACQ.SYSTEM_ERROR there).
//
// # Control endpoints
//
// JSON in, JSON out; errors are {"error":{"code","message","field","sub_code"}}. Each
// call that notifies returns "notifications": the signed parameters it sent, the URL
// and the exact body. Notifications go to the notify_url of the originating request; a
// request without one gets none (the notification is still returned).
//
//	# buyer scans the voucher: FREEZE SUCCESS, fund_auth_freeze notice
//	curl -s localhost:3000/sandbox/vouchers/scan -d '{"out_order_no":"PA001"}'
//	#   optional: "out_request_no", "code_value" (instead of out_order_no), "buyer" (2088…)
//
//	# nobody paid: the order closes, fund_auth_freeze notice with status CLOSED
//	curl -s localhost:3000/sandbox/vouchers/close -d '{"out_order_no":"PA001"}'
//
//	# buyer pays an order string: trade_status_sync TRADE_SUCCESS (+ dut_user_sign to
//	# sign_notify_url or notify_url when agreement_sign_params is present); with
//	# "buyer_open_id" the buyer is an open_id app's user (buyer_open_id instead of
//	# buyer_id in notices and replies, L11)
//	curl -s localhost:3000/sandbox/orders/pay -d '{"order_str":"app_id=...&sign=..."}'
//
//	# refund window over: TRADE_FINISHED
//	curl -s localhost:3000/sandbox/orders/finish -d '{"out_trade_no":"AP001"}'
//
//	# a refund made in Alipay's console, not through the API: 3.00 (refund_fee is this
//	# refund; the notice carries the cumulative sum): TRADE_SUCCESS with refund_fee, or
//	# TRADE_CLOSED when fully refunded
//	curl -s localhost:3000/sandbox/orders/refund -d '{"out_trade_no":"AP001","refund_fee":"3.00"}'
//
//	# the user cancels the agreement: dut_user_unsign
//	curl -s localhost:3000/sandbox/agreements/unsign -d '{"external_agreement_no":"AG001"}'
//
//	# delivery log (optionally ?notify_id=...)
//	curl -s localhost:3000/sandbox/deliveries
//
// The order string is checked as Alipay's client would: alipay.VerifyOrderString with
// the app public key, method alipay.trade.app.pay, our app_id, version 1.0, a timestamp
// at most 15 minutes ahead of China time, and biz_content valid by the protocol
// package's rules; a refusal is 400 INVALID_ORDER_STRING naming the reason.
//
// # Notifications
//
// Signed like Alipay's (§8.2: all parameters but sign and sign_type, blanks dropped,
// sorted, RSA2 with the Alipay key, sign_type=RSA2), form-encoded like
// java.net.URLEncoder in UTF-8, POSTed with Content-Type
// "application/x-www-form-urlencoded; charset=utf-8". A delivery counts as acknowledged
// only on HTTP 200 with the body exactly "success"; otherwise it is resent after each
// wait of Options.RetrySchedule (default: Alipay's 4m, 10m, 10m, 1h, 2h, 6h, 15h
// compressed 1000 times), 8 deliveries at most, with the same notify_id. Every attempt
// is logged (Deliveries, GET /sandbox/deliveries). The simulator delivers wherever it is
// told; Close stops deliveries and WaitIdle waits for them.
//
// Limits: Options.MaxOrders records of each kind (auth orders, trades, agreements;
// beyond it voucher create answers 40004 SIM_CAPACITY_EXCEEDED and control calls 503),
// 32 voucher requests per order, 1000 notifications in delivery, the last 10000
// delivery attempts logged. Only key mode, RSA2 and UTF-8 are simulated.
package sandbox
