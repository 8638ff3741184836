package alipay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrBadCiphertext is wrapped by every DecryptContent failure.
var ErrBadCiphertext = errors.New("alipay: bad AES content")

// aesZeroIV is Alipay's fixed IV for content encryption (§11): 16 zero bytes, which
// makes the ciphertext deterministic.
var aesZeroIV = make([]byte, aes.BlockSize)

func aesBlock(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		// Only the length is reported: the key itself never appears in errors.
		return nil, fmt.Errorf("alipay: AES key must be 16, 24 or 32 bytes, got %d", len(key))
	}
	return aes.NewCipher(key)
}

// EncryptContent encrypts plain (UTF-8) with AES-CBC, zero IV and PKCS#7 padding and
// returns standard base64, as Alipay's interface content encryption expects (§11).
func EncryptContent(key []byte, plain string) (string, error) {
	block, err := aesBlock(key)
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, aesZeroIV).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// DecryptContent reverses EncryptContent. The padding is checked in full, so a wrong
// key or truncated ciphertext is reported rather than returned as garbage (most of the
// time; CBC has no integrity, which is why replies are verified before decrypting).
func DecryptContent(key []byte, b64 string) (string, error) {
	block, err := aesBlock(key)
	if err != nil {
		return "", err
	}
	buf, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("%w: ciphertext is not standard base64", ErrBadCiphertext)
	}
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return "", fmt.Errorf("%w: ciphertext length %d is not a positive multiple of %d", ErrBadCiphertext, len(buf), aes.BlockSize)
	}
	cipher.NewCBCDecrypter(block, aesZeroIV).CryptBlocks(buf, buf)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return "", fmt.Errorf("%w: bad PKCS#7 padding (wrong key?)", ErrBadCiphertext)
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return "", fmt.Errorf("%w: bad PKCS#7 padding (wrong key?)", ErrBadCiphertext)
		}
	}
	return string(buf[:len(buf)-pad]), nil
}
