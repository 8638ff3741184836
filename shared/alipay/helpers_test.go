package alipay

import (
	"encoding/json"
	"testing"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

// readTestdata reads a file relative to the reference testdata folder.
func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	return testkeys.Read(t, rel)
}

// loadVectors unmarshals a reference JSON file into v.
func loadVectors(t testing.TB, rel string, v any) {
	t.Helper()
	if err := json.Unmarshal(readTestdata(t, rel), v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// testAppKey and testAlipayKey load the reference test key pairs.
func testAppKey(t testing.TB) *PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(readTestdata(t, "keys/app_private_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testAlipayKey(t testing.TB) *PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(readTestdata(t, "keys/alipay_private_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testCredentials are key-mode credentials with the reference app key and the simulated
// Alipay public key, app id 2021000000000001 as in the vectors.
func testCredentials(t testing.TB) *Credentials {
	t.Helper()
	return &Credentials{
		AppID:           "2021000000000001",
		PrivateKey:      testAppKey(t),
		AlipayPublicKey: testAlipayKey(t).Public(),
	}
}
