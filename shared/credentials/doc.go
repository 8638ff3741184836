// Package credentials loads the Alipay app credentials (app id, app private key, Alipay
// public key or certificates, optional AES key) from AWS Secrets Manager, or from
// environment variables and files for local runs, and caches the parsed result so the
// request path never parses a key or waits on the network once warm.
//
// Every failure is an *Error wrapping ErrUnavailable (the handler answers 503) and one
// of ErrNotFound, ErrAccessDenied, ErrThrottled, ErrUnreachable, ErrMalformed or
// ErrBadKey. Errors and log lines name the secret and the field, never key material.
package credentials
