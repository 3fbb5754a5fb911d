package pagerduty_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

const (
	botEmail = "oncallgate-bot@example.com"
	// testCallTimeout keeps the hang test short.
	testCallTimeout = 300 * time.Millisecond
	// fastLimit keeps the client-side limiter out of the way in tests that
	// are not about it.
	fastLimit = 600000
)

type fixture struct {
	sb    *pagerdutytest.Server
	c     *pagerduty.Client
	clock *testenv.Clock
	bot   core.PagerDutyUser
	svc   core.PagerDutyService
}

// setup starts a sandbox with the bot user and a "Teleport Notifications"
// service, and a client for it; edit adjusts the client's config.
func setup(t testing.TB, edit func(*pagerduty.Config), opts ...pagerdutytest.Option) fixture {
	t.Helper()
	sb := pagerdutytest.Start(t, opts...)
	f := fixture{sb: sb, clock: testenv.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))}
	f.bot = sb.AddUser(botEmail, "oncallgate")
	f.svc = sb.AddService("Teleport Notifications")
	cfg := pagerduty.Config{
		BaseURL:           sb.URL(),
		APIKey:            sb.APIKey(),
		FromEmail:         botEmail,
		Clock:             f.clock,
		CallTimeout:       testCallTimeout,
		RequestsPerMinute: fastLimit,
	}
	if edit != nil {
		edit(&cfg)
	}
	f.c = pagerduty.New(cfg)
	return f
}

func target(name string) core.Target { return core.Target{Provider: core.PagerDuty, Name: name} }

func message(id string) core.AlertMessage {
	return core.AlertMessage{
		RequestID: id,
		DedupKey:  "teleport-access-request/" + id,
		Title:     "Access request from alice@example.com",
		Body:      "alice@example.com requested permissions for roles prod-admin on Teleport at 21 Nov 26 09:00 UTC.\nReason: deploy hotfix",
	}
}

func TestCreateOpensIncident(t *testing.T) {
	tests := []struct {
		name        string
		urgency     string
		target      string
		wantUrgency string
	}{
		{name: "default urgency is high", target: "Teleport Notifications", wantUrgency: "high"},
		{name: "configured urgency is sent", urgency: "low", target: "Teleport Notifications", wantUrgency: "low"},
		{name: "service name matches in any case", target: "teleport NOTIFICATIONS", wantUrgency: "high"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, func(c *pagerduty.Config) { c.Urgency = tt.urgency })
			msg := message("req-1")
			ref, err := f.c.Create(context.Background(), target(tt.target), msg)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if ref.ID == "" || ref.Resolved || ref.PendingRef != "" {
				t.Fatalf("Create returned %+v, want an open incident ID", ref)
			}
			got, ok := f.sb.IncidentByKey(msg.DedupKey)
			if !ok {
				t.Fatalf("no incident with key %q in the sandbox", msg.DedupKey)
			}
			want := pagerdutytest.Incident{
				ID: ref.ID, Title: msg.Title, Details: msg.Body, Key: msg.DedupKey,
				ServiceID: f.svc.ID, Urgency: tt.wantUrgency, Status: "triggered", CreatedBy: botEmail,
			}
			if got.ID != want.ID || got.Title != want.Title || got.Details != want.Details || got.Key != want.Key ||
				got.ServiceID != want.ServiceID || got.Urgency != want.Urgency || got.Status != want.Status || got.CreatedBy != want.CreatedBy {
				t.Errorf("incident = %+v\nwant fields of %+v", got, want)
			}
		})
	}
}

func TestCreateWithOpenKeyReturnsExistingIncident(t *testing.T) {
	tests := []struct {
		name string
		// between runs between the two creates.
		between     func(f fixture, firstID string)
		wantSameID  bool
		wantCreated int
	}{
		{name: "second create returns the open incident", between: func(fixture, string) {}, wantSameID: true, wantCreated: 1},
		{name: "acknowledged incident is still the open one", between: func(f fixture, id string) { f.sb.Acknowledge(id) }, wantSameID: true, wantCreated: 1},
		{name: "after a person resolved it a new incident opens", between: func(f fixture, id string) { f.sb.Resolve(id) }, wantSameID: false, wantCreated: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, nil)
			ctx := context.Background()
			msg := message("req-dup")
			first, err := f.c.Create(ctx, target("Teleport Notifications"), msg)
			if err != nil {
				t.Fatalf("first Create: %v", err)
			}
			tt.between(f, first.ID)
			second, err := f.c.Create(ctx, target("Teleport Notifications"), msg)
			if err != nil {
				t.Fatalf("second Create: %v", err)
			}
			if (second.ID == first.ID) != tt.wantSameID {
				t.Errorf("second Create returned %s, first %s; want same=%v", second.ID, first.ID, tt.wantSameID)
			}
			n := 0
			for _, in := range f.sb.Incidents() {
				if in.Key == msg.DedupKey {
					n++
				}
			}
			if n != tt.wantCreated {
				t.Errorf("sandbox holds %d incidents with the key, want %d", n, tt.wantCreated)
			}
		})
	}
}

