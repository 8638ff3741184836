package testkeys

import (
	"strings"
	"testing"
)

func TestLeaksFindsKeyMaterialInAnyForm(t *testing.T) {
	pem := string(Read(t, "keys/app_private_pkcs1.pem"))
	lines := strings.Split(strings.TrimSpace(pem), "\n")
	oneLine := strings.Join(lines[1:len(lines)-1], "")
	for name, text := range map[string]string{
		"whole_pem":          "log: " + pem,
		"one_pem_line":       `{"msg":"` + lines[3] + `"}`,
		"json_escaped_pem":   strings.ReplaceAll(pem, "\n", `\n`),
		"run_of_the_body":    "x" + oneLine[100:150] + "y",
		"one_line_base64_tx": string(Read(t, "keys/app_private_pkcs8.txt")),
	} {
		if len(Leaks(t, text)) == 0 {
			t.Errorf("%s: leak not found", name)
		}
	}
	if hits := Leaks(t, `{"msg":"request","status":200,"sign":"abc"}`); len(hits) != 0 {
		t.Errorf("false positive: %v", hits)
	}
	extra := []byte("-----BEGIN X-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg==\n-----END X-----")
	if len(Leaks(t, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn", extra)) == 0 {
		t.Error("extra key material not scanned")
	}
}
