package opsgenie_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/opsgenie"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func newClient(srv *opsgenietest.Server, mod ...func(*opsgenie.Config)) *opsgenie.Client {
	cfg := opsgenie.Config{
		BaseURL:          srv.URL,
		APIKey:           opsgenietest.DefaultAPIKey,
		CallTimeout:      2 * time.Second,
		CompleteInterval: time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	return opsgenie.New(cfg)
}

func message(id string) core.AlertMessage {
	req := core.Request{ID: id, User: "alice@example.com", Roles: []string{"prod-admin"}, Reason: "deploy hotfix",
		Created: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	return core.NewAlertMessage(req, "teleport.example.com", true)
}

func schedule(name string) core.Target {
	return core.Target{Provider: core.Opsgenie, Kind: core.KindSchedule, Name: name}
}

func TestCreateSendsTheTargetAsResponder(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments On-Call")
	srv.AddTeam("SRE")
	teamID := srv.AddTeam("Platform")
	srv.AddUser("bob@example.com")
	userID := srv.AddUser("carol@example.com")
	srv.AddEscalation("Payments Escalation")
	c := newClient(srv)

	tests := []struct {
		name   string
		target core.Target
		want   opsgenietest.Responder
	}{
		{"schedule by name", core.Target{Provider: core.Opsgenie, Kind: core.KindSchedule, Name: "Payments On-Call"},
			opsgenietest.Responder{Type: "schedule", Name: "Payments On-Call"}},
		{"empty kind means schedule", core.Target{Provider: core.Opsgenie, Name: "Payments On-Call"},
			opsgenietest.Responder{Type: "schedule", Name: "Payments On-Call"}},
		{"team by name", core.Target{Provider: core.Opsgenie, Kind: core.KindTeam, Name: "SRE"},
			opsgenietest.Responder{Type: "team", Name: "SRE"}},
		{"team by id when the name is a UUID", core.Target{Provider: core.Opsgenie, Kind: core.KindTeam, Name: teamID},
			opsgenietest.Responder{Type: "team", ID: teamID}},
		{"user by username", core.Target{Provider: core.Opsgenie, Kind: core.KindUser, Name: "bob@example.com"},
			opsgenietest.Responder{Type: "user", Username: "bob@example.com"}},
		{"user by id when the name is a UUID", core.Target{Provider: core.Opsgenie, Kind: core.KindUser, Name: userID},
			opsgenietest.Responder{Type: "user", ID: userID}},
		{"escalation by name", core.Target{Provider: core.Opsgenie, Kind: core.KindEscalation, Name: "Payments Escalation"},
			opsgenietest.Responder{Type: "escalation", Name: "Payments Escalation"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := message("req-responder-" + string(rune('a'+i)))
			ref, err := c.Create(t.Context(), tt.target, msg)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			a, ok := srv.AlertByAlias(msg.DedupKey)
			if !ok {
				t.Fatalf("no alert with alias %q in the sandbox", msg.DedupKey)
			}
			if ref.ID != a.ID || ref.PendingRef != "" {
				t.Errorf("ref = %+v, want ID %s", ref, a.ID)
			}
			if len(a.Responders) != 1 || a.Responders[0] != tt.want {
				t.Errorf("responders = %+v, want [%+v]", a.Responders, tt.want)
			}
		})
	}
}

func TestCreateRejectsAnUnknownResponderKind(t *testing.T) {
	srv := opsgenietest.Start(t)
	c := newClient(srv)
	_, err := c.Create(t.Context(), core.Target{Provider: core.Opsgenie, Kind: "service", Name: "x"}, message("req-kind"))
	if !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if srv.Calls() != 0 {
		t.Errorf("sandbox saw %d calls, want none", srv.Calls())
	}
}

func TestCreateWritesMessageDetailsActionsPriorityAndTags(t *testing.T) {
	tests := []struct {
		name         string
		priority     string
		tags         []string
		wantPriority string
		wantTags     []string
	}{
		{"defaults", "", nil, "P3", []string{"TeleportAccessRequest"}},
		{"configured", "p1", []string{"teleport", "prod"}, "P1", []string{"teleport", "prod"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := opsgenietest.Start(t)
			srv.AddSchedule("Payments")
			c := newClient(srv, func(cfg *opsgenie.Config) { cfg.Priority, cfg.Tags = tt.priority, tt.tags })
			msg := message("req-fields-" + string(rune('a'+i)))
			if _, err := c.Create(t.Context(), schedule("Payments"), msg); err != nil {
				t.Fatalf("Create: %v", err)
			}
			a, _ := srv.AlertByAlias(msg.DedupKey)
			if a.Message != msg.Title || a.Description != msg.Body {
				t.Errorf("message/description = %q / %q, want %q / %q", a.Message, a.Description, msg.Title, msg.Body)
			}
			if a.Priority != tt.wantPriority || !slices.Equal(a.Tags, tt.wantTags) {
				t.Errorf("priority/tags = %s %v, want %s %v", a.Priority, a.Tags, tt.wantPriority, tt.wantTags)
			}
			if !slices.Equal(a.Actions, []string{"Approve", "Deny"}) {
				t.Errorf("actions = %v, want [Approve Deny]", a.Actions)
			}
			if a.Details["request_id"] != msg.RequestID || a.Details["user"] != "alice@example.com" || a.Details["link"] == "" {
				t.Errorf("details = %v, want request_id, user and link", a.Details)
			}
			if a.Source != "oncallgate" || a.User != "oncallgate" {
				t.Errorf("source/user = %q/%q, want oncallgate", a.Source, a.User)
			}
		})
	}
}

func TestCreateTruncatesToOpsgenieLimits(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments")
	c := newClient(srv)
	msg := message("req-long")
	msg.Title = "Access request from " + strings.Repeat("ü", 300)
	msg.Body = strings.Repeat("x", 20000)
	if _, err := c.Create(t.Context(), schedule("Payments"), msg); err != nil {
		t.Fatalf("Create: %v", err)
	}
	a, _ := srv.AlertByAlias(msg.DedupKey)
	if n := utf8.RuneCountInString(a.Message); n != opsgenietest.MaxMessage {
		t.Errorf("message has %d characters, want %d", n, opsgenietest.MaxMessage)
	}
	if n := utf8.RuneCountInString(a.Description); n != opsgenietest.MaxDescription {
		t.Errorf("description has %d characters, want %d", n, opsgenietest.MaxDescription)
	}
}

func TestClientUsesTheConfiguredBaseURL(t *testing.T) {
	us := opsgenietest.Start(t)
	eu := opsgenietest.Start(t)
	us.AddSchedule("Payments")
	eu.AddSchedule("Payments")
	c := newClient(eu)
	msg := message("req-eu")
	if _, err := c.Create(t.Context(), schedule("Payments"), msg); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, ok := eu.AlertByAlias(msg.DedupKey); !ok {
		t.Error("the configured sandbox has no alert")
	}
	if us.Calls() != 0 || len(us.Alerts()) != 0 {
		t.Errorf("the other sandbox saw %d calls and holds %d alerts, want none", us.Calls(), len(us.Alerts()))
	}
}

func TestCreateReturnsPendingRefUntilProcessed(t *testing.T) {
	srv := opsgenietest.Start(t, opsgenietest.WithProcessAfterPolls(-1))
	srv.AddSchedule("Payments")
	c := newClient(srv)
	msg := message("req-pending")

	ref, err := c.Create(t.Context(), schedule("Payments"), msg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if ref.ID != "" || ref.PendingRef == "" {
		t.Fatalf("ref = %+v, want only a PendingRef", ref)
	}
	if _, err := c.Complete(t.Context(), ref.PendingRef); !errors.Is(err, core.ErrAlertPending) {
		t.Fatalf("Complete before processing: err = %v, want ErrAlertPending", err)
	}
	if _, err := c.Find(t.Context(), schedule("Payments"), msg.DedupKey); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Find before processing: err = %v, want ErrNotFound", err)
	}

	srv.ProcessPending()
	done, err := c.Complete(t.Context(), ref.PendingRef)
	if err != nil {
		t.Fatalf("Complete after processing: %v", err)
	}
	a, _ := srv.AlertByAlias(msg.DedupKey)
	if done.ID != a.ID {
		t.Errorf("Complete ID = %q, want %q", done.ID, a.ID)
	}
}

func TestCreatePollsABoundedNumberOfTimes(t *testing.T) {
	tests := []struct {
		name         string
		processAfter int
		polls        int
		wantPending  bool
		wantCalls    int64
	}{
		{"processed at once: one poll", 0, 3, false, 2},
		{"processed on the second poll", 2, 3, false, 3},
		{"not processed within the polls", 5, 3, true, 4},
		{"polling switched off", 0, -1, true, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := opsgenietest.Start(t, opsgenietest.WithProcessAfterPolls(tt.processAfter))
			srv.AddSchedule("Payments")
			c := newClient(srv, func(cfg *opsgenie.Config) { cfg.CompletePolls = tt.polls })
			ref, err := c.Create(t.Context(), schedule("Payments"), message("req-polls-"+string(rune('a'+i))))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if (ref.PendingRef != "") != tt.wantPending || (ref.ID == "") != tt.wantPending {
				t.Errorf("ref = %+v, want pending=%v", ref, tt.wantPending)
			}
			if c.Calls() != tt.wantCalls || srv.Calls() != tt.wantCalls {
				t.Errorf("calls = %d (sandbox %d), want %d", c.Calls(), srv.Calls(), tt.wantCalls)
			}
		})
	}
}

