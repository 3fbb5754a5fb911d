package pagerduty_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	t.Run("concurrent first creates share one lookup", func(t *testing.T) {
		f := setup(t, nil)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.c.Create(context.Background(), target("Teleport Notifications"), message(fmt.Sprintf("req-%d", i))); err != nil {
					t.Errorf("Create: %v", err)
				}
			}()
		}
		wg.Wait()
		if n := f.sb.CallCount("GET /services"); n != 1 {
			t.Fatalf("GET /services called %d times by 8 concurrent creates, want 1", n)
		}
		if n := len(f.sb.Incidents()); n != 8 {
			t.Fatalf("%d incidents, want 8", n)
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
	// The waits of the 429s are longer than the deadline, so the client
	// does not send them again (TestRateLimitedCallIsSentAgain does).
	const (
		deadline    = 5 * time.Second
		defaultWait = 45 * time.Second
	)
	tests := []struct {
		name      string
		fault     pagerdutytest.Fault
		wantKind  error
		wantWait  time.Duration
		wantCause error
		// wantPaused says the client holds every call afterwards, for the
		// wait.
		wantPaused bool
	}{
		{name: "429 with ratelimit-reset waits that long", fault: pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: 7 * time.Second}, wantKind: core.ErrTransient, wantWait: 7 * time.Second, wantPaused: true},
		{name: "429 without headers waits the default", fault: pagerdutytest.Fault{Kind: pagerdutytest.RateLimitedNoHeaders}, wantKind: core.ErrTransient, wantWait: defaultWait, wantPaused: true},
		{name: "500 is transient", fault: pagerdutytest.Fault{Kind: pagerdutytest.ServerError}, wantKind: core.ErrTransient},
		{name: "no answer is transient after the call timeout", fault: pagerdutytest.Fault{Kind: pagerdutytest.Hang}, wantKind: core.ErrTransient, wantCause: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, func(c *pagerduty.Config) { c.DefaultRetryAfter = defaultWait })
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
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
			if got := f.sb.CallCount("POST /incidents"); got != 1 {
				t.Errorf("POST /incidents sent %d times, want once", got)
			}
			sent := f.sb.Calls()
			_, err = f.c.Create(ctx, target("Teleport Notifications"), message("req-fault"))
			if !tt.wantPaused {
				// The fault was one call; a retry goes through.
				if err != nil {
					t.Fatalf("retry: %v", err)
				}
				return
			}
			if !errors.Is(err, core.ErrTransient) || core.RetryAfter(err) <= 0 || core.RetryAfter(err) > tt.wantWait {
				t.Fatalf("call during the pause = %v (retry after %s), want transient with the rest of the wait", err, core.RetryAfter(err))
			}
			if f.sb.Calls() != sent {
				t.Fatalf("a call reached the sandbox during the pause")
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

// sendLog is an http.RoundTripper that records when each request went out
// and when its answer came back.
type sendLog struct {
	mu    sync.Mutex
	sends []send
}

type send struct {
	path       string
	start, end time.Time
	status     int
}

func (l *sendLog) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := http.DefaultTransport.RoundTrip(r)
	s := send{path: r.URL.Path, start: start, end: time.Now()}
	if err == nil {
		s.status = resp.StatusCode
	}
	l.mu.Lock()
	l.sends = append(l.sends, s)
	l.mu.Unlock()
	return resp, err
}

func (l *sendLog) all() []send {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]send(nil), l.sends...)
}

