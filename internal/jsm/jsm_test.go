package jsm_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/jsm"
	"github.com/oncallgate/oncallgate/internal/jsm/jsmtest"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func config(srv *jsmtest.Server, mod ...func(*jsm.Config)) jsm.Config {
	cfg := jsm.Config{
		BaseURL:          srv.URL,
		CloudID:          srv.CloudID,
		APIKey:           jsmtest.DefaultAPIKey,
		UserEmail:        jsmtest.DefaultEmail,
		APIToken:         jsmtest.DefaultAPIToken,
		CallTimeout:      2 * time.Second,
		CompleteInterval: time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	return cfg
}

func message(id string) core.AlertMessage {
	req := core.Request{ID: id, User: "alice@example.com", Roles: []string{"prod-admin"},
		Created: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	return core.NewAlertMessage(req, "teleport.example.com", true)
}

func target(name string) core.Target {
	return core.Target{Provider: core.JSM, Kind: core.KindSchedule, Name: name}
}

func TestAlertLifecycleThroughTheIntegrationAPI(t *testing.T) {
	srv := jsmtest.Start(t)
	srv.AddSchedule("Payments")
	n := jsm.NewNotifier(config(srv, func(c *jsm.Config) { c.Priority, c.Tags = "P2", []string{"teleport"} }))
	if n.Provider() != core.JSM {
		t.Fatalf("Provider = %s, want jsm", n.Provider())
	}
	msg := message("req-jsm")

	ref, err := n.Create(t.Context(), target("Payments"), msg)
	if err != nil || ref.ID == "" {
		t.Fatalf("Create = %+v, %v", ref, err)
	}
	a, ok := srv.AlertByAlias(msg.DedupKey)
	if !ok || a.ID != ref.ID || a.Priority != "P2" || !slices.Equal(a.Tags, []string{"teleport"}) ||
		!slices.Equal(a.Actions, []string{"Approve", "Deny"}) {
		t.Fatalf("sandbox alert = %+v, want the created one with P2, tags and actions", a)
	}
	again, err := n.Create(t.Context(), target("Payments"), msg)
	if err != nil || again.ID != ref.ID || len(srv.Alerts()) != 1 {
		t.Fatalf("second Create = %+v, %v (%d alerts); want the same alert", again, err, len(srv.Alerts()))
	}
	found, err := n.Find(t.Context(), target("Payments"), msg.DedupKey)
	if err != nil || found.ID != ref.ID {
		t.Fatalf("Find = %+v, %v", found, err)
	}
	if err := n.AddNote(t.Context(), ref.ID, "bob reviewed the request"); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	if err := n.Resolve(t.Context(), ref.ID, "Access request has been approved"); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if err := n.Resolve(t.Context(), ref.ID, "Access request has been approved"); err != nil {
		t.Fatalf("second Resolve: %v", err)
	}
	got, err := n.Get(t.Context(), ref.ID)
	if err != nil || !got.Resolved {
		t.Fatalf("Get = %+v, %v; want resolved", got, err)
	}
	if notes := srv.Notes(ref.ID); len(notes) != 2 {
		t.Errorf("notes = %+v, want review and resolution", notes)
	}
	if _, err := n.Find(t.Context(), target("Payments"), msg.DedupKey); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Find after close: err = %v, want ErrNotFound", err)
	}
}

func TestAlertPendingPathThroughTheIntegrationAPI(t *testing.T) {
	srv := jsmtest.Start(t, jsmtest.WithAlertOptions(opsgenietest.WithProcessAfterPolls(-1)))
	srv.AddSchedule("Payments")
	n := jsm.NewNotifier(config(srv))
	ref, err := n.Create(t.Context(), target("Payments"), message("req-jsm-pending"))
	if err != nil || ref.PendingRef == "" {
		t.Fatalf("Create = %+v, %v; want a PendingRef", ref, err)
	}
	if _, err := n.Complete(t.Context(), ref.PendingRef); !errors.Is(err, core.ErrAlertPending) {
		t.Fatalf("Complete: err = %v, want ErrAlertPending", err)
	}
	srv.ProcessPending()
	done, err := n.Complete(t.Context(), ref.PendingRef)
	if err != nil || done.ID == "" {
		t.Fatalf("Complete = %+v, %v", done, err)
	}
}

func TestAlertErrorsNameJSM(t *testing.T) {
	srv := jsmtest.Start(t)
	srv.AddSchedule("Payments")
	n := jsm.NewNotifier(config(srv, func(c *jsm.Config) { c.APIKey = "wrong-integration-key" }))
	_, err := n.Create(t.Context(), target("Payments"), message("req-jsm-key"))
	if !errors.Is(err, core.ErrPermission) {
		t.Fatalf("err = %v, want ErrPermission", err)
	}
	if !strings.Contains(err.Error(), "jsm") || strings.Contains(err.Error(), "wrong-integration-key") {
		t.Errorf("error %q should name jsm and not the key", err)
	}
}

func TestOnCallEmails(t *testing.T) {
	srv := jsmtest.Start(t, jsmtest.WithPageLimit(2))
	for _, name := range []string{"Web", "Mobile", "Data", "Billing"} {
		srv.AddSchedule(name)
	}
	srv.AddSchedule("Payments On-Call", "acc-alice", "acc-bob")
	srv.AddSchedule("Secretive", "acc-alice", "acc-carol")
	srv.AddSchedule("Ghosts", "acc-unknown")
	srv.AddAccount("acc-alice", "alice@example.com", true)
	srv.AddAccount("acc-bob", "Bob@Example.com", true)
	srv.AddAccount("acc-carol", "carol@example.com", false)
	d := jsm.NewDirectory(config(srv))

	t.Run("visible emails of a schedule on a later page", func(t *testing.T) {
		got, err := d.OnCallEmails(t.Context(), "Payments On-Call")
		if err != nil || !slices.Equal(got, []string{"alice@example.com", "Bob@Example.com"}) {
			t.Fatalf("OnCallEmails = %v, %v", got, err)
		}
	})
	t.Run("schedule names match case-insensitively", func(t *testing.T) {
		got, err := d.OnCallEmails(t.Context(), "payments on-call")
		if err != nil || len(got) != 2 {
			t.Fatalf("OnCallEmails = %v, %v", got, err)
		}
	})
	t.Run("hidden email is a clear not-found error", func(t *testing.T) {
		got, err := d.OnCallEmails(t.Context(), "Secretive")
		if !errors.Is(err, core.ErrNotFound) || !errors.Is(err, core.ErrEmailHidden) {
			t.Fatalf("err = %v, want ErrNotFound and ErrEmailHidden", err)
		}
		var hidden *jsm.HiddenEmailError
		if !errors.As(err, &hidden) || !slices.Equal(hidden.AccountIDs, []string{"acc-carol"}) {
			t.Fatalf("err = %v, want a HiddenEmailError naming acc-carol", err)
		}
		for _, want := range []string{"acc-carol", "not visible", "Atlassian profile", "Opsgenie schedule"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if !slices.Equal(got, []string{"alice@example.com"}) {
			t.Errorf("visible emails = %v, want alice's", got)
		}
	})
	t.Run("email made visible is seen at once", func(t *testing.T) {
		srv.SetEmailVisible("acc-carol", true)
		got, err := d.OnCallEmails(t.Context(), "Secretive")
		if err != nil || !slices.Equal(got, []string{"alice@example.com", "carol@example.com"}) {
			t.Fatalf("OnCallEmails = %v, %v", got, err)
		}
	})
	t.Run("unknown schedule", func(t *testing.T) {
		_, err := d.OnCallEmails(t.Context(), "Nope")
		if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `jsm schedule "Nope" not found among`) {
			t.Fatalf("err = %v, want ErrNotFound naming the schedule", err)
		}
	})
	t.Run("unknown account", func(t *testing.T) {
		_, err := d.OnCallEmails(t.Context(), "Ghosts")
		if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "acc-unknown") {
			t.Fatalf("err = %v, want ErrNotFound naming the account", err)
		}
	})
}

