package config

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Secrets are the credentials read from the Secrets Manager secret. Every
// printed form (fmt with any verb, slog, JSON) shows only which keys are set,
// never a value; read the fields directly where a value is needed.
type Secrets struct {
	TeleportIdentity        string
	PagerDutyAPIKey         string
	PagerDutyWebhookSecret  string
	PagerDutySigningSecrets []string
	OpsgenieAPIKey          string
	OpsgenieWebhookSecret   string
	JSMAPIKey               string
	JSMAPIToken             string
	JSMWebhookSecret        string
	// Version is the secret's VersionId; it changes on every rotation and is
	// not itself secret.
	Version string
}

// presence lists each key with "[set]" or "[unset]" (or a count for the
// signing secrets) in SecretKeys order.
func (s Secrets) presence() [][2]string {
	mark := func(v string) string {
		if v == "" {
			return "[unset]"
		}
		return "[set]"
	}
	signing := "[unset]"
	if n := len(s.PagerDutySigningSecrets); n > 0 {
		signing = fmt.Sprintf("[%d set]", n)
	}
	return [][2]string{
		{"teleport_identity", mark(s.TeleportIdentity)},
		{"pagerduty_api_key", mark(s.PagerDutyAPIKey)},
		{"pagerduty_webhook_secret", mark(s.PagerDutyWebhookSecret)},
		{"pagerduty_signing_secrets", signing},
		{"opsgenie_api_key", mark(s.OpsgenieAPIKey)},
		{"opsgenie_webhook_secret", mark(s.OpsgenieWebhookSecret)},
		{"jsm_api_key", mark(s.JSMAPIKey)},
		{"jsm_api_token", mark(s.JSMAPIToken)},
		{"jsm_webhook_secret", mark(s.JSMWebhookSecret)},
	}
}

// String returns the redacted form, e.g.
// "teleport_identity=[set] pagerduty_api_key=[unset] ... version=v1".
func (s Secrets) String() string {
	var b strings.Builder
	for _, kv := range s.presence() {
		b.WriteString(kv[0] + "=" + kv[1] + " ")
	}
	b.WriteString("version=" + s.Version)
	return b.String()
}

// GoString implements fmt.GoStringer with the redacted form.
func (s Secrets) GoString() string { return "config.Secrets{" + s.String() + "}" }

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x...) prints the redacted form, also when Secrets is a field of a value
// being printed.
func (s Secrets) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer with the redacted form.
func (s Secrets) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler with the redacted form: an object
// of key → "[set]"/"[unset]" plus the version.
func (s Secrets) MarshalJSON() ([]byte, error) {
	m := map[string]string{"version": s.Version}
	for _, kv := range s.presence() {
		m[kv[0]] = kv[1]
	}
	return json.Marshal(m)
}

// MarshalText implements encoding.TextMarshaler with the redacted form, for
// encoders that prefer text.
func (s Secrets) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
