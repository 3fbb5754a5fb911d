package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/teleport"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pdWorld is a PagerDuty account with the services the README's story uses.
type pdWorld struct {
	*testenv.Env
	notify, payments, search, unlisted core.PagerDutyService
	alice, bob                         core.PagerDutyUser
}

const alice = "alice@example.com"

var seedAnnotations = map[string][]string{
	"pagerduty_notify_service": {"Teleport Notifications"},
	"pagerduty_services":       {"Payments API", "Search"},
}

func newPDWorld(t *testing.T, opts ...testenv.EnvOption) *pdWorld {
	t.Helper()
	e := testenv.NewEnv(t, opts...)
	w := &pdWorld{Env: e}
	w.notify = e.PD.AddService("Teleport Notifications")
	w.payments = e.PD.AddService("Payments API")
	w.search = e.PD.AddService("Search")
	w.unlisted = e.PD.AddService("Unlisted")
	w.alice = e.PD.AddUser(alice, "Alice")
	w.bob = e.PD.AddUser("bob@example.com", "Bob")
	e.PD.AddOnCall(w.bob.ID, w.notify.EscalationPolicyID, 1)
	return w
}

func (w *pdWorld) poll(t *testing.T, owner string) core.PollResult {
	t.Helper()
	r, err := w.Poller(owner).Poll(w.Ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return r
}

func (w *pdWorld) incidentOf(t *testing.T, reqID string) pagerdutytest.Incident {
	t.Helper()
	in, ok := w.PD.IncidentByKey(core.DedupKey(reqID))
	if !ok {
		t.Fatalf("no incident with key %s", core.DedupKey(reqID))
	}
	return in
}

func countKey(incs []pagerdutytest.Incident, key string) int {
	n := 0
	for _, in := range incs {
		if in.Key == key {
			n++
		}
	}
	return n
}

func noteTexts(notes []pagerdutytest.Note) []string {
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = n.Content
	}
	return out
}

func TestPendingRequestOpensExactlyOneIncident(t *testing.T) {
	w := newPDWorld(t)
	id := w.Request(alice, []string{"prod-admin"}, map[string][]string{"pagerduty_notify_service": {"teleport notifications"}})
	r := w.poll(t, "p1")
	if r.AlertsCreated != 1 || r.Errors != 0 {
		t.Fatalf("first poll = %+v", r)
	}
	w.poll(t, "p2") // steady state: nothing new
	incs := w.PD.Incidents()
	if len(incs) != 1 {
		t.Fatalf("want 1 incident, got %d", len(incs))
	}
	in := incs[0]
	req, _ := w.TeleportClient.GetRequest(w.Ctx, id)
	wantBody := req.User + " requested permissions for roles prod-admin on Teleport at " + req.Created.UTC().Format(time.RFC822) +
		".\nReason: investigating an incident\nTo approve or deny the request, proceed to https://teleport.example.com:443/web/requests/" + id
	switch {
	case in.Title != "Access request from alice@example.com":
		t.Errorf("title = %q", in.Title)
	case in.Details != wantBody:
		t.Errorf("body = %q\nwant %q", in.Details, wantBody)
	case in.Key != "teleport-access-request/"+id:
		t.Errorf("key = %q", in.Key)
	case in.ServiceID != w.notify.ID:
		t.Errorf("service = %q, want %q", in.ServiceID, w.notify.ID)
	case in.CreatedBy != testenv.FromEmail:
		t.Errorf("From = %q", in.CreatedBy)
	}
	alerts, err := w.Store.GetAlerts(w.Ctx, id)
	if err != nil || len(alerts) != 1 || alerts[0].Status != core.AlertOpen || alerts[0].AlertID != in.ID {
		t.Fatalf("mapping = %+v, %v", alerts, err)
	}
}

func TestRequestsWithoutAnnotationsAreIgnoredAndBadOnesSkipped(t *testing.T) {
	w := newPDWorld(t)
	w.Request("nobody@example.com", []string{"dev"}, nil)
	bad := w.Request("bad@example.com", []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"[oops"}})
	unknown := w.Request("lost@example.com", []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"No Such Service"}})
	good := w.Request(alice, []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
	r := w.poll(t, "p1")
	if r.AlertsCreated != 1 || r.Skipped != 2 {
		t.Fatalf("poll = %+v, want 1 created and 2 skipped", r)
	}
	w.incidentOf(t, good)
	for _, id := range []string{bad, unknown} {
		if _, ok := w.PD.IncidentByKey(core.DedupKey(id)); ok {
			t.Errorf("request %s should have no incident", id)
		}
	}
	if alerts, _ := w.Store.GetAlerts(w.Ctx, unknown); len(alerts) != 1 || alerts[0].Status != core.AlertClaimed || alerts[0].LeaseUntil.After(w.Clock.Now()) {
		t.Errorf("unknown service claim should be released for a later retry: %+v", alerts)
	}
}