func TestConcurrentCreatesOpenOneIncident(t *testing.T) {
	f := setup(t, nil)
	msg := message("req-race")
	const workers = 8
	ids := make([]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, err := f.c.Create(context.Background(), target("Teleport Notifications"), msg)
			ids[i], errs[i] = ref.ID, err
		}()
	}
	wg.Wait()
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("worker %d got incident %s, worker 0 got %s", i, ids[i], ids[0])
		}
	}
	if got := len(f.sb.Incidents()); got != 1 {
		t.Fatalf("sandbox holds %d incidents, want 1", got)
	}
}

func TestFindLooksUpOpenIncidentByKey(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	msg := message("req-find")
	ref, err := f.c.Create(ctx, target("Teleport Notifications"), msg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Run("open incident is found", func(t *testing.T) {
		got, err := f.c.Find(ctx, target("teleport notifications"), msg.DedupKey)
		if err != nil || got.ID != ref.ID {
			t.Fatalf("Find = %+v, %v; want %s", got, err, ref.ID)
		}
	})
	t.Run("unknown key is not found", func(t *testing.T) {
		if _, err := f.c.Find(ctx, target("Teleport Notifications"), "teleport-access-request/none"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Find = %v, want ErrNotFound", err)
		}
	})
	t.Run("resolved incident is not found", func(t *testing.T) {
		f.sb.Resolve(ref.ID)
		if _, err := f.c.Find(ctx, target("Teleport Notifications"), msg.DedupKey); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Find = %v, want ErrNotFound", err)
		}
	})
}

func TestNotesAndResolve(t *testing.T) {
	tests := []struct {
		name      string
		act       func(ctx context.Context, f fixture, id string) error
		wantNotes []string
	}{
		{
			name: "note is posted",
			act: func(ctx context.Context, f fixture, id string) error {
				return f.c.AddNote(ctx, id, "alice reviewed the request")
			},
			wantNotes: []string{"alice reviewed the request"},
		},
		{
			name: "resolve posts the note first",
			act: func(ctx context.Context, f fixture, id string) error {
				return f.c.Resolve(ctx, id, "Access request has been approved")
			},
			wantNotes: []string{"Access request has been approved"},
		},
		{
			name: "resolving twice succeeds",
			act: func(ctx context.Context, f fixture, id string) error {
				if err := f.c.Resolve(ctx, id, "Access request has been denied"); err != nil {
					return err
				}
				return f.c.Resolve(ctx, id, "")
			},
			wantNotes: []string{"Access request has been denied"},
		},
		{
			name: "resolving what a person resolved succeeds",
			act: func(ctx context.Context, f fixture, id string) error {
				f.sb.Resolve(id)
				return f.c.Resolve(ctx, id, "Access request has been expired")
			},
			wantNotes: []string{"Access request has been expired"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, nil)
			ctx := context.Background()
			ref, err := f.c.Create(ctx, target("Teleport Notifications"), message("req-notes"))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if err := tt.act(ctx, f, ref.ID); err != nil {
				t.Fatalf("act: %v", err)
			}
			var got []string
			for _, n := range f.sb.Notes(ref.ID) {
				if n.UserID != f.bot.ID {
					t.Errorf("note by %s, want the From user %s", n.UserID, f.bot.ID)
				}
				got = append(got, n.Content)
			}
			if strings.Join(got, "|") != strings.Join(tt.wantNotes, "|") {
				t.Errorf("notes = %q, want %q", got, tt.wantNotes)
			}
		})
	}
}

