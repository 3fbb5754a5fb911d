package core

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRouting(t *testing.T) {
	pd := []Provider{PagerDuty}
	og := []Provider{Opsgenie}
	both := []Provider{PagerDuty, Opsgenie}
	pdT := func(n string) Target { return Target{Provider: PagerDuty, Name: n} }
	ogT := func(kind, n string) Target { return Target{Provider: Opsgenie, Kind: kind, Name: n} }

	tests := []struct {
		name       string
		ann        map[string][]string
		providers  []Provider
		wantNotify []Target
		wantOnCall map[Provider][]string
		wantErr    string
	}{
		{
			name:       "seed names",
			ann:        map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}, "pagerduty_services": {"Payments API", "Search"}},
			providers:  pd,
			wantNotify: []Target{pdT("Teleport Notifications")},
			wantOnCall: map[Provider][]string{PagerDuty: {"Payments API", "Search"}},
		},
		{
			name:       "names are case-insensitive",
			ann:        map[string][]string{"PagerDuty_Notify_Service": {"Teleport"}, "PAGERDUTY_SERVICES": {"Payments"}},
			providers:  pd,
			wantNotify: []Target{pdT("Teleport")},
			wantOnCall: map[Provider][]string{PagerDuty: {"Payments"}},
		},
		{
			name:       "duplicates removed case-insensitively, first spelling kept",
			ann:        map[string][]string{"pagerduty_notify_service": {"Teleport", "teleport", " TELEPORT "}, "pagerduty_services": {"A", "a"}},
			providers:  pd,
			wantNotify: []Target{pdT("Teleport")},
			wantOnCall: map[Provider][]string{PagerDuty: {"A"}},
		},
		{
			name:      "empty list is an error",
			ann:       map[string][]string{"pagerduty_notify_service": {}},
			providers: pd,
			wantErr:   `annotation "pagerduty_notify_service": has no values`,
		},
		{
			name:      "empty name is an error",
			ann:       map[string][]string{"pagerduty_services": {"ok", "  "}},
			providers: pd,
			wantErr:   `annotation "pagerduty_services" value "  ": empty name`,
		},
		{
			name:       "JSON list written as one string is unpacked",
			ann:        map[string][]string{"pagerduty_notify_service": {`["One","Two"]`}},
			providers:  pd,
			wantNotify: []Target{pdT("One"), pdT("Two")},
		},
		{
			name:      "non-list value that looks like a list is an error",
			ann:       map[string][]string{"pagerduty_notify_service": {"[One, Two]"}},
			providers: pd,
			wantErr:   "is not a JSON list of strings",
		},
		{
			name:      "control characters are an error",
			ann:       map[string][]string{"opsgenie_notify_services": {"Ops\nPrimary"}},
			providers: og,
			wantErr:   "control characters",
		},
		{
			name:      "overlong value is an error",
			ann:       map[string][]string{"pagerduty_services": {strings.Repeat("x", 300)}},
			providers: pd,
			wantErr:   "longer than 256 characters",
		},
		{
			name:       "RFD 109 names with responder kinds",
			ann:        map[string][]string{"opsgenie_notify_services": {"Primary", "team:SRE", "user:bob@example.com"}, "opsgenie_oncall_schedules": {"Primary"}},
			providers:  og,
			wantNotify: []Target{ogT(KindSchedule, "Primary"), ogT(KindTeam, "SRE"), ogT(KindUser, "bob@example.com")},
			wantOnCall: map[Provider][]string{Opsgenie: {"Primary"}},
		},
		{
			name:      "kind prefix without a name is an error",
			ann:       map[string][]string{"opsgenie_notify_services": {"team: "}},
			providers: og,
			wantErr:   "responder name is empty",
		},
		{
			name:       "teleport.dev names go to the single configured provider",
			ann:        map[string][]string{"teleport.dev/notify-services": {"Primary"}, "teleport.dev/teams": {"SRE"}, "teleport.dev/schedules": {"Primary"}},
			providers:  og,
			wantNotify: []Target{ogT(KindSchedule, "Primary"), ogT(KindTeam, "SRE")},
			wantOnCall: map[Provider][]string{Opsgenie: {"Primary"}},
		},
		{
			name:       "teleport.dev names with pagerduty: services, no teams",
			ann:        map[string][]string{"Teleport.dev/Notify-Services": {"Teleport"}, "teleport.dev/teams": {"SRE"}, "teleport.dev/schedules": {"Payments"}},
			providers:  pd,
			wantNotify: []Target{pdT("Teleport")},
			wantOnCall: map[Provider][]string{PagerDuty: {"Payments"}},
		},
		{
			name:      "teleport.dev names ignored with two providers",
			ann:       map[string][]string{"teleport.dev/notify-services": {"Primary"}},
			providers: both,
		},
		{
			name:       "both providers side by side",
			ann:        map[string][]string{"pagerduty_notify_service": {"Teleport"}, "opsgenie_notify_services": {"Primary"}},
			providers:  both,
			wantNotify: []Target{pdT("Teleport"), ogT(KindSchedule, "Primary")},
		},
		{
			name:      "annotations of unconfigured providers are ignored",
			ann:       map[string][]string{"opsgenie_notify_services": {"Primary"}, "unrelated": {"x"}},
			providers: pd,
		},
		{
			name:      "no annotations",
			ann:       nil,
			providers: pd,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRouting(Request{ID: "req-1", Annotations: tt.ann}, tt.providers)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "req-1") {
					t.Fatalf("error %v should match ErrInvalid and name the request", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got.Notify, tt.wantNotify) {
				t.Errorf("Notify = %#v, want %#v", got.Notify, tt.wantNotify)
			}
			if len(got.OnCall) != 0 || len(tt.wantOnCall) != 0 {
				if !reflect.DeepEqual(got.OnCall, tt.wantOnCall) {
					t.Errorf("OnCall = %#v, want %#v", got.OnCall, tt.wantOnCall)
				}
			}
		})
	}
}

