package domain

import (
	"context"
	"log/slog"
)

// MaxBodyBytes bounds every request body a service takes (the HTTP contract's 413 above
// 64 KiB).
const MaxBodyBytes = 64 << 10

type loggerKey struct{}

// WithLogger returns ctx carrying the request's logger.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the request's logger (with its request id), or the default logger.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
