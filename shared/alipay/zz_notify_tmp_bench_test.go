package alipay

import "testing"

func BenchmarkTmpParse(b *testing.B) {
	body := []byte(notifyVectorByName(b, "trade_success").Body)
	b.ReportAllocs()
	for b.Loop() {
		ParseNotification(body)
	}
}
func BenchmarkTmpContent(b *testing.B) {
	n, _ := ParseNotification([]byte(notifyVectorByName(b, "trade_success").Body))
	b.ReportAllocs()
	for b.Loop() {
		n.cs.encode(n.SignContent())
	}
}
func BenchmarkTmpTrade(b *testing.B) {
	n, _ := ParseNotification([]byte(notifyVectorByName(b, "trade_success").Body))
	n.verified = true
	b.ReportAllocs()
	for b.Loop() {
		n.Trade()
	}
}
func BenchmarkTmpPubVerify(b *testing.B) {
	c := notifyVectorByName(b, "trade_success")
	n, _ := ParseNotification([]byte(c.Body))
	pub := notifyKeyModeCredentials(b).AlipayPublicKey
	content := []byte(*c.SignContent)
	b.ReportAllocs()
	for b.Loop() {
		pub.Verify(content, n.Params["sign"])
	}
}