func TestCreateStopsPollingWhenTheContextEnds(t *testing.T) {
	srv := opsgenietest.Start(t, opsgenietest.WithProcessAfterPolls(-1))
	srv.AddSchedule("Payments")
	c := newClient(srv, func(cfg *opsgenie.Config) {
		cfg.CompletePolls, cfg.CompleteInterval = 1000, 20*time.Millisecond
	})
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	ref, err := c.Create(ctx, schedule("Payments"), message("req-ctx"))
	if err != nil || ref.PendingRef == "" {
		t.Fatalf("Create = %+v, %v; want a PendingRef and no error", ref, err)
	}
	if c.Calls() > 20 {
		t.Errorf("made %d calls after the context ended", c.Calls())
	}
}

func TestCreateReturnsPendingRefWhenAPollFails(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments")
	srv.FailNext(1, opsgenietest.ServerError().On("/requests/"))
	c := newClient(srv)
	ref, err := c.Create(t.Context(), schedule("Payments"), message("req-pollfail"))
	if err != nil || ref.PendingRef == "" {
		t.Fatalf("Create = %+v, %v; want a PendingRef and no error", ref, err)
	}
	done, err := c.Complete(t.Context(), ref.PendingRef)
	if err != nil || done.ID == "" {
		t.Fatalf("Complete = %+v, %v; want the alert ID", done, err)
	}
}