func TestOnCallEmailsCachesScheduleIDsAndEmails(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	srv := jsmtest.Start(t, jsmtest.WithPageLimit(2))
	for _, name := range []string{"Web", "Mobile", "Data", "Billing"} {
		srv.AddSchedule(name)
	}
	srv.AddSchedule("Payments", "acc-alice", "acc-bob")
	srv.AddAccount("acc-alice", "alice@example.com", true)
	srv.AddAccount("acc-bob", "bob@example.com", true)
	d := jsm.NewDirectory(config(srv, func(c *jsm.Config) { c.Clock, c.CacheTTL = clock, time.Minute }))

	steps := []struct {
		name      string
		before    func()
		wantCalls int64
	}{
		{"first lookup lists 3 pages, the on-calls and 2 users", func() {}, 6},
		{"second lookup asks only for the on-calls", func() {}, 1},
		{"after the cache expires everything is read again", func() { clock.Advance(2 * time.Minute) }, 6},
		{"a re-created schedule is re-resolved", func() {
			srv.RemoveSchedule("Payments")
			srv.AddSchedule("Payments", "acc-alice")
		}, 1 + 3 + 1}, // stale on-calls 404, 3 pages, on-calls; emails cached
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.before()
			before := srv.Calls()
			if _, err := d.OnCallEmails(t.Context(), "Payments"); err != nil {
				t.Fatal(err)
			}
			if got := srv.Calls() - before; got != st.wantCalls {
				t.Errorf("calls = %d, want %d", got, st.wantCalls)
			}
		})
	}
}

func TestDirectoryFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name     string
		fault    *opsgenietest.Fault
		mod      func(*jsm.Config)
		kind     error
		wantWait time.Duration
	}{
		{name: "wrong API token", mod: func(c *jsm.Config) { c.APIToken = "wrong-token-456" }, kind: core.ErrPermission},
		{name: "wrong cloud ID", mod: func(c *jsm.Config) { c.CloudID = "other-cloud" }, kind: core.ErrNotFound},
		{name: "429 with Retry-After", fault: ptr(opsgenietest.RateLimited("3")), kind: core.ErrTransient, wantWait: 3 * time.Second},
		{name: "429 without Retry-After", fault: ptr(opsgenietest.RateLimited("")), kind: core.ErrTransient, wantWait: jsm.DefaultRetryAfter},
		{name: "500 from the user API", fault: ptr(opsgenietest.ServerError().On("/rest/api/3/user")), kind: core.ErrTransient},
		{name: "hang", fault: ptr(opsgenietest.Hang()), mod: func(c *jsm.Config) { c.CallTimeout = 100 * time.Millisecond }, kind: core.ErrTransient},
		{name: "403", fault: ptr(opsgenietest.Status(http.StatusForbidden)), kind: core.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jsmtest.Start(t)
			srv.AddSchedule("Payments", "acc-alice")
			srv.AddAccount("acc-alice", "alice@example.com", true)
			if tt.fault != nil {
				srv.FailNext(1, *tt.fault)
			}
			mods := []func(*jsm.Config){}
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			d := jsm.NewDirectory(config(srv, mods...))
			_, err := d.OnCallEmails(t.Context(), "Payments")
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if got := core.RetryAfter(err); got != tt.wantWait {
				t.Errorf("RetryAfter = %s, want %s", got, tt.wantWait)
			}
			for _, secret := range []string{jsmtest.DefaultAPIToken, "wrong-token-456"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the API token", err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
