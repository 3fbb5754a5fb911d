package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

func seedFile(f *testing.F, path string) {
	if b, err := os.ReadFile(path); err == nil {
		f.Add(b)
	}
}

func FuzzParsePagerDuty(f *testing.F) {
	seedFile(f, "testdata/pagerduty-v2-approve.json")
	seedFile(f, "testdata/pagerduty-v3-deny.json")
	f.Add([]byte(`{"messages":[{"id":"m","event":"incident.custom","incident":{"id":"P1","incident_key":"teleport-access-request/x"},"log_entries":[{"agent":{"id":"U","type":"user_reference"}}]}]}`))
	f.Add([]byte(`{"event":{"id":"e","resource_type":"incident","agent":{"id":"U","type":"user_reference"},"data":{"id":"P1"}}}`))
	f.Add([]byte(`{"messages":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := ParsePagerDuty(body, true)
		if err == nil && (a.DeliveryID == "" || (a.AlertID == "" && a.DedupKey == "")) {
			t.Fatalf("accepted a payload without delivery or incident: %+v", a)
		}
	})
}

func FuzzParseOpsgenie(f *testing.F) {
	seedFile(f, "testdata/opsgenie-approve.json")
	seedFile(f, "testdata/opsgenie-deny.json")
	f.Add([]byte(`{"action":"Approve","alert":{"alertId":"a","alias":"teleport-access-request/x","username":"bob@example.com"}}`))
	f.Add([]byte(`{"action":"Nope"}`))
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := ParseOpsgenie(body, core.Opsgenie, now)
		if err == nil && (a.DeliveryID == "" || (a.AlertID == "" && a.DedupKey == "")) {
			t.Fatalf("accepted a payload without delivery or alert: %+v", a)
		}
	})
}

func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"event":{"id":"e"}}`)
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	good := "v1=" + hex.EncodeToString(m.Sum(nil))
	f.Add(good, body)
	f.Add("v1=00,"+good, body)
	f.Add("v1=zz", []byte("x"))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		ok := VerifySignature(header, b, []string{"s3cret", "older"})
		if ok {
			// Only a real HMAC of b may pass.
			m := hmac.New(sha256.New, []byte("s3cret"))
			m.Write(b)
			m2 := hmac.New(sha256.New, []byte("older"))
			m2.Write(b)
			a, c := "v1="+hex.EncodeToString(m.Sum(nil)), "v1="+hex.EncodeToString(m2.Sum(nil))
			// hex digits may come in either case
			h := strings.ToLower(header)
			if !contains(h, a) && !contains(h, c) {
				t.Fatalf("signature accepted without a matching v1 value: %q", header)
			}
		}
	})
}

func contains(h, s string) bool {
	for i := 0; i+len(s) <= len(h); i++ {
		if h[i:i+len(s)] == s {
			return true
		}
	}
	return false
}
