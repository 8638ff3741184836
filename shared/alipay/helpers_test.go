package alipay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// sharedTestdata returns the reference testdata folder beside the checkout
// (<module root>/../shared/testdata). Missing reference data fails the test: the vectors
// are the point of these tests.
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			td := filepath.Join(dir, "..", "shared", "testdata")
			if _, err := os.Stat(td); err != nil {
				t.Fatalf("reference testdata not found at %s: %v", td, err)
			}
			return td
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("module root (go.mod) not found")
	return ""
}

// readTestdata reads a file relative to the reference testdata folder.
func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedTestdata(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
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