func TestGetReportsState(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	ref, err := f.c.Create(ctx, target("Teleport Notifications"), message("req-get"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got, err := f.c.Get(ctx, ref.ID); err != nil || got.Resolved {
		t.Fatalf("Get open = %+v, %v; want not resolved", got, err)
	}
	f.sb.Resolve(ref.ID)
	if got, err := f.c.Get(ctx, ref.ID); err != nil || !got.Resolved || got.ID != ref.ID {
		t.Fatalf("Get resolved = %+v, %v; want resolved", got, err)
	}
	if _, err := f.c.Get(ctx, "PNOPE99"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Get unknown = %v, want ErrNotFound", err)
	}
	if _, err := f.c.Get(ctx, "../users"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("Get with a path in the ID = %v, want ErrInvalid", err)
	}
}

func TestCompleteIsInvalidForSynchronousCreation(t *testing.T) {
	f := setup(t, nil)
	if _, err := f.c.Complete(context.Background(), "anything"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("Complete = %v, want ErrInvalid", err)
	}
	if f.c.Calls() != 0 {
		t.Fatalf("Complete made %d calls, want 0", f.c.Calls())
	}
}

func TestServiceLookup(t *testing.T) {
	t.Run("second create does not look the service up again", func(t *testing.T) {
		f := setup(t, nil)
		ctx := context.Background()
		for _, id := range []string{"req-a", "req-b"} {
			if _, err := f.c.Create(ctx, target("TELEPORT notifications"), message(id)); err != nil {
				t.Fatalf("Create %s: %v", id, err)
			}
		}
		if n := f.sb.CallCount("GET /services"); n != 1 {
			t.Fatalf("GET /services called %d times, want 1", n)
		}
	})
	t.Run("exact name is found beyond the first page", func(t *testing.T) {
		f := setup(t, nil)
		for i := range 7 {
			f.sb.AddService(fmt.Sprintf("Payments %d", i))
		}
		want := f.sb.AddService("payments")
		got, err := f.c.FindService(context.Background(), "Payments")
		if err != nil || got != want {
			t.Fatalf("FindService = %+v, %v; want %+v", got, err, want)
		}
		if n := f.sb.CallCount("GET /services"); n < 2 {
			t.Fatalf("GET /services called %d times; the test wants the match past the first page", n)
		}
	})
	t.Run("unknown or partial name is not found", func(t *testing.T) {
		f := setup(t, nil)
		for _, name := range []string{"Teleport", "Nope"} {
			_, err := f.c.Create(context.Background(), target(name), message("req-x"))
			if !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("Create in %q = %v, want ErrNotFound", name, err)
			}
			if want := fmt.Sprintf("pagerduty service %q not found", name); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		}
		if len(f.sb.Incidents()) != 0 {
			t.Fatal("an incident was opened for an unknown service")
		}
	})
	t.Run("unknown name is remembered briefly", func(t *testing.T) {
		f := setup(t, func(c *pagerduty.Config) { c.NotFoundTTL = time.Minute })
		ctx := context.Background()
		for range 3 {
			if _, err := f.c.FindService(ctx, "Later"); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("FindService = %v, want ErrNotFound", err)
			}
		}
		if n := f.sb.CallCount("GET /services"); n != 1 {
			t.Fatalf("GET /services called %d times within the TTL, want 1", n)
		}
		want := f.sb.AddService("Later")
		f.clock.Advance(2 * time.Minute)
		got, err := f.c.FindService(ctx, "later")
		if err != nil || got != want {
			t.Fatalf("FindService after the TTL = %+v, %v; want %+v", got, err, want)
		}
	})
}