func TestTargetKeyIgnoresCase(t *testing.T) {
	a := Target{Provider: PagerDuty, Name: "Payments API"}
	b := Target{Provider: PagerDuty, Name: "payments api"}
	if a.Key() != b.Key() {
		t.Fatalf("keys differ: %q vs %q", a.Key(), b.Key())
	}
	if c := (Target{Provider: Opsgenie, Kind: KindTeam, Name: "Payments API"}); c.Key() == a.Key() {
		t.Fatalf("keys of different providers collide: %q", c.Key())
	}
}

func TestDedupKeyRoundTrip(t *testing.T) {
	id, ok := RequestIDFromDedupKey(DedupKey("abc-123"))
	if !ok || id != "abc-123" {
		t.Fatalf("got %q %v", id, ok)
	}
	if _, ok := RequestIDFromDedupKey("something-else/abc"); ok {
		t.Fatal("foreign key accepted")
	}
}

func TestAlertDedupKeys(t *testing.T) {
	pd := Target{Provider: PagerDuty, Name: "Payments"}
	og := Target{Provider: Opsgenie, Kind: KindTeam, Name: "SRE"}
	tests := []struct {
		name   string
		target Target
		shared bool
		want   string
	}{
		{"pagerduty keys are per service", pd, true, "teleport-access-request/r1"},
		{"single opsgenie target keeps the plain alias", og, false, "teleport-access-request/r1"},
		{"several opsgenie targets get one alias each", og, true, "teleport-access-request/r1/team:sre"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AlertDedupKey("r1", tt.target, tt.shared)
			if got != tt.want {
				t.Fatalf("got %q want %q", got, tt.want)
			}
			if id, ok := RequestIDFromDedupKey(got); !ok || id != "r1" {
				t.Fatalf("RequestIDFromDedupKey(%q) = %q, %v", got, id, ok)
			}
		})
	}
}