func TestRateLimitedCallIsSentAgain(t *testing.T) {
	tests := []struct {
		name  string
		fault pagerdutytest.Fault
		// faults is how many answers in a row are 429.
		faults      int
		wantWait    time.Duration // at least, before the call returns
		wantErr     bool
		wantPosts   int
		wantCreated int
	}{
		{name: "after ratelimit-reset", fault: pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: time.Second}, faults: 1, wantWait: time.Second, wantPosts: 2, wantCreated: 1},
		{name: "after the default wait without headers", fault: pagerdutytest.Fault{Kind: pagerdutytest.RateLimitedNoHeaders}, faults: 1, wantWait: time.Second, wantPosts: 2, wantCreated: 1},
		{name: "at most three times", fault: pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: time.Second}, faults: 4, wantWait: 2 * time.Second, wantErr: true, wantPosts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, func(c *pagerduty.Config) { c.DefaultRetryAfter = time.Second })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tt.fault.Method, tt.fault.PathPrefix = "POST", "/incidents"
			f.sb.FailNext(tt.faults, tt.fault)
			start := time.Now()
			_, err := f.c.Create(ctx, target("Teleport Notifications"), message("req-429"))
			waited := time.Since(start)
			if tt.wantErr {
				if !errors.Is(err, core.ErrTransient) || core.RetryAfter(err) != time.Second {
					t.Fatalf("Create = %v (retry after %s), want the last 429 as transient with its wait", err, core.RetryAfter(err))
				}
			} else if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if waited < tt.wantWait {
				t.Errorf("Create returned after %s, want at least %s", waited, tt.wantWait)
			}
			if got := f.sb.CallCount("POST /incidents"); got != tt.wantPosts {
				t.Errorf("POST /incidents sent %d times, want %d", got, tt.wantPosts)
			}
			if got := len(f.sb.Incidents()); got != tt.wantCreated {
				t.Errorf("sandbox holds %d incidents, want %d", got, tt.wantCreated)
			}
			limited := int64(min(tt.faults, tt.wantPosts))
			if f.c.RateLimited() != limited || int64(f.sb.RateLimitedCount()) != limited {
				t.Errorf("client counted %d 429s, sandbox sent %d; want %d", f.c.RateLimited(), f.sb.RateLimitedCount(), limited)
			}
			if want := int64(1 + tt.wantPosts); f.c.Calls() != want { // the service lookup, then the posts
				t.Errorf("client counted %d calls, want %d", f.c.Calls(), want)
			}
		})
	}
}

func TestRateLimitPausesEveryCaller(t *testing.T) {
	const reset = 2 * time.Second
	log := &sendLog{}
	f := setup(t, func(c *pagerduty.Config) { c.HTTPClient = &http.Client{Transport: log} })
	f.sb.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: reset, Method: "GET", PathPrefix: "/users/"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const callers = 7
	errs := make(chan error, callers)
	call := func() {
		_, err := f.c.GetUser(ctx, f.bot.ID)
		errs <- err
	}
	go call() // meets the 429
	for f.c.RateLimited() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no 429 reached the client")
		}
		time.Sleep(5 * time.Millisecond)
	}
	limitedAt := log.all()[0].end // the client starts its pause after this
	for range callers - 1 {
		go call()
	}
	before := f.sb.Calls()
	time.Sleep(reset / 4)
	during := f.sb.Calls()
	// Only meaningful while provably inside the pause; a slow machine may
	// have let it pass already.
	if time.Since(limitedAt) < reset && during != before {
		t.Errorf("sandbox saw %d calls during the pause", during-before)
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatalf("GetUser: %v", err)
		}
	}
	sends := log.all()
	if len(sends) != callers+1 {
		t.Fatalf("client sent %d requests, want %d (one 429, then one each)", len(sends), callers+1)
	}
	for _, s := range sends[1:] {
		if s.start.Sub(limitedAt) < reset {
			t.Errorf("a request went out %s after the 429, inside its %s reset", s.start.Sub(limitedAt), reset)
		}
	}
}

func TestRateLimitBeyondDeadlineFailsAtOnce(t *testing.T) {
	const reset = 30 * time.Second
	f := setup(t, nil)
	f.sb.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: reset, Method: "POST", PathPrefix: "/incidents"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := f.c.Create(ctx, target("Teleport Notifications"), message("req-late"))
	if !errors.Is(err, core.ErrTransient) || core.RetryAfter(err) != reset {
		t.Fatalf("Create = %v (retry after %s), want transient with the %s wait", err, core.RetryAfter(err), reset)
	}
	if ctx.Err() != nil {
		t.Fatal("Create slept into its deadline")
	}
	if got := f.sb.CallCount("POST /incidents"); got != 1 || len(f.sb.Incidents()) != 0 {
		t.Fatalf("POST /incidents sent %d times, %d incidents; want one refused post", got, len(f.sb.Incidents()))
	}
	t.Run("other calls wait for the same reset", func(t *testing.T) {
		sent := f.sb.Calls()
		_, err := f.c.FindUserByEmail(ctx, botEmail)
		if !errors.Is(err, core.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) || core.RetryAfter(err) <= 0 || core.RetryAfter(err) > reset {
			t.Fatalf("FindUserByEmail = %v (retry after %s), want transient with the rest of the reset", err, core.RetryAfter(err))
		}
		if f.sb.Calls() != sent {
			t.Fatal("a call reached the sandbox during the pause")
		}
	})
}

