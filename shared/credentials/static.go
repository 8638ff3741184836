package credentials

import (
	"context"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
)

// Static is a fixed credentials source with the Get and Refresh of a Cache: both answer
// Creds, or Err when it is set. The local server serves its generated dev keys with it
// (nothing to rotate), and tests use it wherever the credentials do not change. Err
// should wrap ErrUnavailable, as every Cache error does.
type Static struct {
	Creds *alipay.Credentials
	Err   error
}

// Get returns Creds, or Err.
func (s Static) Get(context.Context) (*alipay.Credentials, error) {
	if s.Err != nil {
		return nil, s.Err
	}
	return s.Creds, nil
}

// Refresh returns what Get returns: there is nothing to re-fetch.
func (s Static) Refresh(ctx context.Context) (*alipay.Credentials, error) { return s.Get(ctx) }
