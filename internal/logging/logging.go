// Package logging builds oncallgate's structured logger and carries it in a
// context.Context, so that every log line of an invocation carries the same
// attributes (lambda_request_id, request_id, provider, alert_id) as they
// become known.
//
// The logger writes JSON (what CloudWatch Logs Insights parses) and redacts
// by rule: attributes whose key looks like it holds a credential, and every
// value of type Secret, are written as "[REDACTED]". Redaction is a safety
// net, not permission: code must still never log a secret on purpose. This
// package must not import any other oncallgate package (core imports it), and
// it keeps no mutable global state.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Redacted replaces every value the logger must not write.
const Redacted = "[REDACTED]"

// sensitiveKeyParts are the key fragments (lower case) that mark an
// attribute, or a group and everything in it, as sensitive.
var sensitiveKeyParts = []string{
	"secret", "token", "password", "api_key", "apikey", "identity",
	"authorization", "signature", "genie", "private_key",
}

// SensitiveKey reports whether an attribute with this key is redacted by the
// loggers New builds. Matching is case-insensitive and by substring.
func SensitiveKey(key string) bool {
	k := strings.ToLower(key)
	for _, p := range sensitiveKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// Secret is a string that never prints: logged, formatted with any fmt verb
// or marshalled to JSON or text it reads "[REDACTED]". Convert with
// string(s) where the value is really needed.
type Secret string

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String implements fmt.Stringer.
func (Secret) String() string { return Redacted }

// Format implements fmt.Formatter: every verb prints Redacted.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return Redacted }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// New returns a JSON logger writing to w at level (info when nil), with the
// redaction rule applied to every attribute, including those nested in
// groups: a sensitive group key redacts everything inside it.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	if level == nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact}))
}

// redact is the handler's ReplaceAttr: values arrive resolved, so Secret
// values have already become Redacted; this adds the rule by key.
func redact(groups []string, a slog.Attr) slog.Attr {
	if SensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	for _, g := range groups {
		if SensitiveKey(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	if a.Value.Kind() == slog.KindAny {
		if _, ok := a.Value.Any().(Secret); ok { // defensive: handlers resolve LogValuers first
			return slog.String(a.Key, Redacted)
		}
	}
	return a
}

type ctxKey struct{}

// defaultLogger is what FromContext returns when ctx carries no logger: a
// JSON logger on stdout at info level, built once.
var defaultLogger = sync.OnceValue(func() *slog.Logger { return New(os.Stdout, slog.LevelInfo) })

// WithLogger returns a copy of ctx carrying l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	if l == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the logger ctx carries, or a JSON logger on stdout at
// info level when it carries none. It never returns nil.
func FromContext(ctx context.Context) *slog.Logger {
	if ctx != nil {
		if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
			return l
		}
	}
	return defaultLogger()
}

// With returns a copy of ctx whose logger adds args (slog key-value pairs or
// slog.Attr values) to every line, e.g. With(ctx, "request_id", id).
func With(ctx context.Context, args ...any) context.Context {
	if len(args) == 0 {
		return ctx
	}
	return WithLogger(ctx, FromContext(ctx).With(args...))
}

// LambdaRequestIDKey is the attribute WithLambdaRequestID adds.
const LambdaRequestIDKey = "lambda_request_id"

// WithLambdaRequestID adds the invocation's AWS request ID as
// lambda_request_id when ctx comes from the Lambda runtime; otherwise it
// returns ctx unchanged.
func WithLambdaRequestID(ctx context.Context) context.Context {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc == nil || lc.AwsRequestID == "" {
		return ctx
	}
	return With(ctx, LambdaRequestIDKey, lc.AwsRequestID)
}