func TestFindUserByEmail(t *testing.T) {
	f := setup(t, nil)
	alice := f.sb.AddUser("Alice.Smith@Example.com", "Alice Smith")
	f.sb.AddUser("alice.smith@example.com.au", "Other Alice")
	for i := range 5 {
		f.sb.AddUser(fmt.Sprintf("alice.smith+%d@example.com", i), "Alias")
	}
	tests := []struct {
		name    string
		email   string
		want    core.PagerDutyUser
		wantErr error
	}{
		{name: "exact email in other case", email: "alice.smith@EXAMPLE.COM", want: alice},
		{name: "surrounding spaces ignored", email: "  alice.smith@example.com ", want: alice},
		{name: "prefix of another email is not a match", email: "alice.smith@example", wantErr: core.ErrNotFound},
		{name: "unknown email", email: "bob@example.com", wantErr: core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.c.FindUserByEmail(context.Background(), tt.email)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FindUserByEmail = %+v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FindUserByEmail = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestGetUserMapsAgentToEmail(t *testing.T) {
	f := setup(t, nil)
	bob := f.sb.AddUser("bob@example.com", "Bob")
	got, err := f.c.GetUser(context.Background(), bob.ID)
	if err != nil || got != bob {
		t.Fatalf("GetUser = %+v, %v; want %+v", got, err, bob)
	}
	if _, err := f.c.GetUser(context.Background(), "PUNKNOWN"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("GetUser unknown = %v, want ErrNotFound", err)
	}
}

func TestListOnCallsAcrossPages(t *testing.T) {
	f := setup(t, nil)
	alice := f.sb.AddUser("alice@example.com", "Alice")
	bob := f.sb.AddUser("bob@example.com", "Bob")
	var policies []string
	want := map[string]int{}
	for i := range 7 {
		svc := f.sb.AddService(fmt.Sprintf("Service %d", i))
		policies = append(policies, svc.EscalationPolicyID)
		level := i%3 + 1
		f.sb.AddOnCall(alice.ID, svc.EscalationPolicyID, level)
		f.sb.AddOnCall(bob.ID, svc.EscalationPolicyID, 1)
		want[svc.EscalationPolicyID] = level
	}
	other := f.sb.AddService("Not asked")
	f.sb.AddOnCall(alice.ID, other.EscalationPolicyID, 1)

	got, err := f.c.ListOnCalls(context.Background(), alice.ID, policies)
	if err != nil {
		t.Fatalf("ListOnCalls: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListOnCalls returned %d entries, want %d: %+v", len(got), len(want), got)
	}
	for _, oc := range got {
		if lvl, ok := want[oc.EscalationPolicyID]; !ok || lvl != oc.EscalationLevel {
			t.Errorf("entry %+v, want level %d in a requested policy", oc, lvl)
		}
	}
	if n := f.sb.CallCount("GET /oncalls"); n < 3 {
		t.Errorf("GET /oncalls called %d times; the test wants several pages", n)
	}
	if got, err := f.c.ListOnCalls(context.Background(), alice.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("ListOnCalls without policies = %+v, %v; want none", got, err)
	}
}

func TestListActiveIncidentsAcrossPages(t *testing.T) {
	f := setup(t, nil)
	alice := f.sb.AddUser("alice@example.com", "Alice")
	bob := f.sb.AddUser("bob@example.com", "Bob")
	payments := f.sb.AddService("Payments API")
	billing := f.sb.AddService("Billing")
	elsewhere := f.sb.AddService("Elsewhere")
	want := map[string]bool{}
	for i := range 4 {
		status := []string{"triggered", "acknowledged"}[i%2]
		want[f.sb.AddIncident(payments.ID, alice.ID, status).ID] = true
		want[f.sb.AddIncident(billing.ID, alice.ID, "triggered").ID] = true
		f.sb.AddIncident(payments.ID, alice.ID, "resolved")
		f.sb.AddIncident(payments.ID, bob.ID, "triggered")
	}
	f.sb.AddIncident(elsewhere.ID, alice.ID, "triggered")

	got, err := f.c.ListActiveIncidents(context.Background(), alice.ID, []string{payments.ID, billing.ID})
	if err != nil {
		t.Fatalf("ListActiveIncidents: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d incidents, want %d: %+v", len(got), len(want), got)
	}
	for _, in := range got {
		if !want[in.ID] || in.Number == 0 || in.Title == "" || (in.ServiceID != payments.ID && in.ServiceID != billing.ID) {
			t.Errorf("unexpected incident %+v", in)
		}
	}
	if n := f.sb.CallCount("GET /incidents"); n < 3 {
		t.Errorf("GET /incidents called %d times; the test wants several pages", n)
	}
}

func TestFailuresAreClassified(t *testing.T) {
	const defaultWait = 45 * time.Second
	tests := []struct {
		name      string
		fault     pagerdutytest.Fault
		wantKind  error
		wantWait  time.Duration
		wantCause error
	}{
		{name: "429 with ratelimit-reset waits that long", fault: pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: 7 * time.Second}, wantKind: core.ErrTransient, wantWait: 7 * time.Second},
		{name: "429 without headers waits the default", fault: pagerdutytest.Fault{Kind: pagerdutytest.RateLimitedNoHeaders}, wantKind: core.ErrTransient, wantWait: defaultWait},
		{name: "500 is transient", fault: pagerdutytest.Fault{Kind: pagerdutytest.ServerError}, wantKind: core.ErrTransient},
		{name: "no answer is transient after the call timeout", fault: pagerdutytest.Fault{Kind: pagerdutytest.Hang}, wantKind: core.ErrTransient, wantCause: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, func(c *pagerduty.Config) { c.DefaultRetryAfter = defaultWait })
			ctx := context.Background()
			tt.fault.Method, tt.fault.PathPrefix = "POST", "/incidents"
			f.sb.FailNext(1, tt.fault)
			_, err := f.c.Create(ctx, target("Teleport Notifications"), message("req-fault"))
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("Create = %v, want %v", err, tt.wantKind)
			}
			for _, other := range []error{core.ErrPermission, core.ErrInvalid, core.ErrNotFound} {
				if errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if got := core.RetryAfter(err); got != tt.wantWait {
				t.Errorf("RetryAfter = %s, want %s", got, tt.wantWait)
			}
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Errorf("error %v does not wrap %v", err, tt.wantCause)
			}
			// The fault was one call; a retry goes through.
			if _, err := f.c.Create(ctx, target("Teleport Notifications"), message("req-fault")); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}

func TestUnauthorizedIsPermissionWithoutKey(t *testing.T) {
	const wrongKey = "u+wrong-secret-key-4711"
	f := setup(t, func(c *pagerduty.Config) { c.APIKey = wrongKey })
	calls := []struct {
		name string
		call func() error
	}{
		{name: "create", call: func() error {
			_, err := f.c.Create(context.Background(), target("Teleport Notifications"), message("req-auth"))
			return err
		}},
		{name: "find user", call: func() error {
			_, err := f.c.FindUserByEmail(context.Background(), "alice@example.com")
			return err
		}},
		{name: "add note", call: func() error { return f.c.AddNote(context.Background(), "PI00001", "hello") }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, core.ErrPermission) {
				t.Fatalf("err = %v, want ErrPermission", err)
			}
			if strings.Contains(err.Error(), wrongKey) || strings.Contains(err.Error(), "wrong-secret") {
				t.Fatalf("error text %q contains the API key", err)
			}
			if !strings.Contains(err.Error(), "401") {
				t.Errorf("error text %q does not give the status", err)
			}
		})
	}
}

