package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

const hush = "hunter2-very-secret-value"

// decode parses the single JSON line the logger wrote.
func decode(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log line is not JSON: %v: %s", err, buf)
	}
	return m
}

func TestNewRedactsSensitiveKeys(t *testing.T) {
	tests := []struct {
		key    string
		redact bool
	}{
		{"secret", true},
		{"webhook_secret", true},
		{"Token", true},
		{"access_token", true},
		{"PASSWORD", true},
		{"pagerduty_api_key", true},
		{"opsgenieApiKey", true},
		{"teleport_identity", true},
		{"Authorization", true},
		{"x_pagerduty_signature", true},
		{"GenieKey", true},
		{"tls_private_key", true},
		{"request_id", false},
		{"provider", false},
		{"alert_id", false},
		{"user", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			var buf bytes.Buffer
			New(&buf, slog.LevelInfo).Info("hello", tt.key, hush)
			m := decode(t, &buf)
			got := m[tt.key]
			if tt.redact && got != Redacted {
				t.Errorf("%s = %v, want %s", tt.key, got, Redacted)
			}
			if !tt.redact && got != hush {
				t.Errorf("%s = %v, want it logged as is", tt.key, got)
			}
			if tt.redact && strings.Contains(buf.String(), hush) {
				t.Errorf("secret leaked: %s", buf.String())
			}
		})
	}
}

func TestNewRedactsSecretTypeEverywhere(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"top-level attribute", func(l *slog.Logger) { l.Info("m", "value", Secret(hush)) }},
		{"slog.Any", func(l *slog.Logger) { l.Info("m", slog.Any("value", Secret(hush))) }},
		{"nested group", func(l *slog.Logger) {
			l.Info("m", slog.Group("outer", slog.Group("inner", "value", Secret(hush))))
		}},
		{"logger With", func(l *slog.Logger) { l.With("value", Secret(hush)).Info("m") }},
		{"logger WithGroup", func(l *slog.Logger) { l.WithGroup("g").Info("m", "value", Secret(hush)) }},
		{"inside a struct", func(l *slog.Logger) {
			l.Info("m", "value", struct{ Key Secret }{Secret(hush)})
		}},
		{"inside a slice", func(l *slog.Logger) { l.Info("m", "values", []Secret{Secret(hush)}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(New(&buf, nil))
			if strings.Contains(buf.String(), hush) {
				t.Fatalf("secret leaked: %s", buf.String())
			}
			if !strings.Contains(buf.String(), Redacted) {
				t.Fatalf("no %s marker in %s", Redacted, buf.String())
			}
		})
	}
}

func TestNewRedactsInsideSensitiveGroups(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, nil)
	l.Info("m", slog.Group("secrets", "pagerduty", hush, slog.Group("nested", "opsgenie", hush)), slog.Group("request", "id", "r1"))
	m := decode(t, &buf)
	secrets, ok := m["secrets"].(map[string]any)
	if !ok {
		t.Fatalf("secrets group missing: %s", buf.String())
	}
	if secrets["pagerduty"] != Redacted {
		t.Errorf("secrets.pagerduty = %v", secrets["pagerduty"])
	}
	if nested, _ := secrets["nested"].(map[string]any); nested["opsgenie"] != Redacted {
		t.Errorf("secrets.nested.opsgenie = %v", nested["opsgenie"])
	}
	if req, _ := m["request"].(map[string]any); req["id"] != "r1" {
		t.Errorf("request.id = %v, want r1 (not redacted)", req["id"])
	}
	if strings.Contains(buf.String(), hush) {
		t.Fatalf("secret leaked: %s", buf.String())
	}

	buf.Reset()
	l.WithGroup("token").Info("m", "anything", hush)
	if strings.Contains(buf.String(), hush) {
		t.Fatalf("secret leaked through WithGroup: %s", buf.String())
	}
}

func TestSecretNeverFormats(t *testing.T) {
	s := Secret(hush)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		t.Run(verb, func(t *testing.T) {
			if out := fmt.Sprintf(verb, s); strings.Contains(out, hush) || strings.Contains(out, fmt.Sprintf("%x", hush)) {
				t.Fatalf("Sprintf(%s) leaked: %s", verb, out)
			}
		})
	}
	b, err := json.Marshal(map[string]Secret{"k": s})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"k":"[REDACTED]"}` {
		t.Fatalf("json: %s", b)
	}
}

func TestLevelFilters(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelWarn)
	l.Info("dropped")
	if buf.Len() != 0 {
		t.Fatalf("info logged at warn level: %s", buf.String())
	}
	l.Warn("kept")
	if decode(t, &buf)["msg"] != "kept" {
		t.Fatalf("warn not logged: %s", buf.String())
	}
}

func TestContextCarriesLoggerAndAttributes(t *testing.T) {
	var buf bytes.Buffer
	ctx := WithLogger(context.Background(), New(&buf, nil))
	ctx = With(ctx, "request_id", "req-1")
	ctx = With(ctx, "provider", "pagerduty", "alert_id", "P123")
	FromContext(ctx).Info("alert created")
	m := decode(t, &buf)
	for k, want := range map[string]string{"request_id": "req-1", "provider": "pagerduty", "alert_id": "P123", "msg": "alert created"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %s", k, m[k], want)
		}
	}

	buf.Reset()
	parent := WithLogger(context.Background(), New(&buf, nil))
	_ = With(parent, "request_id", "child-only")
	FromContext(parent).Info("parent")
	if _, ok := decode(t, &buf)["request_id"]; ok {
		t.Errorf("With changed the parent context's logger: %s", buf.String())
	}
}

func TestFromContextNeverNil(t *testing.T) {
	for name, ctx := range map[string]context.Context{"empty": context.Background(), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			if FromContext(ctx) == nil {
				t.Fatal("FromContext returned nil")
			}
		})
	}
	if WithLogger(context.Background(), nil) == nil || FromContext(WithLogger(context.Background(), nil)) == nil {
		t.Fatal("nil logger must leave the default in place")
	}
}

func TestWithLambdaRequestID(t *testing.T) {
	tests := []struct {
		name string
		lc   *lambdacontext.LambdaContext
		want string
	}{
		{"lambda context present", &lambdacontext.LambdaContext{AwsRequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"},
		{"lambda context without id", &lambdacontext.LambdaContext{}, ""},
		{"no lambda context", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			ctx := WithLogger(context.Background(), New(&buf, nil))
			if tt.lc != nil {
				ctx = lambdacontext.NewContext(ctx, tt.lc)
			}
			FromContext(WithLambdaRequestID(ctx)).Info("invoked")
			got, ok := decode(t, &buf)[LambdaRequestIDKey]
			if tt.want == "" {
				if ok {
					t.Fatalf("unexpected %s = %v", LambdaRequestIDKey, got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("%s = %v, want %s", LambdaRequestIDKey, got, tt.want)
			}
		})
	}
}
