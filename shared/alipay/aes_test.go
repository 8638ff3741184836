package alipay

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestAESContentVectors(t *testing.T) {
	key := gwAESKey(t)
	if len(key) != 16 {
		t.Fatalf("reference AES key is %d bytes", len(key))
	}
	var req struct {
		Cases []gwRequestCase `json:"cases"`
	}
	loadVectors(t, "vectors/request_sign.json", &req)
	var resp struct {
		Cases []gwReplyCase `json:"cases"`
	}
	loadVectors(t, "vectors/response_verify.json", &resp)

	n := 0
	for _, tc := range req.Cases {
		if tc.AESKeyFile == "" {
			continue
		}
		n++
		t.Run("request_"+tc.Name+"_encrypts_to_the_sdk_ciphertext", func(t *testing.T) {
			got, err := EncryptContent(key, tc.BizPlain)
			if err != nil || got != tc.BizContent {
				t.Fatalf("got %q err %v, want %q", got, err, tc.BizContent)
			}
			plain, err := DecryptContent(key, tc.BizContent)
			if err != nil || plain != tc.BizPlain {
				t.Fatalf("decrypt %q err %v", plain, err)
			}
		})
	}
	for _, tc := range resp.Cases {
		if tc.AESKeyFile == "" {
			continue
		}
		n++
		t.Run("reply_"+tc.Name+"_decrypts_to_the_plaintext", func(t *testing.T) {
			b64 := strings.Trim(*tc.SignSource, `"`)
			plain, err := DecryptContent(key, b64)
			if err != nil || plain != tc.Plaintext {
				t.Fatalf("got %q err %v, want %q", plain, err, tc.Plaintext)
			}
		})
	}
	if n < 2 {
		t.Fatalf("found %d AES vectors, want at least 2", n)
	}
}

func TestAESContent(t *testing.T) {
	t.Run("round_trips_for_every_key_size_and_length", func(t *testing.T) {
		for _, size := range []int{16, 24, 32} {
			key := bytes.Repeat([]byte{byte(size)}, size)
			for n := 0; n <= 48; n++ {
				plain := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
				enc, err := EncryptContent(key, plain)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := base64.StdEncoding.DecodeString(enc)
				// PKCS#7 always adds 1..16 bytes: a full block when already aligned.
				if want := (len(plain)/16 + 1) * 16; len(raw) != want {
					t.Fatalf("size %d plain %d bytes: ciphertext %d bytes, want %d", size, len(plain), len(raw), want)
				}
				got, err := DecryptContent(key, enc)
				if err != nil || got != plain {
					t.Fatalf("size %d: got %q err %v", size, got, err)
				}
			}
		}
	})
	t.Run("zero_iv_makes_encryption_deterministic", func(t *testing.T) {
		key := gwAESKey(t)
		a, _ := EncryptContent(key, `{"a":1}`)
		b, _ := EncryptContent(key, `{"a":1}`)
		if a != b {
			t.Fatal("two encryptions differ")
		}
	})
	t.Run("bad_key_length_is_reported_without_the_key", func(t *testing.T) {
		key := []byte("0123456789abcde") // 15 bytes
		for _, f := range []func() error{
			func() error { _, err := EncryptContent(key, "x"); return err },
			func() error { _, err := DecryptContent(key, "AAAAAAAAAAAAAAAAAAAAAA=="); return err },
		} {
			err := f()
			if err == nil || !strings.Contains(err.Error(), "got 15") || strings.Contains(err.Error(), string(key)) {
				t.Fatalf("err = %v", err)
			}
		}
	})

	key := gwAESKey(t)
	valid, _ := EncryptContent(key, `{"code":"10000"}`)
	raw, _ := base64.StdEncoding.DecodeString(valid)
	for _, tc := range []struct {
		name, in string
		key      []byte
	}{
		{"not_base64_is_rejected", "%%%not base64", key},
		{"url_alphabet_is_rejected", strings.NewReplacer("+", "-", "/", "_").Replace(valid) + "-_", key},
		{"empty_ciphertext_is_rejected", "", key},
		{"partial_block_is_rejected", base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), key},
		{"truncated_last_block_is_rejected", base64.StdEncoding.EncodeToString(raw[:16]), key},
		{"wrong_key_is_rejected", valid, bytes.Repeat([]byte{7}, 16)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecryptContent(tc.key, tc.in)
			if !errors.Is(err, ErrBadCiphertext) {
				t.Fatalf("got %q err %v, want ErrBadCiphertext", got, err)
			}
		})
	}
	t.Run("padding_bytes_must_all_match", func(t *testing.T) {
		// A one-block plaintext whose last byte claims 4 bytes of padding while the
		// one before the run of 4s is 3: only a check of every padding byte rejects it.
		// With a zero IV the first CBC block is the bare block cipher.
		block, err := aesBlock(key)
		if err != nil {
			t.Fatal(err)
		}
		buf := []byte("0123456789ab\x03\x04\x04\x04")
		enc := make([]byte, 16)
		block.Encrypt(enc, buf)
		if _, err := DecryptContent(key, base64.StdEncoding.EncodeToString(enc)); !errors.Is(err, ErrBadCiphertext) {
			t.Fatalf("err = %v", err)
		}
	})
}