func TestRefusedInputIsInvalid(t *testing.T) {
	tests := []struct {
		name string
		from string
	}{
		{name: "From is not a PagerDuty user", from: "nobody@example.com"},
		{name: "From is missing", from: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, func(c *pagerduty.Config) { c.FromEmail = tt.from })
			_, err := f.c.Create(context.Background(), target("Teleport Notifications"), message("req-from"))
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("Create = %v, want ErrInvalid", err)
			}
			if len(f.sb.Incidents()) != 0 {
				t.Fatal("an incident was opened")
			}
		})
	}
}

func TestLimiterWaitRespectsContext(t *testing.T) {
	f := setup(t, func(c *pagerduty.Config) { c.RequestsPerMinute = 1 })
	if _, err := f.c.FindUserByEmail(context.Background(), botEmail); err != nil {
		t.Fatalf("first call: %v", err)
	}

	t.Run("cancellation while waiting returns the context error", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := f.c.FindUserByEmail(ctx, botEmail)
			done <- err
		}()
		// Cancel once the call is (most likely) parked on the limiter; the
		// outcome is the same if it is not there yet.
		time.AfterFunc(20*time.Millisecond, cancel)
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("a deadline before the next token fails at once as transient", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := f.c.FindUserByEmail(ctx, botEmail)
		if !errors.Is(err, core.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) || core.RetryAfter(err) <= time.Second {
			t.Fatalf("err = %v (retry after %s), want transient deadline error with the wait", err, core.RetryAfter(err))
		}
	})
	if got := f.sb.Calls(); got != 1 {
		t.Fatalf("sandbox saw %d calls, want only the first", got)
	}
	if got := f.c.Calls(); got != 1 {
		t.Fatalf("client counted %d calls, want 1", got)
	}
}

