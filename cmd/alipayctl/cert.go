package main

import (
	"fmt"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

var cmdCertSN = &command{
	path:    "cert sn",
	summary: "print app_cert_sn / alipay_cert_sn of a certificate file",
	run:     (*app).certSN,
	help: `Usage: alipayctl cert sn FILE

Prints the SN of the first certificate in a PEM file ("-" for stdin): the MD5 of its issuer
DN (RFC 2253, as encoded) followed by its serial number in decimal. For
appCertPublicKey_<appid>.crt this is app_cert_sn; for alipayCertPublicKey_RSA2.crt (leaf
first) it is the alipay_cert_sn Alipay's replies carry.

Examples:
  alipayctl cert sn appCertPublicKey_2021000000000001.crt
  alipayctl cert sn alipayCertPublicKey_RSA2.crt
`,
}

var cmdCertRootSN = &command{
	path:    "cert root-sn",
	summary: "print alipay_root_cert_sn of a root bundle",
	run:     (*app).certRootSN,
	help: `Usage: alipayctl cert root-sn FILE

Prints alipay_root_cert_sn for Alipay's root bundle (alipayRootCert.crt, "-" for stdin): the
SNs of the RSA-signed roots (signature algorithm 1.2.840.113549.1.1.*) in file order, joined
with "_". ECDSA and SM2 roots are skipped.

Examples:
  alipayctl cert root-sn alipayRootCert.crt
`,
}

func (a *app) certSN(c *command, args []string) int {
	return a.certCmd(c, args, alipay.CertSN)
}

func (a *app) certRootSN(c *command, args []string) int {
	return a.certCmd(c, args, alipay.RootCertSN)
}

func (a *app) certCmd(c *command, args []string, sn func([]byte) (string, error)) int {
	fset := newFlagSet(c)
	if code, done := a.parse(c, fset, args, 1); done {
		return code
	}
	text, err := a.readInput(fset.Arg(0))
	if err != nil {
		return a.fail(c, "%v", err)
	}
	s, err := sn(text)
	if err != nil {
		return a.fail(c, "%s: %v", fset.Arg(0), err)
	}
	fmt.Fprintln(a.stdout, s)
	return exitOK
}
