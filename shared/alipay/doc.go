// Package alipay implements the Alipay OpenAPI v1 protocol as this project uses it:
// keys, sign content, RSA2 signing and verification, request building, the app-pay
// order string, the gateway client, reply and notification verification, cert-mode
// serial numbers, money and field validation. It knows nothing of AWS.
package alipay
