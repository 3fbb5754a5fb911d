package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePagerDutyBothShapes(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		approve bool
		want    core.Action
	}{
		{"v2 messages with log-entry agent", "pagerduty-v2-approve.json", true, core.Action{
			Provider: core.PagerDuty, DeliveryID: "pagerduty:bb8b8fe0-e8d5-11e6-9d7b-22000a9a0c3c", Approve: true,
			AlertID: "PINC001", DedupKey: "teleport-access-request/0f0a3c1e-1111-4c2b-9a6e-5b0c6d7e8f90", ActorID: "PUSR002"}},
		{"v3 event envelope with agent", "pagerduty-v3-deny.json", false, core.Action{
			Provider: core.PagerDuty, DeliveryID: "pagerduty:01DEN3KJ9Q0G1S7T2V4W6X8Y0Z", Approve: false,
			AlertID: "PINC001", DedupKey: "teleport-access-request/0f0a3c1e-1111-4c2b-9a6e-5b0c6d7e8f90", ActorID: "PUSR002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePagerDuty(read(t, tt.file), tt.approve)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	pd := []string{
		``, `null`, `[]`, `{}`, `{"messages":[]}`, `{"messages":[{},{}]}`,
		`{"messages":[{"id":"m","event":"incident.resolve","incident":{"id":"P"}}]}`,
		`{"messages":[{"id":"m","incident":{}}]}`,
		`{"event":{"id":"e","resource_type":"service","data":{"id":"S"}}}`,
		`{"event":{"data":{"id":"P"}}}`,
		`{"event":null}`,
		`{"messages":[{"id":"m","incident":{"id":"P"}}]} trailing`,
	}
	for _, body := range pd {
		if _, err := ParsePagerDuty([]byte(body), true); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePagerDuty(%q) error = %v, want ErrMalformed", body, err)
		}
	}
	og := []string{``, `{}`, `{"action":"Approve"}`, `{"action":"Ack","alert":{"alertId":"a"}}`, `{"action":1}`}
	for _, body := range og {
		if _, err := ParseOpsgenie([]byte(body), core.Opsgenie, time.Now()); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOpsgenie(%q) error = %v, want ErrMalformed", body, err)
		}
	}
}

func TestParseOpsgenieDeliveryIDBucketsRetries(t *testing.T) {
	body := read(t, "opsgenie-approve.json")
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	a, err := ParseOpsgenie(body, core.Opsgenie, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Approve || a.ActorEmail != "bob@example.com" || a.AlertID == "" || !strings.HasPrefix(a.DedupKey, "teleport-access-request/") {
		t.Fatalf("action = %+v", a)
	}
	retry, _ := ParseOpsgenie(body, core.Opsgenie, t0.Add(time.Minute))
	if retry.DeliveryID != a.DeliveryID {
		t.Error("a retry within the bucket should share the delivery ID")
	}
	deny, _ := ParseOpsgenie(read(t, "opsgenie-deny.json"), core.Opsgenie, t0)
	if deny.DeliveryID == a.DeliveryID || deny.Approve {
		t.Error("deny must be a different delivery")
	}
	jsm, _ := ParseOpsgenie(body, core.JSM, t0)
	if jsm.Provider != core.JSM || jsm.DeliveryID == a.DeliveryID {
		t.Errorf("jsm action = %+v", jsm)
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func TestAuthenticate(t *testing.T) {
	body := []byte(`{"event":{"id":"e"}}`)
	secrets := Secrets{PagerDuty: "pd-secret", PagerDutySigning: []string{"new", "old"}, Opsgenie: "og-secret"}
	tests := []struct {
		name     string
		provider core.Provider
		secrets  Secrets
		headers  map[string]string
		want     error
	}{
		{"pagerduty ok with rotated signature", core.PagerDuty, secrets, map[string]string{SecretHeader: "pd-secret", SignatureHeader: "v1=00ff," + sign("old", body)}, nil},
		{"pagerduty missing secret", core.PagerDuty, secrets, map[string]string{SignatureHeader: sign("new", body)}, ErrUnauthenticated},
		{"pagerduty wrong secret", core.PagerDuty, secrets, map[string]string{SecretHeader: "pd-secreT", SignatureHeader: sign("new", body)}, ErrUnauthenticated},
		{"pagerduty signature required but absent", core.PagerDuty, secrets, map[string]string{SecretHeader: "pd-secret"}, ErrBadSignature},
		{"pagerduty signature of another body", core.PagerDuty, secrets, map[string]string{SecretHeader: "pd-secret", SignatureHeader: sign("new", []byte("other"))}, ErrBadSignature},
		{"pagerduty signature present but no signing secret configured", core.PagerDuty, Secrets{PagerDuty: "pd-secret"}, map[string]string{SecretHeader: "pd-secret", SignatureHeader: sign("new", body)}, ErrBadSignature},
		{"pagerduty without signing secrets needs only the header", core.PagerDuty, Secrets{PagerDuty: "pd-secret"}, map[string]string{SecretHeader: "pd-secret"}, nil},
		{"route without configured secret is closed", core.PagerDuty, Secrets{}, map[string]string{SecretHeader: ""}, ErrUnauthenticated},
		{"opsgenie ok", core.Opsgenie, secrets, map[string]string{SecretHeader: "og-secret"}, nil},
		{"opsgenie wrong", core.Opsgenie, secrets, map[string]string{SecretHeader: "pd-secret"}, ErrUnauthenticated},
		{"jsm closed without its secret", core.JSM, secrets, map[string]string{SecretHeader: "og-secret"}, ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			if err := authenticate(tt.provider, h, body, tt.secrets); !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Fatalf("authenticate = %v, want %v", err, tt.want)
			}
		})
	}
}
