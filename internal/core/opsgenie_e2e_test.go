package core_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/opsgenie"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/teleport"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// End-to-end proof of the Opsgenie and Jira Service Management Operations
// paths: the Teleport sandbox over mutual TLS, the Opsgenie/JSM sandboxes
// over HTTP, DynamoDB in moto, and the production adapters from testenv.

const (
	bob   = "bob@example.com"
	carol = "carol@example.com"
)

// ogWorld is an Opsgenie account, the only provider configured, with the
// schedules "Primary" (nobody on call yet) and "Notifications" (bob on call)
// and the team "SRE".
type ogWorld struct {
	*testenv.Env
}

func newOGWorld(t *testing.T, opts ...testenv.EnvOption) *ogWorld {
	t.Helper()
	e := testenv.NewEnv(t, append([]testenv.EnvOption{testenv.WithoutPagerDuty(), testenv.WithOpsgenie()}, opts...)...)
	e.OG.AddSchedule("Primary")
	e.OG.AddSchedule("Notifications", bob)
	e.OG.AddTeam("SRE")
	return &ogWorld{Env: e}
}

// runPoll runs one poll with p and fails the test when the run could do
// nothing at all.
func runPoll(t *testing.T, ctx context.Context, p *core.Poller) core.PollResult {
	t.Helper()
	r, err := p.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return r
}

func (w *ogWorld) poll(t *testing.T, owner string) core.PollResult {
	t.Helper()
	return runPoll(t, w.Ctx, w.Poller(owner))
}

// alertOf returns the newest alert with alias, failing when there is none.
func alertOf(t *testing.T, srv *opsgenietest.Server, alias string) opsgenietest.Alert {
	t.Helper()
	a, ok := srv.AlertByAlias(alias)
	if !ok {
		t.Fatalf("no alert with alias %s", alias)
	}
	return a
}

func countAlias(alerts []opsgenietest.Alert, alias string) int {
	n := 0
	for _, a := range alerts {
		if a.Alias == alias {
			n++
		}
	}
	return n
}

func ogNoteTexts(notes []opsgenietest.Note) []string {
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = n.Note
	}
	return out
}

