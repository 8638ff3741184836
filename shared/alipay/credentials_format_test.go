package alipay

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCredentialsFormatHidesKeyMaterial(t *testing.T) {
	c := testCredentials(t)
	c.EncryptKey = gwAESKey(t)
	secrets := []string{
		c.PrivateKey.key.D.String(),
		c.PrivateKey.key.Primes[0].String(),
		base64.StdEncoding.EncodeToString(c.EncryptKey),
		fmt.Sprint(c.EncryptKey),
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "credentials", c, "value", *c)
	outputs := map[string]string{
		"%v":      fmt.Sprintf("%v", c),
		"%+v":     fmt.Sprintf("%+v", c),
		"%#v":     fmt.Sprintf("%#v", c),
		"%+v val": fmt.Sprintf("%+v", *c),
		"slog":    logged.String(),
	}
	for verb, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s prints key material: %.80s…", verb, out)
			}
		}
		if !strings.Contains(out, c.AppID) {
			t.Errorf("%s does not name the app: %s", verb, out)
		}
	}
}