func TestCreateWithUnknownResponderIsNotFound(t *testing.T) {
	srv := opsgenietest.Start(t)
	c := newClient(srv)
	_, err := c.Create(t.Context(), schedule("Nobody Schedule"), message("req-unknown"))
	if !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "Nobody Schedule") {
		t.Errorf("error %q does not name the schedule", err)
	}
	if len(srv.Alerts()) != 0 {
		t.Error("an alert was created")
	}
}

func TestCompleteOfARejectedRequestCarriesTheStatusText(t *testing.T) {
	srv := opsgenietest.Start(t, opsgenietest.WithProcessAfterPolls(-1))
	c := newClient(srv)
	ref, err := c.Create(t.Context(), schedule("Gone"), message("req-rejected"))
	if err != nil || ref.PendingRef == "" {
		t.Fatalf("Create = %+v, %v; want pending", ref, err)
	}
	srv.ProcessPending()
	_, err = c.Complete(t.Context(), ref.PendingRef)
	var rf *opsgenie.RequestFailedError
	if !errors.As(err, &rf) || !strings.Contains(rf.Status, "does not exist") {
		t.Fatalf("err = %v, want a RequestFailedError with the status text", err)
	}
	if errors.Is(err, core.ErrAlertPending) {
		t.Error("a rejected request must not look pending")
	}
}