// reviewerClient returns a Teleport client acting as a human reviewer.
func reviewerClient(t *testing.T, e *testenv.Env, user string) *teleport.Client {
	t.Helper()
	e.Teleport.SetAccess(user, teleporttest.Access{List: true, Review: true})
	ident := e.Teleport.IdentityFile(t, user, time.Hour)
	c, err := teleport.New(teleport.Config{Address: e.Teleport.Addr(), Identity: func(context.Context) (string, string, error) { return ident, "1", nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func review(t *testing.T, e *testenv.Env, id string, state core.State, reason string) {
	t.Helper()
	if err := reviewerClient(t, e, "carol").SubmitReview(e.Ctx, core.ReviewSubmission{RequestID: id, Proposed: state, Reason: reason}); err != nil {
		t.Fatalf("review %s: %v", id, err)
	}
}

// parseConfig parses an opsgenie-only configuration with overrides.
func parseConfig(t *testing.T, overrides map[string]string) *config.Config {
	t.Helper()
	params := map[string]string{
		"teleport/address": "teleport.example.com:443",
		"providers":        "opsgenie",
	}
	maps.Copy(params, overrides)
	secret, _ := json.Marshal(map[string]string{"teleport_identity": "identity", "opsgenie_api_key": opsgenietest.DefaultAPIKey})
	cfg, err := config.Parse(params, secret)
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

func TestOpsgenieAlertOpensForScheduleAndTeamResponders(t *testing.T) {
	type wantAlert struct {
		aliasSuffix string // after teleport-access-request/<id>
		responder   opsgenietest.Responder
		targetKey   string
	}
	primary := wantAlert{responder: opsgenietest.Responder{Type: "schedule", Name: "Primary"}, targetKey: "opsgenie#schedule:primary"}
	sre := wantAlert{responder: opsgenietest.Responder{Type: "team", Name: "SRE"}, targetKey: "opsgenie#team:sre"}
	shared := func(a wantAlert, suffix string) wantAlert { a.aliasSuffix = suffix; return a }

	tests := []struct {
		name string
		ann  map[string][]string
		want []wantAlert
	}{
		{"schedule and team of opsgenie_notify_services get an alert each with its own alias",
			map[string][]string{"opsgenie_notify_services": {"Primary", "team:SRE"}},
			[]wantAlert{shared(primary, "/schedule:primary"), shared(sre, "/team:sre")}},
		{"a single schedule keeps the request's alias",
			map[string][]string{"opsgenie_notify_services": {"Primary"}},
			[]wantAlert{primary}},
		{"teleport.dev names apply when opsgenie is the only provider",
			map[string][]string{"teleport.dev/notify-services": {"Primary"}, "teleport.dev/teams": {"SRE"}},
			[]wantAlert{shared(primary, "/schedule:primary"), shared(sre, "/team:sre")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOGWorld(t)
			id := w.Request(alice, []string{"prod-admin"}, tt.ann)
			if r := w.poll(t, "p1"); r.AlertsCreated != len(tt.want) || r.Errors != 0 {
				t.Fatalf("first poll = %+v, want %d alerts created", r, len(tt.want))
			}
			if r := w.poll(t, "p2"); r.AlertsCreated != 0 || r.Errors != 0 {
				t.Fatalf("second poll = %+v, want nothing new", r)
			}
			req, err := w.TeleportClient.GetRequest(w.Ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			link := "https://teleport.example.com:443/web/requests/" + id
			wantBody := alice + " requested permissions for roles prod-admin on Teleport at " + req.Created.UTC().Format(time.RFC822) +
				".\nReason: investigating an incident\nTo approve or deny the request, proceed to " + link
			if got := core.AlertBody(req, link, false); got != wantBody {
				t.Fatalf("core.AlertBody = %q\nwant %q", got, wantBody)
			}
			wantDetails := map[string]string{"request_id": id, "user": alice, "roles": "prod-admin", "reason": "investigating an incident", "link": link}

			all := w.OG.Alerts()
			if len(all) != len(tt.want) {
				t.Fatalf("want %d alerts, got %d: %+v", len(tt.want), len(all), all)
			}
			mappings, err := w.Store.GetAlerts(w.Ctx, id)
			if err != nil || len(mappings) != len(tt.want) {
				t.Fatalf("mappings = %+v, %v", mappings, err)
			}
			byKey := map[string]core.Alert{}
			for _, m := range mappings {
				byKey[m.Target.Key()] = m
			}
			aliases := map[string]bool{}
			for _, want := range tt.want {
				alias := "teleport-access-request/" + id + want.aliasSuffix
				aliases[alias] = true
				a := alertOf(t, w.OG, alias)
				switch {
				case countAlias(all, alias) != 1:
					t.Errorf("alias %s: %d alerts", alias, countAlias(all, alias))
				case a.Message != "Access request from alice@example.com":
					t.Errorf("message = %q", a.Message)
				case a.Description != wantBody:
					t.Errorf("description = %q\nwant %q", a.Description, wantBody)
				case !slices.Equal(a.Responders, []opsgenietest.Responder{want.responder}):
					t.Errorf("responders = %+v, want %+v", a.Responders, want.responder)
				case a.Priority != "P3":
					t.Errorf("priority = %q, want the default P3", a.Priority)
				case !slices.Equal(a.Tags, []string{"TeleportAccessRequest"}):
					t.Errorf("tags = %v", a.Tags)
				case !maps.Equal(a.Details, wantDetails):
					t.Errorf("details = %v\nwant %v", a.Details, wantDetails)
				case !slices.Equal(a.Actions, []string{"Approve", "Deny"}):
					t.Errorf("actions = %v", a.Actions)
				case a.Source != "oncallgate" || a.Status != "open" || a.Count != 1:
					t.Errorf("source/status/count = %q/%q/%d", a.Source, a.Status, a.Count)
				}
				m, ok := byKey[want.targetKey]
				if !ok || m.Status != core.AlertOpen || m.AlertID != a.ID || m.PendingRef != "" {
					t.Errorf("mapping of %s = %+v, want open with alert %s", want.targetKey, m, a.ID)
				}
			}
			if len(aliases) != len(tt.want) {
				t.Fatalf("aliases are not distinct: %v", aliases)
			}
			if posted, accepted := w.OG.CreateCalls(); posted != len(tt.want) || accepted != len(tt.want) {
				t.Fatalf("create calls = %d posted, %d accepted; want %d", posted, accepted, len(tt.want))
			}
		})
	}
}

func TestOpsgenieAlertSettingsFromConfig(t *testing.T) {
	tests := []struct {
		name         string
		params       map[string]string
		wantPriority string
		wantTags     []string
	}{
		{"defaults", nil, "P3", []string{"TeleportAccessRequest"}},
		{"priority P2 and two tags", map[string]string{"opsgenie/priority": "P2", "opsgenie/tags": "teleport, access-request"}, "P2", []string{"teleport", "access-request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOGWorld(t)
			params := map[string]string{"opsgenie/api_url": w.OG.URL}
			maps.Copy(params, tt.params)
			cfg := parseConfig(t, params)
			// As the composition root builds it.
			client := opsgenie.New(opsgenie.Config{BaseURL: cfg.Opsgenie.APIURL, APIKey: cfg.Secrets.OpsgenieAPIKey,
				Priority: cfg.Opsgenie.Priority, Tags: cfg.Opsgenie.Tags, HTTPClient: w.HTTP, Clock: w.Clock, CompleteInterval: 10 * time.Millisecond})
			p := w.Poller("p")
			p.Notifiers[core.Opsgenie] = client
			id := w.Request(alice, []string{"dev"}, map[string][]string{"opsgenie_notify_services": {"Primary"}})
			if r := runPoll(t, w.Ctx, p); r.AlertsCreated != 1 {
				t.Fatalf("poll = %+v", r)
			}
			a := alertOf(t, w.OG, core.DedupKey(id))
			if a.Priority != tt.wantPriority || !slices.Equal(a.Tags, tt.wantTags) {
				t.Fatalf("priority %q tags %v, want %q %v", a.Priority, a.Tags, tt.wantPriority, tt.wantTags)
			}
		})
	}
}

func TestOpsgenieEUHost(t *testing.T) {
	t.Run("api_url shortcuts parse to the regional hosts", func(t *testing.T) {
		for value, want := range map[string]string{"eu": "https://api.eu.opsgenie.com", "EU": "https://api.eu.opsgenie.com", "us": "https://api.opsgenie.com", "": "https://api.opsgenie.com"} {
			params := map[string]string{}
			if value != "" {
				params["opsgenie/api_url"] = value
			}
			if got := parseConfig(t, params).Opsgenie.APIURL; got != want {
				t.Errorf("opsgenie/api_url=%q: APIURL = %q, want %q", value, got, want)
			}
		}
		if opsgenie.EUBaseURL != "https://api.eu.opsgenie.com" {
			t.Errorf("opsgenie.EUBaseURL = %q", opsgenie.EUBaseURL)
		}
	})
	t.Run("the client talks only to the base URL it is given", func(t *testing.T) {
		w := newOGWorld(t) // w.OG stands for the US host
		eu := opsgenietest.Start(t)
		eu.AddSchedule("Primary")
		eu.AddSchedule("EU On-Call", alice)
		client := opsgenie.New(opsgenie.Config{BaseURL: eu.URL, APIKey: opsgenietest.DefaultAPIKey, HTTPClient: w.HTTP, Clock: w.Clock, CompleteInterval: 10 * time.Millisecond})
		p := w.Poller("p")
		p.Notifiers[core.Opsgenie] = client
		p.Approvers[core.Opsgenie] = core.ScheduleApprover{Directory: client}
		id := w.Request(alice, []string{"dev"}, map[string][]string{"opsgenie_notify_services": {"Primary"}, "opsgenie_oncall_schedules": {"EU On-Call"}})
		if r := runPoll(t, w.Ctx, p); r.AlertsCreated != 1 || r.AutoApproved != 1 {
			t.Fatalf("poll = %+v, want the alert and the approval through the EU host", r)
		}
		alertOf(t, eu, core.DedupKey(id))
		if n := w.OG.Calls(); n != 0 {
			t.Fatalf("the other host got %d calls", n)
		}
		if n := len(w.OG.Alerts()); n != 0 {
			t.Fatalf("the other host has %d alerts", n)
		}
	})
}

func TestOpsgenieResolutionClosesAlert(t *testing.T) {
	tests := []struct {
		name      string
		act       func(t *testing.T, w *ogWorld, id string)
		wantNotes []string // in this order
	}{
		{"approved by a reviewer", func(t *testing.T, w *ogWorld, id string) { review(t, w.Env, id, core.StateApproved, "ship it") },
			[]string{"carol reviewed the request at", "Resolution: APPROVED.\nReason: ship it.", "Access request has been approved\nReason: ship it"}},
		{"denied by a reviewer", func(t *testing.T, w *ogWorld, id string) { review(t, w.Env, id, core.StateDenied, "not now") },
			[]string{"carol reviewed the request at", "Resolution: DENIED.\nReason: not now.", "Access request has been denied\nReason: not now"}},
		{"promoted", func(t *testing.T, w *ogWorld, id string) {
			if err := w.Teleport.SetState(id, core.StatePromoted, "promoted to access list"); err != nil {
				t.Fatal(err)
			}
		}, []string{"Access request has been promoted\nReason: promoted to access list"}},
		{"expired", func(t *testing.T, w *ogWorld, id string) {
			if err := w.Teleport.Expire(id); err != nil {
				t.Fatal(err)
			}
		}, []string{"Access request has been expired"}},
		{"deleted", func(t *testing.T, w *ogWorld, id string) {
			if err := w.Teleport.Delete(id); err != nil {
				t.Fatal(err)
			}
		}, []string{"Access request has been expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOGWorld(t)
			id := w.Request(alice, []string{"prod-admin"}, map[string][]string{"opsgenie_notify_services": {"Primary"}})
			w.poll(t, "p1")
			tt.act(t, w, id)
			if r := w.poll(t, "p2"); r.AlertsResolved != 1 || r.Errors != 0 {
				t.Fatalf("poll = %+v, want 1 resolved", r)
			}
			a := alertOf(t, w.OG, core.DedupKey(id))
			if a.Status != "closed" || a.ClosedBy != opsgenie.DefaultUser {
				t.Fatalf("alert status %q closed by %q", a.Status, a.ClosedBy)
			}
			notes := strings.Join(ogNoteTexts(w.OG.Notes(a.ID)), "\n---\n")
			at := 0
			for _, want := range tt.wantNotes {
				i := strings.Index(notes[at:], want)
				if i < 0 {
					t.Fatalf("notes lack %q after position %d:\n%s", want, at, notes)
				}
				at += i + len(want)
			}
			mappings, _ := w.Store.GetAlerts(w.Ctx, id)
			if len(mappings) != 1 || mappings[0].Status != core.AlertResolved || mappings[0].ExpiresAt.IsZero() {
				t.Fatalf("mapping = %+v", mappings)
			}
			before := len(w.OG.Notes(a.ID))
			if r := w.poll(t, "p3"); r.AlertsResolved != 0 || r.NotesPosted != 0 {
				t.Fatalf("third poll = %+v", r)
			}
			if after := len(w.OG.Notes(a.ID)); after != before {
				t.Fatalf("notes grew from %d to %d", before, after)
			}
			if n := len(w.OG.Alerts()); n != 1 {
				t.Fatalf("want 1 alert, got %d", n)
			}
		})
	}
}

func TestOpsgenieAutoApproval(t *testing.T) {
	onCall := func(schedule string, emails ...string) func(w *ogWorld) {
		return func(w *ogWorld) { w.OG.SetOnCall(schedule, emails...) }
	}
	addSchedule := func(schedule string, emails ...string) func(w *ogWorld) {
		return func(w *ogWorld) { w.OG.AddSchedule(schedule, emails...) }
	}
	const approvedReason = "Access requested by user alice@example.com who is on call in schedule(s) Primary"

	tests := []struct {
		name        string
		user        string
		roles       []string
		ann         map[string][]string
		policy      func(p *core.ApprovalPolicy)
		setup       []func(w *ogWorld)
		wantApprove bool
		wantDryRun  bool
		wantReason  string // exact when wantExact, else a substring
		wantExact   bool
	}{
		{name: "on call", setup: []func(*ogWorld){onCall("Primary", bob, alice)}, wantApprove: true, wantReason: approvedReason, wantExact: true},
		{name: "on call only in the second listed schedule", ann: map[string][]string{"opsgenie_notify_services": {"Notifications"}, "opsgenie_oncall_schedules": {"Primary", "Secondary"}},
			setup: []func(*ogWorld){addSchedule("Secondary", alice)}, wantApprove: true,
			wantReason: "Access requested by user alice@example.com who is on call in schedule(s) Secondary", wantExact: true},
		{name: "not on call", setup: []func(*ogWorld){onCall("Primary", bob)}, wantReason: "alice@example.com is not on call in Primary", wantExact: true},
		{name: "unknown schedule is logged and not approved", ann: map[string][]string{"opsgenie_notify_services": {"Notifications"}, "opsgenie_oncall_schedules": {"No Such Schedule"}},
			wantReason: "none of the schedules No Such Schedule was found", wantExact: true},
		{name: "unknown schedule next to a known one", ann: map[string][]string{"opsgenie_notify_services": {"Notifications"}, "opsgenie_oncall_schedules": {"No Such Schedule", "Primary"}},
			setup: []func(*ogWorld){onCall("Primary", alice)}, wantApprove: true, wantReason: approvedReason, wantExact: true},
		{name: "mixed-case email from the provider matches", setup: []func(*ogWorld){onCall("Primary", "Alice@Example.com")}, wantApprove: true, wantReason: approvedReason, wantExact: true},
		{name: "role not allowed", roles: []string{"prod-admin"}, setup: []func(*ogWorld){onCall("Primary", alice)},
			policy: func(p *core.ApprovalPolicy) { p.AllowedRoles = []string{"dev"} }, wantReason: "role prod-admin may not be auto-approved"},
		{name: "dry run records and notes but submits nothing", setup: []func(*ogWorld){onCall("Primary", alice)},
			policy: func(p *core.ApprovalPolicy) { p.DryRun = true }, wantApprove: true, wantDryRun: true, wantReason: approvedReason, wantExact: true},
		{name: "schedule notified and listed on call is excluded", ann: map[string][]string{"opsgenie_notify_services": {"Primary"}, "opsgenie_oncall_schedules": {"primary"}},
			setup: []func(*ogWorld){onCall("Primary", alice)}, wantReason: "no on-call service or schedule left to check"},
		{name: "teleport.dev names when opsgenie is the only provider", ann: map[string][]string{"teleport.dev/notify-services": {"Notifications"}, "teleport.dev/schedules": {"Primary"}},
			setup: []func(*ogWorld){onCall("Primary", alice)}, wantApprove: true, wantReason: approvedReason, wantExact: true},
		{name: "username not an email", user: "alice", setup: []func(*ogWorld){onCall("Primary", "alice")}, wantReason: `requester "alice" is not an email address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOGWorld(t)
			if tt.policy != nil {
				p := w.Policies[core.Opsgenie]
				tt.policy(&p)
				w.Policies[core.Opsgenie] = p
			}
			for _, s := range tt.setup {
				s(w)
			}
			user, roles := alice, []string{"dev"}
			ann := map[string][]string{"opsgenie_notify_services": {"Notifications"}, "opsgenie_oncall_schedules": {"Primary"}}
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
			reasonOK := strings.Contains(d.Reason, tt.wantReason)
			if tt.wantExact {
				reasonOK = d.Reason == tt.wantReason
			}
			if d.Provider != core.Opsgenie || d.Approve != tt.wantApprove || d.DryRun != tt.wantDryRun || !reasonOK {
				t.Fatalf("decision = %+v\nwant approve=%v dry_run=%v reason %q", d, tt.wantApprove, tt.wantDryRun, tt.wantReason)
			}
			reviews := w.Teleport.Reviews(id)
			approved := tt.wantApprove && !tt.wantDryRun
			if approved {
				if len(reviews) != 1 || reviews[0].Proposed != core.StateApproved || reviews[0].Author != testenv.PluginUser || reviews[0].Reason != d.Reason {
					t.Fatalf("reviews = %+v", reviews)
				}
			} else if len(reviews) != 0 {
				t.Fatalf("want no review, got %+v", reviews)
			}
			a := alertOf(t, w.OG, core.DedupKey(id))
			var decisionNotes []string
			for _, n := range ogNoteTexts(w.OG.Notes(a.ID)) {
				if strings.HasPrefix(n, "Auto-approval") {
					decisionNotes = append(decisionNotes, n)
				}
			}
			if len(decisionNotes) != 1 || decisionNotes[0] != core.DecisionNote(d) {
				t.Fatalf("decision notes = %q, want exactly %q", decisionNotes, core.DecisionNote(d))
			}
			if tt.wantDryRun && !strings.HasPrefix(decisionNotes[0], "Auto-approval (dry run, no review submitted): would approve.") {
				t.Fatalf("dry-run note = %q", decisionNotes[0])
			}
			w.poll(t, "p3")
			if a := alertOf(t, w.OG, core.DedupKey(id)); (a.Status == "closed") != approved {
				t.Fatalf("alert status = %s, want closed only when approved", a.Status)
			}
		})
	}
}

func TestOpsgeniePendingAlertCompletesOnALaterRun(t *testing.T) {
	tests := []struct {
		name string
		// processAfter is the sandbox's status-poll count before an alert
		// appears; -1 waits for ProcessPending.
		processAfter int
		// runsPending is how many runs end with the alert ID unknown.
		runsPending int
		// resolveEarly approves the request while creation is pending.
		resolveEarly bool
	}{
		{name: "processed only when the sandbox is told", processAfter: -1, runsPending: 2},
		{name: "processed after more status polls than one run makes", processAfter: 3, runsPending: 2},
		{name: "approved while the creation is pending", processAfter: -1, runsPending: 1, resolveEarly: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOGWorld(t, testenv.WithOpsgenie(opsgenietest.WithProcessAfterPolls(tt.processAfter)))
			client := opsgenie.New(opsgenie.Config{BaseURL: w.OG.URL, APIKey: opsgenietest.DefaultAPIKey, HTTPClient: w.HTTP, Clock: w.Clock, CompletePolls: 1, CompleteInterval: 10 * time.Millisecond})
			poller := func() *core.Poller {
				p := w.Poller("p")
				p.Notifiers[core.Opsgenie] = client
				return p
			}
			id := w.Request(alice, []string{"dev"}, map[string][]string{"opsgenie_notify_services": {"Primary"}})
			for run := 1; run <= tt.runsPending; run++ {
				r := runPoll(t, w.Ctx, poller())
				if want := map[bool]int{true: 1, false: 0}[run == 1]; r.AlertsCreated != want || r.Errors != 0 {
					t.Fatalf("run %d = %+v", run, r)
				}
				mappings, _ := w.Store.GetAlerts(w.Ctx, id)
				if len(mappings) != 1 || mappings[0].Status != core.AlertOpen || mappings[0].AlertID != "" || mappings[0].PendingRef == "" {
					t.Fatalf("run %d: mapping = %+v, want open with only a PendingRef", run, mappings)
				}
				if n := len(w.OG.Alerts()); n != 0 {
					t.Fatalf("run %d: %d alerts visible before processing", run, n)
				}
			}
			if tt.resolveEarly {
				review(t, w.Env, id, core.StateApproved, "ship it")
				if r := runPoll(t, w.Ctx, poller()); r.AlertsResolved != 0 || r.Errors != 1 {
					t.Fatalf("resolve while pending = %+v, want it left for the next run", r)
				}
			}
			if tt.processAfter < 0 {
				w.OG.ProcessPending()
			}
			r := runPoll(t, w.Ctx, poller())
			if r.AlertsCreated != 0 || r.Errors != 0 {
				t.Fatalf("completing run = %+v", r)
			}
			a := alertOf(t, w.OG, core.DedupKey(id))
			mappings, _ := w.Store.GetAlerts(w.Ctx, id)
			if len(mappings) != 1 || mappings[0].AlertID != a.ID {
				t.Fatalf("mapping = %+v, want alert %s", mappings, a.ID)
			}
			if tt.resolveEarly {
				if r.AlertsResolved != 1 || a.Status != "closed" || mappings[0].Status != core.AlertResolved {
					t.Fatalf("run = %+v, alert %s, mapping %s; want closed", r, a.Status, mappings[0].Status)
				}
			} else if mappings[0].Status != core.AlertOpen || a.Status != "open" {
				t.Fatalf("alert %s, mapping %s; want open", a.Status, mappings[0].Status)
			}
			if posted, accepted := w.OG.CreateCalls(); posted != 1 || accepted != 1 || len(w.OG.Alerts()) != 1 || a.Count != 1 {
				t.Fatalf("creates posted %d accepted %d, alerts %d, count %d; want one of each", posted, accepted, len(w.OG.Alerts()), a.Count)
			}
		})
	}
}

func TestOpsgenieConcurrentPollersCreateEachAlertOnce(t *testing.T) {
	w := newOGWorld(t)
	const n = 30
	var ids []string
	for range n {
		ids = append(ids, w.Request(alice, []string{"dev"}, map[string][]string{"opsgenie_notify_services": {"Primary"}}))
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
	alerts := w.OG.Alerts()
	if len(alerts) != n {
		t.Fatalf("want %d alerts, got %d", n, len(alerts))
	}
	for _, id := range ids {
		if c := countAlias(alerts, core.DedupKey(id)); c != 1 {
			t.Fatalf("request %s has %d alerts", id, c)
		}
	}
	for _, a := range alerts {
		if a.Count != 1 {
			t.Fatalf("alert %s was created %d times (alias dedup hid a duplicate)", a.Alias, a.Count)
		}
	}
	if posted, accepted := w.OG.CreateCalls(); posted != n || accepted != n {
		t.Fatalf("create calls: %d posted, %d accepted; want %d", posted, accepted, n)
	}
}

func TestOpsgenieFaultsEventuallyCreateWithoutDuplicates(t *testing.T) {
	tests := []struct {
		name       string
		fault      opsgenietest.Fault
		n          int
		wantErrors bool // the first run reports transient errors
	}{
		{"429 with Retry-After", opsgenietest.RateLimited("2"), 3, true},
		{"429 without headers", opsgenietest.RateLimited(""), 3, true},
		{"500s", opsgenietest.ServerError(), 4, true},
		{"500 on the request status leaves the creation pending", opsgenietest.ServerError().On("/requests/"), 3, false},
		{"hanging call hits its timeout", opsgenietest.Hang(), 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOGWorld(t, testenv.WithCallTimeout(300*time.Millisecond))
			var ids []string
			for range 3 {
				ids = append(ids, w.Request(alice, []string{"dev"}, map[string][]string{"opsgenie_notify_services": {"Primary"}}))
			}
			w.OG.FailNext(tt.n, tt.fault)
			complete := func() bool {
				for _, id := range ids {
					m, err := w.Store.GetAlerts(w.Ctx, id)
					if err != nil || len(m) != 1 || m[0].AlertID == "" {
						return false
					}
				}
				return true
			}
			runs := 0
			for ; runs < 6 && !complete(); runs++ {
				r := w.poll(t, "p")
				if runs == 0 && tt.wantErrors && r.ErrorsByKind["transient"] == 0 {
					t.Fatalf("first run should report transient errors: %+v", r)
				}
			}
			if !complete() {
				t.Fatalf("alerts not all recorded after %d runs", runs)
			}
			alerts := w.OG.Alerts()
			for _, id := range ids {
				if c := countAlias(alerts, core.DedupKey(id)); c != 1 {
					t.Fatalf("request %s has %d alerts after %d runs", id, c, runs)
				}
				m, _ := w.Store.GetAlerts(w.Ctx, id)
				if a := alertOf(t, w.OG, core.DedupKey(id)); a.Count != 1 || m[0].AlertID != a.ID {
					t.Fatalf("alert %s count %d, mapping %+v", a.ID, a.Count, m[0])
				}
			}
			posted, accepted := w.OG.CreateCalls()
			if accepted != len(ids) {
				t.Fatalf("%d creates accepted for %d requests", accepted, len(ids))
			}
			// No tight loop: each run tries each request at most once.
			if posted > runs*len(ids) {
				t.Fatalf("%d creates posted in %d runs for %d requests", posted, runs, len(ids))
			}
		})
	}
}

// jsmWorld is a JSM site, the only provider configured, with the schedule
// "Primary" to notify and "Payments" for on-call checks; alice, bob and
// carol have Atlassian accounts.
type jsmWorld struct {
	*testenv.Env
}

func newJSMWorld(t *testing.T, aliceVisible, carolVisible bool, payments ...string) *jsmWorld {
	t.Helper()
	e := testenv.NewEnv(t, testenv.WithoutPagerDuty(), testenv.WithJSM())
	e.JSM.AddAccount("acc-alice", alice, aliceVisible)
	e.JSM.AddAccount("acc-bob", bob, true)
	e.JSM.AddAccount("acc-carol", carol, carolVisible)
	e.JSM.AddSchedule("Primary", "acc-bob")
	e.JSM.AddSchedule("Payments", payments...)
	return &jsmWorld{Env: e}
}

func TestJSMAlertLifecycle(t *testing.T) {
	tests := []struct {
		name      string
		ann       map[string][]string
		act       func(t *testing.T, w *jsmWorld, id string)
		wantNotes []string
	}{
		{"approved", map[string][]string{"jsm_notify_services": {"Primary"}},
			func(t *testing.T, w *jsmWorld, id string) { review(t, w.Env, id, core.StateApproved, "ship it") },
			[]string{"carol reviewed the request at", "Resolution: APPROVED.\nReason: ship it.", "Access request has been approved\nReason: ship it"}},
		{"expired, routed by teleport.dev names as the only provider", map[string][]string{"teleport.dev/notify-services": {"Primary"}},
			func(t *testing.T, w *jsmWorld, id string) {
				if err := w.Teleport.Expire(id); err != nil {
					t.Fatal(err)
				}
			}, []string{"Access request has been expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newJSMWorld(t, true, true)
			id := w.Request(alice, []string{"prod-admin"}, tt.ann)
			ignored := w.Request(bob, []string{"dev"}, map[string][]string{"opsgenie_notify_services": {"Primary"}})
			if r := runPoll(t, w.Ctx, w.Poller("p1")); r.AlertsCreated != 1 || r.Errors != 0 {
				t.Fatalf("first poll = %+v", r)
			}
			a := alertOf(t, w.JSM.Server, core.DedupKey(id))
			switch {
			case a.Message != "Access request from alice@example.com":
				t.Fatalf("message = %q", a.Message)
			case !slices.Equal(a.Responders, []opsgenietest.Responder{{Type: "schedule", Name: "Primary"}}):
				t.Fatalf("responders = %+v", a.Responders)
			case a.Details["request_id"] != id || !slices.Equal(a.Actions, []string{"Approve", "Deny"}) || a.Priority != "P3":
				t.Fatalf("alert = %+v", a)
			}
			if _, ok := w.JSM.AlertByAlias(core.DedupKey(ignored)); ok {
				t.Fatal("opsgenie_notify_services must not route to jsm")
			}
			tt.act(t, w, id)
			if r := runPoll(t, w.Ctx, w.Poller("p2")); r.AlertsResolved != 1 || r.Errors != 0 {
				t.Fatalf("second poll = %+v", r)
			}
			a = alertOf(t, w.JSM.Server, core.DedupKey(id))
			if a.Status != "closed" {
				t.Fatalf("alert status = %s", a.Status)
			}
			notes := strings.Join(ogNoteTexts(w.JSM.Notes(a.ID)), "\n---\n")
			for _, want := range tt.wantNotes {
				if !strings.Contains(notes, want) {
					t.Errorf("notes lack %q:\n%s", want, notes)
				}
			}
			mappings, _ := w.Store.GetAlerts(w.Ctx, id)
			if len(mappings) != 1 || mappings[0].Status != core.AlertResolved || mappings[0].Target.Key() != "jsm#schedule:primary" {
				t.Fatalf("mapping = %+v", mappings)
			}
			if n := len(w.JSM.Alerts()); n != 1 {
				t.Fatalf("want 1 alert, got %d", n)
			}
		})
	}
}

func TestJSMAutoApproval(t *testing.T) {
	tests := []struct {
		name                       string
		aliceVisible, carolVisible bool
		payments                   []string
		wantApprove                bool
		wantReason                 []string
	}{
		{"on call with a visible email", true, true, []string{"acc-alice"}, true,
			[]string{"Access requested by user alice@example.com who is on call in schedule(s) Payments"}},
		{"on call with a hidden email", false, true, []string{"acc-alice"}, false,
			[]string{"could not tell whether alice@example.com is on call in Payments", "acc-alice", "not visible", "Atlassian profile"}},
		{"on call next to someone whose email is hidden", true, false, []string{"acc-carol", "acc-alice"}, true,
			[]string{"Access requested by user alice@example.com who is on call in schedule(s) Payments"}},
		{"not on call", true, true, []string{"acc-bob"}, false, []string{"alice@example.com is not on call in Payments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newJSMWorld(t, tt.aliceVisible, tt.carolVisible, tt.payments...)
			id := w.Request(alice, []string{"dev"}, map[string][]string{"jsm_notify_services": {"Primary"}, "jsm_oncall_schedules": {"Payments"}})
			runPoll(t, w.Ctx, w.Poller("p1"))
			runPoll(t, w.Ctx, w.Poller("p2"))
			rec, err := w.Store.GetRequestRecord(w.Ctx, id)
			if err != nil || len(rec.Decisions) != 1 {
				t.Fatalf("decisions = %+v, %v", rec.Decisions, err)
			}
			d := rec.Decisions[0]
			if d.Provider != core.JSM || d.Approve != tt.wantApprove {
				t.Fatalf("decision = %+v, want approve=%v", d, tt.wantApprove)
			}
			for _, want := range tt.wantReason {
				if !strings.Contains(d.Reason, want) {
					t.Errorf("reason %q lacks %q", d.Reason, want)
				}
			}
			reviews := w.Teleport.Reviews(id)
			if tt.wantApprove != (len(reviews) == 1) || len(reviews) > 1 {
				t.Fatalf("reviews = %+v", reviews)
			}
			a := alertOf(t, w.JSM.Server, core.DedupKey(id))
			if notes := ogNoteTexts(w.JSM.Notes(a.ID)); !slices.Contains(notes, core.DecisionNote(d)) {
				t.Fatalf("notes %q lack the decision note", notes)
			}
		})
	}
}

func TestJSMWebhookActorOnCallNextToHiddenEmail(t *testing.T) {
	tests := []struct {
		name       string
		actor      string
		wantStatus string
		wantRefuse core.Refusal
	}{
		{"visible on-call responder may approve", bob, core.OutcomeAccepted, ""},
		{"responder whose email is hidden is not matched", carol, core.OutcomeRefused, core.RefuseNotOnCall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newJSMWorld(t, true, false)
			w.JSM.AddSchedule("Night", "acc-carol", "acc-bob")
			id := w.Request(alice, []string{"dev"}, map[string][]string{"jsm_notify_services": {"Night"}})
			runPoll(t, w.Ctx, w.Poller("p1"))
			a := alertOf(t, w.JSM.Server, core.DedupKey(id))
			out, err := w.Decider(core.WebhookSettings{RequireOnCall: true}).Decide(w.Ctx, core.Action{
				Provider: core.JSM, DeliveryID: "delivery-1", Approve: true, AlertID: a.ID, DedupKey: a.Alias, ActorEmail: tt.actor,
			})
			if err != nil || out.Status != tt.wantStatus || out.Refusal != tt.wantRefuse {
				t.Fatalf("outcome = %+v, %v; want %s %s", out, err, tt.wantStatus, tt.wantRefuse)
			}
			reviews := w.Teleport.Reviews(id)
			if tt.wantStatus == core.OutcomeAccepted {
				if len(reviews) != 1 || reviews[0].Proposed != core.StateApproved || reviews[0].Delegator != "jsm:"+tt.actor {
					t.Fatalf("reviews = %+v", reviews)
				}
			} else if len(reviews) != 0 {
				t.Fatalf("want no review, got %+v", reviews)
			}
		})
	}
}

func TestBothProvidersResolveOnApproval(t *testing.T) {
	e := testenv.NewEnv(t, testenv.WithOpsgenie())
	e.PD.AddService("Teleport Notifications")
	e.OG.AddSchedule("Primary")
	id := e.Request(alice, []string{"prod-admin"}, map[string][]string{
		"pagerduty_notify_service": {"Teleport Notifications"},
		"opsgenie_notify_services": {"Primary"},
	})
	// Generic names are ambiguous with two providers: nobody is paged.
	generic := e.Request(bob, []string{"dev"}, map[string][]string{"teleport.dev/notify-services": {"Primary"}})
	if r := runPoll(t, e.Ctx, e.Poller("p1")); r.AlertsCreated != 2 || r.Errors != 0 {
		t.Fatalf("first poll = %+v", r)
	}
	incs := e.PD.Incidents()
	if len(incs) != 1 || incs[0].Key != core.DedupKey(id) || incs[0].Status == "resolved" {
		t.Fatalf("incidents = %+v", incs)
	}
	alerts := e.OG.Alerts()
	if len(alerts) != 1 || alerts[0].Alias != core.DedupKey(id) || alerts[0].Status != "open" {
		t.Fatalf("alerts = %+v", alerts)
	}
	if _, ok := e.OG.AlertByAlias(core.DedupKey(generic)); ok {
		t.Fatal("teleport.dev names must not route when two providers are configured")
	}

	review(t, e, id, core.StateApproved, "ship it")
	if r := runPoll(t, e.Ctx, e.Poller("p2")); r.AlertsResolved != 2 || r.Errors != 0 {
		t.Fatalf("second poll = %+v", r)
	}
	in, _ := e.PD.IncidentByKey(core.DedupKey(id))
	a := alertOf(t, e.OG, core.DedupKey(id))
	if in.Status != "resolved" || a.Status != "closed" {
		t.Fatalf("incident %s, alert %s; want both resolved", in.Status, a.Status)
	}
	want := "Access request has been approved\nReason: ship it"
	if !slices.Contains(noteTexts(e.PD.Notes(in.ID)), want) || !slices.Contains(ogNoteTexts(e.OG.Notes(a.ID)), want) {
		t.Fatalf("resolution note missing: pagerduty %q, opsgenie %q", noteTexts(e.PD.Notes(in.ID)), ogNoteTexts(e.OG.Notes(a.ID)))
	}
	mappings, _ := e.Store.GetAlerts(e.Ctx, id)
	if len(mappings) != 2 || mappings[0].Status != core.AlertResolved || mappings[1].Status != core.AlertResolved {
		t.Fatalf("mappings = %+v", mappings)
	}
	if len(e.PD.Incidents()) != 1 || len(e.OG.Alerts()) != 1 {
		t.Fatal("approval made another incident or alert")
	}
}
