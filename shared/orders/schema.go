package orders

// Table layout, declared once so template.yaml can be checked against it. One table,
// on-demand, string keys pk/sk; every lookup is by key, except the reconciler's, which
// reads the sparse due index.
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	KeyType      = "S" // both keys are strings
	// TTLAttribute holds epoch seconds on items that may expire (abandoned unpaid orders).
	TTLAttribute = "expires_at"
	BillingMode  = "PAY_PER_REQUEST"
	// GlobalSecondaryIndexCount: the due index only; owner checks read by key.
	GlobalSecondaryIndexCount = 1

	// DueIndexName is the sparse index of due work (due.go): only items with unsettled
	// work carry DuePartitionAttr (always DuePartition) and DueSortAttr (epoch ms of the
	// time they are next due). Keys-only projection: a pass reads the item itself with
	// its claim.
	DueIndexName     = "due"
	DuePartitionAttr = "due_pk"
	DueSortAttr      = "due_at"
	DueSortType      = "N"
	DuePartition     = "DUE"
	DueProjection    = "KEYS_ONLY"
)

// Item keys: pk = kind + "#" + Alipay key, sk = kind.
const (
	kindAppPay    = "APPPAY"
	kindPreAuth   = "PREAUTH"
	kindAgreement = "AGREEMENT"
	// kindTradeNo binds an Alipay trade_no to the one order it pays (pk TRADENO#<trade_no>).
	kindTradeNo = "TRADENO"
	// kindOutTrade claims an out_trade_no for an operation (a capture or charge) or, in
	// the DynamoDB store, an app-pay order before it is written, so the number names one
	// record across app-pay orders and operations (pk OUTTRADE#<out_trade_no>).
	kindOutTrade = "OUTTRADE"
)

func itemKey(kind, id string) (pk, sk string) { return kind + "#" + id, kind }