// reviewer returns a Teleport client acting as a human reviewer.
func reviewer(t *testing.T, w *pdWorld, user string) *teleport.Client {
	t.Helper()
	w.Teleport.SetAccess(user, teleporttest.Access{List: true, Review: true})
	ident := w.Teleport.IdentityFile(t, user, time.Hour)
	c, err := teleport.New(teleport.Config{Address: w.Teleport.Addr(), Identity: func(context.Context) (string, string, error) { return ident, "1", nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestResolutionResolvesIncident(t *testing.T) {
	tests := []struct {
		name       string
		act        func(t *testing.T, w *pdWorld, id string)
		wantNotes  []string
		wantReview bool
	}{
		{"approved by a reviewer", func(t *testing.T, w *pdWorld, id string) {
			if err := reviewer(t, w, "carol").SubmitReview(w.Ctx, core.ReviewSubmission{RequestID: id, Proposed: core.StateApproved, Reason: "ship it"}); err != nil {
				t.Fatal(err)
			}
		}, []string{"carol reviewed the request at", "Resolution: APPROVED.\nReason: ship it.", "Access request has been approved"}, true},
		{"denied by a reviewer", func(t *testing.T, w *pdWorld, id string) {
			if err := reviewer(t, w, "carol").SubmitReview(w.Ctx, core.ReviewSubmission{RequestID: id, Proposed: core.StateDenied, Reason: "not now"}); err != nil {
				t.Fatal(err)
			}
		}, []string{"Resolution: DENIED.\nReason: not now.", "Access request has been denied"}, true},
		{"promoted", func(t *testing.T, w *pdWorld, id string) {
			if err := w.Teleport.SetState(id, core.StatePromoted, "promoted to access list"); err != nil {
				t.Fatal(err)
			}
		}, []string{"Access request has been promoted\nReason: promoted to access list"}, false},
		{"expired", func(t *testing.T, w *pdWorld, id string) {
			if err := w.Teleport.Expire(id); err != nil {
				t.Fatal(err)
			}
		}, []string{"Access request has been expired"}, false},
		{"deleted", func(t *testing.T, w *pdWorld, id string) {
			if err := w.Teleport.Delete(id); err != nil {
				t.Fatal(err)
			}
		}, []string{"Access request has been expired"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t)
			id := w.Request(alice, []string{"prod-admin"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
			w.poll(t, "p1")
			tt.act(t, w, id)
			r := w.poll(t, "p2")
			if r.AlertsResolved != 1 {
				t.Fatalf("poll = %+v, want 1 resolved", r)
			}
			in := w.incidentOf(t, id)
			if in.Status != "resolved" {
				t.Fatalf("incident status = %s", in.Status)
			}
			notes := strings.Join(noteTexts(w.PD.Notes(in.ID)), "\n---\n")
			for _, want := range tt.wantNotes {
				if !strings.Contains(notes, want) {
					t.Errorf("notes lack %q:\n%s", want, notes)
				}
			}
			alerts, _ := w.Store.GetAlerts(w.Ctx, id)
			if len(alerts) != 1 || alerts[0].Status != core.AlertResolved || alerts[0].ExpiresAt.IsZero() {
				t.Fatalf("mapping = %+v", alerts)
			}
			// Nothing more happens on later polls.
			before := len(w.PD.Notes(in.ID))
			if r := w.poll(t, "p3"); r.AlertsResolved != 0 || r.NotesPosted != 0 {
				t.Fatalf("third poll = %+v", r)
			}
			if after := len(w.PD.Notes(in.ID)); after != before {
				t.Fatalf("notes grew from %d to %d", before, after)
			}
		})
	}
}

func TestAutoApproval(t *testing.T) {
	type setup func(w *pdWorld)
	onCall := func(svc func(w *pdWorld) core.PagerDutyService, level int) setup {
		return func(w *pdWorld) { w.PD.AddOnCall(w.alice.ID, svc(w).EscalationPolicyID, level) }
	}
	incident := func(svc func(w *pdWorld) core.PagerDutyService) setup {
		return func(w *pdWorld) {
			w.PD.AddIncident(svc(w).ID, w.alice.ID, "acknowledged", pagerdutytest.WithTitle("Payments latency"))
		}
	}
	payments := func(w *pdWorld) core.PagerDutyService { return w.payments }
	search := func(w *pdWorld) core.PagerDutyService { return w.search }
	unlisted := func(w *pdWorld) core.PagerDutyService { return w.unlisted }
	notify := func(w *pdWorld) core.PagerDutyService { return w.notify }

	tests := []struct {
		name        string
		user        string
		roles       []string
		ann         map[string][]string
		policy      func(p *core.ApprovalPolicy)
		setup       []setup
		wantApprove bool
		wantPending bool // the request stays pending (dry run approves on paper only)
		wantReason  string
	}{
		{name: "on call with an active incident", setup: []setup{onCall(payments, 1), incident(payments)}, wantApprove: true,
			wantReason: "Access requested by user alice@example.com who is on call in service(s) Payments API and has active incident(s) #"},
		{name: "on call without an active incident", setup: []setup{onCall(payments, 1)},
			wantReason: "is on call in Payments API but has no triggered or acknowledged incident assigned there"},
		{name: "on call, active incident not required", setup: []setup{onCall(payments, 1)}, policy: func(p *core.ApprovalPolicy) { p.RequireActiveIncident = false },
			wantApprove: true, wantReason: "who is on call in service(s) Payments API"},
		{name: "not on call", setup: []setup{incident(payments)}, wantReason: "is not on call at any escalation level in Payments API, Search"},
		{name: "on call only in the second listed service", setup: []setup{onCall(search, 1), incident(search)}, wantApprove: true,
			wantReason: "who is on call in service(s) Search and has active incident(s)"},
		{name: "on call in an unlisted service", setup: []setup{onCall(unlisted, 1), incident(unlisted)}, wantReason: "is not on call"},
		{name: "escalation level above the limit", setup: []setup{onCall(payments, 2), incident(payments)}, policy: func(p *core.ApprovalPolicy) { p.MaxEscalationLevel = 1 },
			wantReason: "is not on call at escalation level 1 or lower"},
		{name: "role not allowed", roles: []string{"prod-admin"}, setup: []setup{onCall(payments, 1), incident(payments)}, policy: func(p *core.ApprovalPolicy) { p.AllowedRoles = []string{"dev"} },
			wantReason: "role prod-admin may not be auto-approved"},
		{name: "dry run", setup: []setup{onCall(payments, 1), incident(payments)}, policy: func(p *core.ApprovalPolicy) { p.DryRun = true },
			wantApprove: true, wantPending: true, wantReason: "who is on call in service(s) Payments API"},
		{name: "notify service listed as on-call service is excluded", ann: map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}, "pagerduty_services": {"teleport notifications"}},
			setup: []setup{onCall(notify, 1), incident(notify)}, wantReason: "no on-call service or schedule left to check"},
		{name: "user missing in PagerDuty", user: "carol@example.com", setup: []setup{onCall(payments, 1)}, wantReason: "no PagerDuty user has the email carol@example.com"},
		{name: "username not an email", user: "alice", setup: []setup{onCall(payments, 1), incident(payments)}, wantReason: `requester "alice" is not an email address`},
		{name: "mixed-case username matches", user: "Alice@Example.COM", setup: []setup{onCall(payments, 1), incident(payments)}, wantApprove: true, wantReason: "who is on call in service(s) Payments API"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t)
			if tt.policy != nil {
				p := w.Policies[core.PagerDuty]
				tt.policy(&p)
				w.Policies[core.PagerDuty] = p
			}
			for _, s := range tt.setup {
				s(w)
			}
			user, roles, ann := alice, []string{"dev"}, seedAnnotations
			if tt.user != "" {
				user = tt.user
			}
			if tt.roles != nil {
				roles = tt.roles
			}
			if tt.ann != nil {
				ann = tt.ann
			}
			id := w.Request(user, roles, ann)
			w.poll(t, "p1")
			w.poll(t, "p2") // a second run must not decide again

			rec, err := w.Store.GetRequestRecord(w.Ctx, id)
			if err != nil || len(rec.Decisions) != 1 {
				t.Fatalf("decisions = %+v, %v", rec.Decisions, err)
			}
			d := rec.Decisions[0]
			if d.Approve != tt.wantApprove || !strings.Contains(d.Reason, tt.wantReason) {
				t.Fatalf("decision = %+v\nwant approve=%v reason containing %q", d, tt.wantApprove, tt.wantReason)
			}
			reviews := w.Teleport.Reviews(id)
			approved := tt.wantApprove && !tt.wantPending
			if approved {
				if len(reviews) != 1 || reviews[0].Proposed != core.StateApproved || reviews[0].Author != testenv.PluginUser || reviews[0].Reason != d.Reason {
					t.Fatalf("reviews = %+v", reviews)
				}
			} else if len(reviews) != 0 {
				t.Fatalf("want no review, got %+v", reviews)
			}
			in := w.incidentOf(t, id)
			var decisionNotes int
			for _, n := range w.PD.Notes(in.ID) {
				if strings.HasPrefix(n.Content, "Auto-approval") {
					decisionNotes++
					if !strings.Contains(n.Content, d.Reason) {
						t.Errorf("decision note %q lacks the reason", n.Content)
					}
				}
			}
			if decisionNotes != 1 {
				t.Fatalf("want one decision note, got %d", decisionNotes)
			}
			if approved {
				w.poll(t, "p3")
				if in := w.incidentOf(t, id); in.Status != "resolved" {
					t.Fatalf("incident of an approved request should be resolved, is %s", in.Status)
				}
			}
		})
	}
}

func TestAutoApprovalOnCommunityEditionKeepsNotifying(t *testing.T) {
	w := newPDWorld(t, testenv.WithTeleport(teleporttest.Community()))
	w.PD.AddOnCall(w.alice.ID, w.payments.EscalationPolicyID, 1)
	w.PD.AddIncident(w.payments.ID, w.alice.ID, "triggered")
	id := w.Request(alice, []string{"dev"}, seedAnnotations)
	r := w.poll(t, "p1")
	if r.AlertsCreated != 1 || r.AutoApproved != 0 {
		t.Fatalf("poll = %+v", r)
	}
	if len(w.Teleport.Reviews(id)) != 0 {
		t.Fatal("community edition recorded a review")
	}
}

func TestConcurrentPollersCreateEachIncidentOnce(t *testing.T) {
	w := newPDWorld(t)
	var ids []string
	for i := 0; i < 50; i++ {
		ids = append(ids, w.Request(alice, []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}}))
	}
	var wg sync.WaitGroup
	for _, owner := range []string{"poller-a", "poller-b"} {
		wg.Add(1)
		go func(owner string) {
			defer wg.Done()
			if _, err := w.Poller(owner).Poll(w.Ctx); err != nil {
				t.Error(err)
			}
		}(owner)
	}
	wg.Wait()
	w.Clock.Advance(5 * time.Minute) // any lost claim is now stale
	w.poll(t, "poller-c")
	incs := w.PD.Incidents()
	if len(incs) != 50 {
		t.Fatalf("want 50 incidents, got %d", len(incs))
	}
	for _, id := range ids {
		if n := countKey(incs, core.DedupKey(id)); n != 1 {
			t.Fatalf("request %s has %d incidents", id, n)
		}
	}
}