func TestEnsureActions(t *testing.T) {
	f := setup(t, nil)
	payments := f.sb.AddService("Payments API")
	ctx := context.Background()
	services := []string{"Teleport Notifications", "payments api", "PAYMENTS API"}
	const header, secret = "X-Oncallgate-Secret", "s3cret-value-1"

	check := func(t *testing.T, endpoint, secret string) {
		t.Helper()
		exts := f.sb.Extensions()
		if len(exts) != 4 {
			t.Fatalf("sandbox holds %d extensions, want 4: %+v", len(exts), exts)
		}
		for _, svcID := range []string{f.svc.ID, payments.ID} {
			got := map[string]string{}
			for _, e := range exts {
				if len(e.ServiceIDs) == 1 && e.ServiceIDs[0] == svcID {
					if e.SchemaKey != "custom_webhook" {
						t.Errorf("extension %s has schema %q", e.Name, e.SchemaKey)
					}
					if len(e.Headers) != 1 || e.Headers[0] != (pagerdutytest.Header{Name: header, Value: secret}) {
						t.Errorf("extension %s headers = %+v", e.Name, e.Headers)
					}
					got[e.Name] = e.EndpointURL
				}
			}
			want := map[string]string{"Approve Request": endpoint + "?action=approve", "Deny Request": endpoint + "?action=deny"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("service %s actions = %v, want %v", svcID, got, want)
			}
		}
	}
	steps := []struct {
		name                        string
		endpoint, secret            string
		created, updated, unchanged int
	}{
		{name: "creates two actions per service", endpoint: "https://hooks.example.com/pagerduty", secret: secret, created: 4},
		{name: "second run changes nothing", endpoint: "https://hooks.example.com/pagerduty", secret: secret, unchanged: 4},
		{name: "new URL updates in place", endpoint: "https://new.example.com/pagerduty", secret: secret, updated: 4},
		{name: "new secret updates in place", endpoint: "https://new.example.com/pagerduty", secret: "rotated-2", updated: 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c, u, n, err := f.c.EnsureActions(ctx, services, st.endpoint, header, st.secret)
			if err != nil {
				t.Fatalf("EnsureActions: %v", err)
			}
			if c != st.created || u != st.updated || n != st.unchanged {
				t.Fatalf("created, updated, unchanged = %d, %d, %d; want %d, %d, %d", c, u, n, st.created, st.updated, st.unchanged)
			}
			check(t, st.endpoint, st.secret)
		})
	}
	t.Run("unknown service is not found and creates nothing", func(t *testing.T) {
		_, _, _, err := f.c.EnsureActions(ctx, []string{"Nope"}, "https://new.example.com/pagerduty", header, secret)
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("missing secret is refused", func(t *testing.T) {
		_, _, _, err := f.c.EnsureActions(ctx, services, "https://new.example.com/pagerduty", header, "")
		if !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("failures never show the secret", func(t *testing.T) {
		f.sb.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.ServerError, Method: "PUT", PathPrefix: "/extensions/"})
		_, _, _, err := f.c.EnsureActions(ctx, services, "https://third.example.com/pagerduty", header, secret)
		if !errors.Is(err, core.ErrTransient) || strings.Contains(err.Error(), secret) {
			t.Fatalf("err = %v, want transient without the secret", err)
		}
	})
}

func TestListExtensionSchemas(t *testing.T) {
	f := setup(t, nil)
	schemas, err := f.c.ListExtensionSchemas(context.Background())
	if err != nil {
		t.Fatalf("ListExtensionSchemas: %v", err)
	}
	found := false
	for _, s := range schemas {
		found = found || (s.Key == pagerduty.CustomWebhookSchemaKey && s.ID != "")
	}
	if !found {
		t.Fatalf("no custom_webhook schema in %+v", schemas)
	}
}

// BenchmarkCreateAndResolve measures one incident's life: create, note,
// resolve; calls/op is the HTTP requests it costs.
func BenchmarkCreateAndResolve(b *testing.B) {
	f := setup(b, nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		ref, err := f.c.Create(ctx, target("Teleport Notifications"), message(fmt.Sprint(i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := f.c.Resolve(ctx, ref.ID, "Access request has been approved"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.c.Calls())/float64(b.N), "calls/op")
}
