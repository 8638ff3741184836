package main

import (
	"strings"
	"testing"
)

func TestCertSNsMatchTheVectors(t *testing.T) {
	var v struct {
		AppCertSN struct {
			Value string `json:"value"`
		} `json:"app_cert_sn"`
		AlipayCertSN struct {
			Value string `json:"value"`
		} `json:"alipay_cert_sn"`
		RootSN struct {
			Value string `json:"value"`
		} `json:"alipay_root_cert_sn"`
		Odd struct {
			Value string `json:"value"`
		} `json:"odd_rdn_order_issuer"`
	}
	loadVectors(t, "vectors/cert_sn.json", &v)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"app_cert_sn", []string{"cert", "sn", "certs/app_cert.crt"}, v.AppCertSN.Value},
		{"alipay_cert_sn_of_the_leaf_in_a_chain", []string{"cert", "sn", "certs/alipay_public_cert.crt"}, v.AlipayCertSN.Value},
		{"issuer_encoded_cn_first", []string{"cert", "sn", "certs/odd_order_issuer_cert.crt"}, v.Odd.Value},
		{"root_sn_skips_non_rsa_roots", []string{"cert", "root-sn", "certs/alipay_root_cert.crt"}, v.RootSN.Value},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				t.Fatal("vector value missing")
			}
			args := append(tt.args[:2:2], td(t, tt.args[2]))
			r := cli(t, nil, "", args...)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := strings.TrimSpace(r.stdout); got != tt.want {
				t.Fatalf("SN %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("reads_stdin", func(t *testing.T) {
		r := cli(t, nil, string(readTD(t, "certs/app_cert.crt")), "cert", "sn", "-")
		if r.code != exitOK || strings.TrimSpace(r.stdout) != v.AppCertSN.Value {
			t.Fatalf("exit %d, SN %q", r.code, r.stdout)
		}
	})
}

func TestCertSNRejectsWhatIsNotACertificate(t *testing.T) {
	tests := []struct {
		name, sub, file, want string
	}{
		{"public_key_file", "sn", "keys/app_public.pem", "PUBLIC KEY"},
		{"private_key_file", "root-sn", "keys/app_private_pkcs1.pem", "RSA PRIVATE KEY"},
		{"no_pem_at_all", "sn", "keys/app_public.txt", "no PEM CERTIFICATE block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, nil, "", "cert", tt.sub, td(t, tt.file))
			if r.code != exitFail {
				t.Fatalf("exit %d, want %d", r.code, exitFail)
			}
			mustContain(t, "stderr", r.stderr, tt.want)
			if r.stdout != "" {
				t.Fatalf("stdout not empty: %q", r.stdout)
			}
		})
	}
}