// crashAfterCreate is the real PagerDuty notifier, except that the process
// "dies" right after the incident is created: the context is cancelled
// before the mapping can be recorded.
type crashAfterCreate struct {
	core.Notifier
	cancel context.CancelFunc
}

func (c crashAfterCreate) Create(ctx context.Context, t core.Target, msg core.AlertMessage) (core.AlertRef, error) {
	ref, err := c.Notifier.Create(ctx, t, msg)
	c.cancel()
	return ref, err
}

func TestCrashAfterCreateIsAdoptedNotDuplicated(t *testing.T) {
	w := newPDWorld(t)
	id := w.Request(alice, []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
	ctx, cancel := context.WithCancel(w.Ctx)
	p := w.Poller("doomed")
	p.Notifiers = map[core.Provider]core.Notifier{core.PagerDuty: crashAfterCreate{Notifier: w.PDClient, cancel: cancel}}
	_, _ = p.Poll(ctx)
	if n := len(w.PD.Incidents()); n != 1 {
		t.Fatalf("incident should exist after the crash, got %d", n)
	}
	alerts, _ := w.Store.GetAlerts(w.Ctx, id)
	if len(alerts) != 1 || alerts[0].Status != core.AlertClaimed {
		t.Fatalf("mapping after crash = %+v", alerts)
	}
	// While the lease lives, nobody touches it.
	if r := w.poll(t, "next"); r.AlertsCreated != 0 {
		t.Fatalf("poll during lease = %+v", r)
	}
	w.Clock.Advance(3 * time.Minute)
	if r := w.poll(t, "next"); r.AlertsCreated != 1 {
		t.Fatalf("poll after lease = %+v", r)
	}
	if n := len(w.PD.Incidents()); n != 1 {
		t.Fatalf("want still 1 incident, got %d", n)
	}
	alerts, _ = w.Store.GetAlerts(w.Ctx, id)
	if alerts[0].Status != core.AlertOpen || alerts[0].AlertID != w.incidentOf(t, id).ID {
		t.Fatalf("mapping = %+v", alerts[0])
	}
}

func TestProviderFaultsEventuallyCreateWithoutDuplicates(t *testing.T) {
	tests := []struct {
		name  string
		fault pagerdutytest.Fault
		n     int
		// absorbed: the adapter sends a 429'd call again after the pause,
		// so the run itself gets through.
		absorbed bool
	}{
		{"429 with reset header", pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: 2 * time.Second, Method: "POST", PathPrefix: "/incidents"}, 3, true},
		{"429 without headers", pagerdutytest.Fault{Kind: pagerdutytest.RateLimitedNoHeaders, Method: "POST", PathPrefix: "/incidents"}, 3, true},
		{"500s", pagerdutytest.Fault{Kind: pagerdutytest.ServerError, Method: "POST", PathPrefix: "/incidents"}, 4, false},
		{"500 on service lookup", pagerdutytest.Fault{Kind: pagerdutytest.ServerError, Method: "GET", PathPrefix: "/services"}, 2, false},
		{"hanging call hits its timeout", pagerdutytest.Fault{Kind: pagerdutytest.Hang, Method: "POST", PathPrefix: "/incidents"}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t, testenv.WithCallTimeout(300*time.Millisecond))
			var ids []string
			for i := 0; i < 3; i++ {
				ids = append(ids, w.Request(alice, []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}}))
			}
			w.PD.FailNext(tt.n, tt.fault)
			runs := 0
			for ; runs < 6 && len(w.PD.Incidents()) < len(ids); runs++ {
				r := w.poll(t, "p")
				if tt.absorbed {
					if r.Errors != 0 || r.AlertsCreated != len(ids) {
						t.Fatalf("429s should be absorbed within the run: %+v", r)
					}
					continue
				}
				if runs == 0 && r.Errors == 0 {
					t.Fatalf("first run saw no errors: %+v", r)
				}
				if runs == 0 && r.ErrorsByKind["transient"] == 0 {
					t.Fatalf("faults should be transient: %+v", r.ErrorsByKind)
				}
			}
			incs := w.PD.Incidents()
			for _, id := range ids {
				if n := countKey(incs, core.DedupKey(id)); n != 1 {
					t.Fatalf("request %s has %d incidents after %d runs", id, n, runs)
				}
			}
			// No tight loop: each run tries each request at most once.
			posts := w.PD.CallCount("POST /incidents")
			if tt.absorbed {
				// Each 429 costs exactly one repeat, after the pause.
				if posts != len(ids)+tt.n || w.PD.RateLimitedCount() != tt.n {
					t.Fatalf("%d incident creates, %d 429s; want %d and %d", posts, w.PD.RateLimitedCount(), len(ids)+tt.n, tt.n)
				}
				return
			}
			if posts > runs*len(ids) {
				t.Fatalf("%d incident creates in %d runs for %d requests", posts, runs, len(ids))
			}
		})
	}
}

func TestPollStopsBeforeDeadlineAndLeavesTheRest(t *testing.T) {
	w := newPDWorld(t)
	for i := 0; i < 5; i++ {
		w.Request(alice, []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
	}
	p := w.Poller("late")
	p.Settings.DeadlineMargin = time.Hour // every deadline is "too close"
	ctx, cancel := context.WithTimeout(w.Ctx, 30*time.Minute)
	defer cancel()
	r, err := p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Remaining != 5 || r.AlertsCreated != 0 {
		t.Fatalf("poll = %+v, want all 5 left", r)
	}
	if r := w.poll(t, "next"); r.AlertsCreated != 5 {
		t.Fatalf("next poll = %+v", r)
	}
}

func TestTeleportUnavailableIsReportedNotFatal(t *testing.T) {
	w := newPDWorld(t)
	w.Request(alice, []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
	w.Teleport.FailNext("ListAccessRequests", errors.New("unavailable"), 1)
	if _, err := w.Poller("p").Poll(w.Ctx); err == nil {
		t.Fatal("want an error when Teleport cannot list requests")
	}
	if r := w.poll(t, "p"); r.AlertsCreated != 1 {
		t.Fatalf("after recovery = %+v", r)
	}
}