func TestCreateWithTheSameAliasReturnsTheSameAlert(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments")
	c := newClient(srv)
	msg := message("req-dedup")
	first, err := c.Create(t.Context(), schedule("Payments"), msg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Create(t.Context(), schedule("Payments"), msg)
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == "" || first.ID != second.ID {
		t.Errorf("IDs = %q, %q; want the same alert", first.ID, second.ID)
	}
	alerts := srv.Alerts()
	if len(alerts) != 1 || alerts[0].Count != 2 {
		t.Errorf("sandbox holds %d alerts (count %d), want 1 alert with count 2", len(alerts), alerts[0].Count)
	}
}

func TestFindReturnsOnlyOpenAlerts(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments")
	c := newClient(srv)
	msg := message("req-find")
	ref, err := c.Create(t.Context(), schedule("Payments"), msg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("open alert is found by alias", func(t *testing.T) {
		got, err := c.Find(t.Context(), schedule("Payments"), msg.DedupKey)
		if err != nil || got.ID != ref.ID {
			t.Fatalf("Find = %+v, %v; want %s", got, err, ref.ID)
		}
	})
	t.Run("unknown alias is not found", func(t *testing.T) {
		_, err := c.Find(t.Context(), schedule("Payments"), core.DedupKey("req-none"))
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("closed alert is not found", func(t *testing.T) {
		srv.Close(ref.ID)
		_, err := c.Find(t.Context(), schedule("Payments"), msg.DedupKey)
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("create after close opens a fresh alert", func(t *testing.T) {
		again, err := c.Create(t.Context(), schedule("Payments"), msg)
		if err != nil || again.ID == "" || again.ID == ref.ID {
			t.Fatalf("Create = %+v, %v; want a new alert", again, err)
		}
	})
}

func TestGetReportsClosedAlertsAsResolved(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments")
	c := newClient(srv)
	ref, err := c.Create(t.Context(), schedule("Payments"), message("req-get"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(t.Context(), ref.ID)
	if err != nil || got.Resolved || got.ID != ref.ID {
		t.Fatalf("Get open = %+v, %v", got, err)
	}
	srv.Close(ref.ID)
	got, err = c.Get(t.Context(), ref.ID)
	if err != nil || !got.Resolved {
		t.Fatalf("Get closed = %+v, %v; want Resolved", got, err)
	}
	if _, err := c.Get(t.Context(), "no-such-alert"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Get unknown: err = %v, want ErrNotFound", err)
	}
	key, err := c.DedupKeyOf(t.Context(), ref.ID)
	if err != nil || key != core.DedupKey("req-get") {
		t.Fatalf("DedupKeyOf = %q, %v", key, err)
	}
}

func TestNotesAndClose(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments")
	c := newClient(srv)
	ref, err := c.Create(t.Context(), schedule("Payments"), message("req-notes"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("note is posted as oncallgate", func(t *testing.T) {
		if err := c.AddNote(t.Context(), ref.ID, "bob reviewed the request"); err != nil {
			t.Fatal(err)
		}
		notes := srv.Notes(ref.ID)
		if len(notes) != 1 || notes[0].Note != "bob reviewed the request" || notes[0].User != "oncallgate" || notes[0].Source != "oncallgate" {
			t.Fatalf("notes = %+v", notes)
		}
	})
	t.Run("note on an unknown alert is not found", func(t *testing.T) {
		if err := c.AddNote(t.Context(), "no-such-alert", "x"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("resolve closes with the note", func(t *testing.T) {
		if err := c.Resolve(t.Context(), ref.ID, "Access request has been approved"); err != nil {
			t.Fatal(err)
		}
		a, _ := srv.AlertByAlias(core.DedupKey("req-notes"))
		if a.Status != "closed" || a.ClosedBy != "oncallgate" {
			t.Errorf("alert status %q closed by %q, want closed by oncallgate", a.Status, a.ClosedBy)
		}
		notes := srv.Notes(ref.ID)
		if len(notes) != 2 || notes[1].Note != "Access request has been approved" {
			t.Errorf("notes = %+v, want the resolution note last", notes)
		}
	})
	t.Run("resolving twice succeeds", func(t *testing.T) {
		if err := c.Resolve(t.Context(), ref.ID, "Access request has been approved"); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Notes(ref.ID)); n != 2 {
			t.Errorf("second close added a note: %d notes", n)
		}
	})
	t.Run("resolving a vanished alert succeeds", func(t *testing.T) {
		if err := c.Resolve(t.Context(), "no-such-alert", ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOnCallEmails(t *testing.T) {
	srv := opsgenietest.Start(t)
	srv.AddSchedule("Payments On-Call", "alice@example.com", "bob@example.com")
	srv.AddSchedule("Empty")
	c := newClient(srv)

	tests := []struct {
		name     string
		schedule string
		want     []string
		wantErr  error
	}{
		{"on-call recipients", "Payments On-Call", []string{"alice@example.com", "bob@example.com"}, nil},
		{"nobody on call", "Empty", []string{}, nil},
		{"unknown schedule", "Nope", nil, core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.OnCallEmails(t.Context(), tt.schedule)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if !strings.Contains(err.Error(), `opsgenie schedule "Nope" not found`) {
					t.Errorf("error %q does not say which schedule is missing", err)
				}
				return
			}
			if len(got) != len(tt.want) || !slices.Equal(got, tt.want) {
				t.Errorf("emails = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("on-call changes are seen", func(t *testing.T) {
		srv.SetOnCall("Payments On-Call", "carol@example.com")
		got, err := c.OnCallEmails(t.Context(), "Payments On-Call")
		if err != nil || !slices.Equal(got, []string{"carol@example.com"}) {
			t.Fatalf("emails = %v, %v", got, err)
		}
	})
}

func TestFailuresAreClassified(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	tests := []struct {
		name          string
		fault         *opsgenietest.Fault
		key           string
		timeout       time.Duration
		kind          error
		wantWait      time.Duration
		wantInMessage string
	}{
		{name: "429 with Retry-After seconds", fault: ptr(opsgenietest.RateLimited("7")), kind: core.ErrTransient, wantWait: 7 * time.Second},
		{name: "429 with Retry-After date", fault: ptr(opsgenietest.RateLimited(clock.Now().Add(90 * time.Second).Format(http.TimeFormat))),
			kind: core.ErrTransient, wantWait: 90 * time.Second},
		{name: "429 without Retry-After", fault: ptr(opsgenietest.RateLimited("")), kind: core.ErrTransient, wantWait: opsgenie.DefaultRetryAfter},
		{name: "500", fault: ptr(opsgenietest.ServerError()), kind: core.ErrTransient},
		{name: "503", fault: ptr(opsgenietest.Status(http.StatusServiceUnavailable)), kind: core.ErrTransient},
		{name: "hang past the call timeout", fault: ptr(opsgenietest.Hang()), timeout: 100 * time.Millisecond, kind: core.ErrTransient},
		{name: "403", fault: ptr(opsgenietest.Status(http.StatusForbidden)), kind: core.ErrPermission},
		{name: "401 for a wrong key", key: "wrong-secret-key-123", kind: core.ErrPermission, wantInMessage: "401"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := opsgenietest.Start(t)
			srv.AddSchedule("Payments")
			if tt.fault != nil {
				srv.FailNext(1, *tt.fault)
			}
			c := newClient(srv, func(cfg *opsgenie.Config) {
				cfg.Clock = clock
				if tt.key != "" {
					cfg.APIKey = tt.key
				}
				if tt.timeout > 0 {
					cfg.CallTimeout = tt.timeout
				}
			})
			_, err := c.Create(t.Context(), schedule("Payments"), message("req-fault-"+string(rune('a'+i))))
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if got := core.RetryAfter(err); got != tt.wantWait {
				t.Errorf("RetryAfter = %s, want %s", got, tt.wantWait)
			}
			if !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Errorf("error %q does not contain %q", err, tt.wantInMessage)
			}
			for _, secret := range []string{opsgenietest.DefaultAPIKey, "wrong-secret-key-123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error text %q contains the API key", err)
				}
			}
		})
	}
}

func TestUnreachableAPIIsTransient(t *testing.T) {
	srv := opsgenietest.Start(t)
	c := newClient(srv, func(cfg *opsgenie.Config) { cfg.BaseURL = "http://127.0.0.1:1" })
	_, err := c.OnCallEmails(t.Context(), "Payments")
	if !errors.Is(err, core.ErrTransient) {
		t.Fatalf("err = %v, want ErrTransient", err)
	}
}

func TestProviderNamesTheConfiguredProvider(t *testing.T) {
	if p := opsgenie.New(opsgenie.Config{}).Provider(); p != core.Opsgenie {
		t.Errorf("default provider = %s, want opsgenie", p)
	}
	if p := opsgenie.New(opsgenie.Config{Provider: core.JSM}).Provider(); p != core.JSM {
		t.Errorf("provider = %s, want jsm", p)
	}
}

func ptr[T any](v T) *T { return &v }

func BenchmarkCreateNoteResolve(b *testing.B) {
	srv := opsgenietest.Start(b, opsgenietest.WithAnyResponder())
	c := newClient(srv)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		ref, err := c.Create(ctx, schedule("Payments"), message(fmt.Sprintf("bench-%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.AddNote(ctx, ref.ID, "note"); err != nil {
			b.Fatal(err)
		}
		if err := c.Resolve(ctx, ref.ID, "done"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.Calls())/float64(b.N), "calls/op")
}

func TestOversizedFieldsAreInvalid(t *testing.T) {
	tags := make([]string, 21)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%d", i)
	}
	tests := []struct {
		name    string
		mod     func(*opsgenie.Config)
		msg     func(*core.AlertMessage)
		wantKey string
	}{
		{"more than 20 tags", func(c *opsgenie.Config) { c.Tags = tags }, nil, "tags"},
		{"alias longer than 512", nil, func(m *core.AlertMessage) { m.DedupKey = core.DedupKey(strings.Repeat("r", 600)) }, "alias"},
		{"priority outside P1..P5", func(c *opsgenie.Config) { c.Priority = "P9" }, nil, "priority"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := opsgenietest.Start(t)
			srv.AddSchedule("Payments")
			mods := []func(*opsgenie.Config){}
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			c := newClient(srv, mods...)
			msg := message(fmt.Sprintf("req-invalid-%d", i))
			if tt.msg != nil {
				tt.msg(&msg)
			}
			_, err := c.Create(t.Context(), schedule("Payments"), msg)
			if !errors.Is(err, core.ErrInvalid) || errors.Is(err, core.ErrTransient) {
				t.Fatalf("err = %v, want ErrInvalid only", err)
			}
			if !strings.Contains(err.Error(), tt.wantKey+": ") {
				t.Errorf("error %q does not carry Opsgenie's message about %s", err, tt.wantKey)
			}
			if len(srv.Alerts()) != 0 {
				t.Error("an alert was created")
			}
		})
	}
}