func TestServerHeadersLimitTheClient(t *testing.T) {
	// The sandbox's window is a minute long, far beyond these deadlines: a
	// call the headers hold back fails at once with the wait.
	const deadline = 3 * time.Second
	short := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		t.Cleanup(cancel)
		return ctx
	}
	heldBack := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, core.ErrTransient) || core.RetryAfter(err) <= deadline || core.RetryAfter(err) > time.Minute {
			t.Fatalf("err = %v (retry after %s), want transient with the wait for the window's reset", err, core.RetryAfter(err))
		}
	}

	t.Run("remaining 0 on a success holds the next call", func(t *testing.T) {
		f := setup(t, nil, pagerdutytest.WithRateLimit(2))
		for i := range 2 {
			if _, err := f.c.GetUser(short(t), f.bot.ID); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		_, err := f.c.GetUser(short(t), f.bot.ID)
		heldBack(t, err)
		if f.sb.Calls() != 2 || f.sb.RateLimitedCount() != 0 {
			t.Fatalf("sandbox saw %d calls and sent %d 429s, want 2 and none", f.sb.Calls(), f.sb.RateLimitedCount())
		}
	})
	t.Run("concurrent callers send no more than remaining", func(t *testing.T) {
		const limit, callers = 10, 20
		f := setup(t, nil, pagerdutytest.WithRateLimit(limit))
		if _, err := f.c.GetUser(short(t), f.bot.ID); err != nil { // learns remaining 9
			t.Fatalf("first call: %v", err)
		}
		ctx := short(t)
		errs := make(chan error, callers)
		for range callers {
			go func() {
				_, err := f.c.GetUser(ctx, f.bot.ID)
				errs <- err
			}()
		}
		ok := 0
		for range callers {
			err := <-errs
			if err == nil {
				ok++
				continue
			}
			heldBack(t, err)
		}
		if ok != limit-1 || f.sb.Calls() != limit || f.sb.RateLimitedCount() != 0 {
			t.Fatalf("%d callers got through, sandbox saw %d calls and sent %d 429s; want %d, %d and none", ok, f.sb.Calls(), f.sb.RateLimitedCount(), limit-1, limit)
		}
	})
	t.Run("what other clients of the key spend is learned from the answers", func(t *testing.T) {
		f := setup(t, nil, pagerdutytest.WithRateLimit(6))
		other := pagerduty.New(pagerduty.Config{BaseURL: f.sb.URL(), APIKey: f.sb.APIKey(), RequestsPerMinute: fastLimit})
		if _, err := f.c.GetUser(short(t), f.bot.ID); err != nil { // learns remaining 5
			t.Fatalf("first call: %v", err)
		}
		for i := range 4 {
			if _, err := other.GetUser(short(t), f.bot.ID); err != nil {
				t.Fatalf("other client's call %d: %v", i, err)
			}
		}
		if _, err := f.c.GetUser(short(t), f.bot.ID); err != nil { // learns remaining 0
			t.Fatalf("second call: %v", err)
		}
		_, err := f.c.GetUser(short(t), f.bot.ID)
		heldBack(t, err)
		if f.sb.Calls() != 6 || f.sb.RateLimitedCount() != 0 {
			t.Fatalf("sandbox saw %d calls and sent %d 429s, want 6 and none", f.sb.Calls(), f.sb.RateLimitedCount())
		}
	})
	t.Run("an answer about another window replaces the one known", func(t *testing.T) {
		f := setup(t, nil, pagerdutytest.WithRateLimit(100))
		if _, err := f.c.GetUser(short(t), f.bot.ID); err != nil { // learns 99 left in a minute
			t.Fatalf("first call: %v", err)
		}
		f.sb.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: time.Second}) // 0 left for a second
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := f.c.GetUser(ctx, f.bot.ID); err != nil {
			t.Fatalf("call after a 1s reset: %v", err)
		}
		if f.sb.Calls() != 3 || f.c.RateLimited() != 1 {
			t.Fatalf("sandbox saw %d calls, client %d 429s; want 3 and 1", f.sb.Calls(), f.c.RateLimited())
		}
	})
	t.Run("without headers the client-side bucket alone paces", func(t *testing.T) {
		f := setup(t, func(c *pagerduty.Config) { c.RequestsPerMinute = 60 }) // no rate limit: no headers
		if _, err := f.c.GetUser(short(t), f.bot.ID); err != nil {
			t.Fatalf("first call: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := f.c.GetUser(ctx, f.bot.ID)
		if !errors.Is(err, core.ErrTransient) || core.RetryAfter(err) <= 0 || core.RetryAfter(err) > time.Second || !strings.Contains(err.Error(), "client-side") {
			t.Fatalf("err = %v (retry after %s), want the client-side limit's wait of under a second", err, core.RetryAfter(err))
		}
		if f.sb.Calls() != 1 {
			t.Fatalf("sandbox saw %d calls, want 1", f.sb.Calls())
		}
	})
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
