package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// notifyOnly routes a request to the notify service and nothing else.
var notifyOnly = map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}}

// opsgenieOnly routes a request to one Opsgenie schedule.
var opsgenieOnly = map[string][]string{"opsgenie_notify_services": {"Ops Primary"}}

// retention is what testenv's pollers keep items of finished requests for.
const retention = 30 * 24 * time.Hour

func (w *pdWorld) reconcile(t *testing.T, owner string, reopen bool) core.Repairs {
	t.Helper()
	r, err := w.Reconciler(owner, reopen).Run(w.Ctx)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return r
}

// mapping returns the request's only alert mapping.
func (w *pdWorld) mapping(t *testing.T, id string) core.Alert {
	t.Helper()
	alerts, err := w.Store.GetAlerts(w.Ctx, id)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("mappings of %s = %+v, %v; want exactly one", id, alerts, err)
	}
	return alerts[0]
}

// alertsOf counts a request's alerts at provider p (by dedup key) and
// returns the ID of the open one ("" when none is open).
func (w *pdWorld) alertsOf(p core.Provider, id string) (total, open int, openID string) {
	key := core.DedupKey(id)
	switch p {
	case core.PagerDuty:
		for _, in := range w.PD.Incidents() {
			if in.Key == key {
				total++
				if in.Status != "resolved" {
					open++
					openID = in.ID
				}
			}
		}
	case core.Opsgenie:
		for _, a := range w.OG.Alerts() {
			if a.Alias == key {
				total++
				if a.Status == "open" {
					open++
					openID = a.ID
				}
			}
		}
	}
	return total, open, openID
}

// closeByPerson resolves/closes the alert in the provider's own UI.
func (w *pdWorld) closeByPerson(t *testing.T, p core.Provider, alertID string) {
	t.Helper()
	switch p {
	case core.PagerDuty:
		w.PD.Resolve(alertID)
	case core.Opsgenie:
		if !w.OG.Close(alertID) {
			t.Fatalf("no opsgenie alert %s", alertID)
		}
	}
}

// near reports whether got is within a minute of want.
func near(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -time.Minute && d < time.Minute
}

func TestReconcileResolvesAlertsOfFinishedRequests(t *testing.T) {
	tests := []struct {
		name     string
		finish   func(t *testing.T, w *pdWorld, id string)
		wantNote string
	}{
		{"approved by a reviewer", func(t *testing.T, w *pdWorld, id string) {
			if err := reviewer(t, w, "carol").SubmitReview(w.Ctx, core.ReviewSubmission{RequestID: id, Proposed: core.StateApproved, Reason: "ship it"}); err != nil {
				t.Fatal(err)
			}
		}, "Access request has been approved\nReason: ship it"},
		{"denied by an administrator", func(t *testing.T, w *pdWorld, id string) {
			if err := w.Teleport.SetState(id, core.StateDenied, "not during the freeze"); err != nil {
				t.Fatal(err)
			}
		}, "Access request has been denied\nReason: not during the freeze"},
		{"promoted", func(t *testing.T, w *pdWorld, id string) {
			if err := w.Teleport.SetState(id, core.StatePromoted, "promoted to access list"); err != nil {
				t.Fatal(err)
			}
		}, "Access request has been promoted\nReason: promoted to access list"},
		{"expired", func(t *testing.T, w *pdWorld, id string) {
			if err := w.Teleport.Expire(id); err != nil {
				t.Fatal(err)
			}
		}, "Access request has been expired"},
		{"deleted", func(t *testing.T, w *pdWorld, id string) {
			if err := w.Teleport.Delete(id); err != nil {
				t.Fatal(err)
			}
		}, "Access request has been expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t)
			id := w.Request(alice, []string{"prod-admin"}, notifyOnly)
			w.poll(t, "p1")
			tt.finish(t, w, id)
			// The poller never runs again: only the reconciler notices.
			r := w.reconcile(t, "r1", true)
			if r.Checked != 1 || r.ResolvedMissed != 1 || r.Errors != 0 || r.Poll.AlertsResolved != 0 || r.Remaining != 0 {
				t.Fatalf("reconcile = %+v, want 1 checked and 1 missed resolution repaired by the sweep", r)
			}
			in := w.incidentOf(t, id)
			if in.Status != "resolved" {
				t.Fatalf("incident status = %s, want resolved", in.Status)
			}
			notes := noteTexts(w.PD.Notes(in.ID))
			if len(notes) == 0 || notes[len(notes)-1] != tt.wantNote {
				t.Fatalf("notes = %q, want the last to be %q", notes, tt.wantNote)
			}
			m := w.mapping(t, id)
			if m.Status != core.AlertResolved || m.AlertID != in.ID || !near(m.ExpiresAt, w.Clock.Now().Add(retention)) {
				t.Fatalf("mapping = %+v", m)
			}
			// Repaired once: the next sweep has nothing left to look at.
			if r := w.reconcile(t, "r2", true); r.Checked != 0 || r.ResolvedMissed != 0 {
				t.Fatalf("second reconcile = %+v", r)
			}
			if total, _, _ := w.alertsOf(core.PagerDuty, id); total != 1 {
				t.Fatalf("want 1 incident, got %d", total)
			}
		})
	}
}

func TestReconcileResolvesRequestsWhoseAlertCreationNeverCompleted(t *testing.T) {
	tests := []struct {
		name     string
		opts     []opsgenietest.Option
		schedule string
		wait     time.Duration
	}{
		// Opsgenie answers the creation later, and rejects it.
		{"creation rejected after it was recorded as pending", []opsgenietest.Option{opsgenietest.WithProcessAfterPolls(5)}, "No Such Schedule", 0},
		// Opsgenie never answers: after a while the alias is looked up.
		{"creation never processed", []opsgenietest.Option{opsgenietest.WithProcessAfterPolls(-1)}, "Ops Primary", 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t, testenv.WithOpsgenie(tt.opts...))
			w.OG.AddSchedule("Ops Primary", "bob@example.com")
			id := w.Request(alice, []string{"dev"}, map[string][]string{"opsgenie_notify_services": {tt.schedule}})
			w.poll(t, "p1")
			if m := w.mapping(t, id); m.Status != core.AlertOpen || m.AlertID != "" || m.PendingRef == "" {
				t.Fatalf("mapping after the first poll = %+v, want a pending creation", m)
			}
			w.poll(t, "p2") // sees the rejection, or still nothing
			if err := w.Teleport.SetState(id, core.StateDenied, ""); err != nil {
				t.Fatal(err)
			}
			if r := w.reconcile(t, "r1", true); tt.wait > 0 && r.ResolvedMissed != 0 {
				t.Fatalf("reconcile = %+v: a creation pending for a moment must not be given up", r)
			}
			w.Clock.Advance(tt.wait)
			w.reconcile(t, "r2", true)
			if m := w.mapping(t, id); m.Status != core.AlertResolved || m.ExpiresAt.IsZero() {
				t.Fatalf("mapping = %+v, want resolved with an expiry", m)
			}
			if total, _, _ := w.alertsOf(core.Opsgenie, id); total != 0 {
				t.Fatalf("want no alert, got %d", total)
			}
		})
	}
}

func TestReconcileRecoversClaimsLeftByACrash(t *testing.T) {
	// crashAfterCreate leaves the incident at PagerDuty and the mapping
	// claimed without its ID; crashBeforeCreate leaves only the claim.
	crashedAfterCreate := func(t *testing.T, w *pdWorld, id string) {
		ctx, cancel := context.WithCancel(w.Ctx)
		defer cancel()
		p := w.Poller("doomed")
		p.Notifiers = map[core.Provider]core.Notifier{core.PagerDuty: crashAfterCreate{Notifier: w.PDClient, cancel: cancel}}
		_, _ = p.Poll(ctx)
	}
	crashedBeforeCreate := func(t *testing.T, w *pdWorld, id string) {
		target := core.Target{Provider: core.PagerDuty, Name: "Teleport Notifications"}
		if _, err := w.Store.ClaimAlert(w.Ctx, id, target, "doomed", w.Clock.Now(), 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	approve := func(t *testing.T, w *pdWorld, id string) {
		if err := w.Teleport.SetState(id, core.StateApproved, ""); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name          string
		crash         func(t *testing.T, w *pdWorld, id string)
		thenFinish    bool
		wantIncidents int
		wantAdopted   int
	}{
		{name: "incident created, crash before recording it: adopted", crash: crashedAfterCreate, wantIncidents: 1, wantAdopted: 1},
		{name: "crash before creating: created", crash: crashedBeforeCreate, wantIncidents: 1, wantAdopted: 0},
		{name: "incident created, crash, request approved since: resolved", crash: crashedAfterCreate, thenFinish: true, wantIncidents: 1},
		{name: "crash before creating, request approved since: nothing to resolve", crash: crashedBeforeCreate, thenFinish: true, wantIncidents: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t)
			id := w.Request(alice, []string{"dev"}, notifyOnly)
			tt.crash(t, w, id)
			if m := w.mapping(t, id); m.Status != core.AlertClaimed || m.AlertID != "" {
				t.Fatalf("mapping after the crash = %+v", m)
			}
			createsBefore := w.PD.CallCount("POST /incidents")
			if tt.thenFinish {
				approve(t, w, id)
			}

			// While the lease lives the claim's owner may still be working.
			r := w.reconcile(t, "r1", true)
			if r.ClaimsRecovered != 0 || r.ResolvedMissed != 0 || r.Created != 0 {
				t.Fatalf("reconcile during the lease = %+v", r)
			}
			if m := w.mapping(t, id); m.Status != core.AlertClaimed {
				t.Fatalf("mapping touched during the lease: %+v", m)
			}

			w.Clock.Advance(3 * time.Minute)
			r = w.reconcile(t, "r2", true)
			total, open, openID := w.alertsOf(core.PagerDuty, id)
			if total != tt.wantIncidents {
				t.Fatalf("want %d incident(s), got %d (reconcile %+v)", tt.wantIncidents, total, r)
			}
			m := w.mapping(t, id)
			if tt.thenFinish {
				if r.ResolvedMissed != 1 || r.ClaimsRecovered != 0 || open != 0 || m.Status != core.AlertResolved || m.ExpiresAt.IsZero() {
					t.Fatalf("reconcile = %+v, open incidents %d, mapping %+v", r, open, m)
				}
				return
			}
			if r.ClaimsRecovered != 1 || r.Adopted != tt.wantAdopted || r.Errors != 0 {
				t.Fatalf("reconcile = %+v, want 1 claim recovered, %d adopted", r, tt.wantAdopted)
			}
			if m.Status != core.AlertOpen || m.AlertID != openID || m.LeaseOwner != "" {
				t.Fatalf("mapping = %+v, want open with incident %s", m, openID)
			}
			wantCreates := createsBefore + 1 - tt.wantAdopted
			if got := w.PD.CallCount("POST /incidents"); got != wantCreates {
				t.Fatalf("%d incident creates, want %d", got, wantCreates)
			}
			// Later runs leave it alone.
			w.Clock.Advance(3 * time.Minute)
			if r := w.reconcile(t, "r3", true); r.ClaimsRecovered != 0 || r.Created != 0 {
				t.Fatalf("third reconcile = %+v", r)
			}
			if total, _, _ := w.alertsOf(core.PagerDuty, id); total != 1 {
				t.Fatalf("want 1 incident, got %d", total)
			}
		})
	}
}

func TestReconcileHandlesAlertsClosedByAPerson(t *testing.T) {
	tests := []struct {
		provider core.Provider
		ann      map[string][]string
		reopen   bool
	}{
		{core.PagerDuty, notifyOnly, true},
		{core.PagerDuty, notifyOnly, false},
		{core.Opsgenie, opsgenieOnly, true},
		{core.Opsgenie, opsgenieOnly, false},
	}
	for _, tt := range tests {
		name := string(tt.provider) + " reopen_closed=false: left closed"
		if tt.reopen {
			name = string(tt.provider) + " reopen_closed=true: a fresh alert"
		}
		t.Run(name, func(t *testing.T) {
			w := newPDWorld(t, testenv.WithOpsgenie())
			w.OG.AddSchedule("Ops Primary", "bob@example.com")
			id := w.Request(alice, []string{"dev"}, tt.ann)
			w.poll(t, "p1")
			_, _, first := w.alertsOf(tt.provider, id)
			if first == "" {
				t.Fatal("no alert after the first poll")
			}
			w.closeByPerson(t, tt.provider, first)

			r := w.reconcile(t, "r1", tt.reopen)
			if r.ClosedExternally != 1 || r.Errors != 0 {
				t.Fatalf("reconcile = %+v, want 1 closed externally", r)
			}
			total, open, openID := w.alertsOf(tt.provider, id)
			m := w.mapping(t, id)
			if !m.ClosedExternally {
				t.Fatalf("mapping does not record the person's close: %+v", m)
			}
			if tt.reopen {
				if r.Reopened != 1 || total != 2 || open != 1 || openID == first || m.Status != core.AlertOpen || m.AlertID != openID {
					t.Fatalf("reconcile %+v; alerts %d (open %d, %s), mapping %+v: want a second, open alert recorded", r, total, open, openID, m)
				}
			} else if r.Reopened != 0 || total != 1 || open != 0 || m.AlertID != first || m.Status != core.AlertOpen {
				// The mapping stays open in the store, so that it is resolved
				// (and expires) when the request ends.
				t.Fatalf("reconcile %+v; alerts %d (open %d), mapping %+v: want the closed alert left alone and its mapping followed", r, total, open, m)
			}

			// Later polls and reconciles change nothing.
			for i := 0; i < 2; i++ {
				w.Clock.Advance(3 * time.Minute)
				w.poll(t, "p2")
				if r := w.reconcile(t, "r2", tt.reopen); r.ClosedExternally != 0 || r.Reopened != 0 || r.Created != 0 || r.Errors != 0 {
					t.Fatalf("later reconcile = %+v", r)
				}
			}
			if t2, o2, _ := w.alertsOf(tt.provider, id); t2 != total || o2 != open {
				t.Fatalf("alerts went from %d (open %d) to %d (open %d)", total, open, t2, o2)
			}

			// When the request ends, its mapping is resolved and expires.
			if err := w.Teleport.SetState(id, core.StateDenied, ""); err != nil {
				t.Fatal(err)
			}
			w.reconcile(t, "r3", tt.reopen)
			if _, o, _ := w.alertsOf(tt.provider, id); o != 0 {
				t.Fatalf("%d alert(s) still open after the request was denied", o)
			}
			if m := w.mapping(t, id); m.Status != core.AlertResolved || !near(m.ExpiresAt, w.Clock.Now().Add(retention)) {
				t.Fatalf("mapping after the request ended = %+v", m)
			}
		})
	}
}

func TestReconcileCreatesAlertsThePollerMissed(t *testing.T) {
	twoServices := map[string][]string{"pagerduty_notify_service": {"Teleport Notifications", "Search"}}
	tests := []struct {
		name        string
		seen        []string // targets the poller handled before it went away
		wantCreated int
	}{
		{"request never seen by the poller", nil, 2},
		{"one of two targets missed", []string{"Teleport Notifications"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t)
			id := w.Request(alice, []string{"dev"}, twoServices)
			req, err := w.TeleportClient.GetRequest(w.Ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tt.seen {
				target := core.Target{Provider: core.PagerDuty, Name: name}
				a, err := w.Store.ClaimAlert(w.Ctx, id, target, "earlier-poller", w.Clock.Now(), 2*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := core.CreateClaimed(w.Ctx, w.PDClient, a, core.NewAlertMessage(req, "", false), w.Store, w.Clock); err != nil {
					t.Fatal(err)
				}
			}
			r := w.reconcile(t, "r1", true)
			if r.Created != tt.wantCreated || r.Errors != 0 {
				t.Fatalf("reconcile = %+v, want %d created", r, tt.wantCreated)
			}
			perService := map[string]int{}
			for _, in := range w.PD.Incidents() {
				if in.Key == core.DedupKey(id) {
					perService[in.ServiceID]++
				}
			}
			if len(perService) != 2 || perService[w.notify.ID] != 1 || perService[w.search.ID] != 1 {
				t.Fatalf("incidents per service = %v, want one in each", perService)
			}
			alerts, _ := w.Store.GetAlerts(w.Ctx, id)
			for _, a := range alerts {
				if a.Status != core.AlertOpen || a.AlertID == "" {
					t.Fatalf("mapping = %+v", a)
				}
			}
			if len(alerts) != 2 {
				t.Fatalf("want 2 mappings, got %d", len(alerts))
			}
		})
	}
}

func TestReconcileSetsRetentionOnFinishedRequests(t *testing.T) {
	tests := []struct {
		name      string
		before    func(t *testing.T, w *pdWorld, id string)
		finish    func(w *pdWorld, id string) error
		reopen    bool
		wantState core.State
	}{
		{name: "approved while the poller was away",
			finish:    func(w *pdWorld, id string) error { return w.Teleport.SetState(id, core.StateApproved, "") },
			reopen:    true,
			wantState: core.StateApproved},
		{name: "expired after a person closed its alert (reopen_closed=false)",
			before: func(t *testing.T, w *pdWorld, id string) {
				w.PD.Resolve(w.incidentOf(t, id).ID)
				w.reconcile(t, "r0", false)
			},
			finish:    func(w *pdWorld, id string) error { return w.Teleport.Expire(id) },
			wantState: core.StateExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPDWorld(t)
			// seedAnnotations make the poller record its auto-approval
			// decision (alice is not on call), so the request has a META item.
			id := w.Request(alice, []string{"dev"}, seedAnnotations)
			w.poll(t, "p1")
			rec, err := w.Store.GetRequestRecord(w.Ctx, id)
			if err != nil || !rec.ExpiresAt.IsZero() {
				t.Fatalf("record of a pending request = %+v, %v; want one without expiry", rec, err)
			}
			if tt.before != nil {
				tt.before(t, w, id)
			}
			w.Clock.Advance(10 * time.Minute)
			if err := tt.finish(w, id); err != nil {
				t.Fatal(err)
			}
			w.reconcile(t, "r1", tt.reopen)
			want := w.Clock.Now().Add(retention)
			m := w.mapping(t, id)
			if m.Status != core.AlertResolved || !near(m.ExpiresAt, want) {
				t.Errorf("mapping = %+v, want resolved expiring at %s", m, want)
			}
			rec, err = w.Store.GetRequestRecord(w.Ctx, id)
			if err != nil || rec.State != tt.wantState || !near(rec.ExpiresAt, want) {
				t.Errorf("record = %+v, %v; want state %s expiring at %s", rec, err, tt.wantState, want)
			}
		})
	}
}

func TestReconcileLogsEachRepair(t *testing.T) {
	w := newPDWorld(t)
	finished := w.Request(alice, []string{"dev"}, notifyOnly)
	w.poll(t, "p1")
	if err := w.Teleport.SetState(finished, core.StateApproved, ""); err != nil {
		t.Fatal(err)
	}
	crashed := w.Request(alice, []string{"dev"}, notifyOnly)
	if _, err := w.Store.ClaimAlert(w.Ctx, crashed, core.Target{Provider: core.PagerDuty, Name: "Teleport Notifications"}, "doomed", w.Clock.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(2 * time.Minute)

	var buf bytes.Buffer
	ctx := logging.WithLogger(w.Ctx, logging.New(&buf, slog.LevelInfo))
	r, err := w.Reconciler("r1", true).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Checked != 2 || r.ResolvedMissed != 1 || r.ClaimsRecovered != 1 || r.Adopted != 0 || r.Errors != 0 {
		t.Fatalf("reconcile = %+v", r)
	}
	want := map[string]string{
		finished: "repaired: resolved alert of a finished request",
		crashed:  "repaired: recovered a claim left by a crashed worker",
	}
	got := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "repaired: ") {
			id, _ := rec["request_id"].(string)
			if got[id] != nil {
				t.Errorf("request %s repaired twice: %v", id, rec)
			}
			got[id] = rec
		}
	}
	for id, msg := range want {
		rec := got[id]
		switch {
		case rec == nil:
			t.Errorf("no repair line for request %s in:\n%s", id, buf.String())
		case rec["msg"] != msg || rec["level"] != "INFO" || rec["provider"] != "pagerduty" || rec["target"] != "Teleport Notifications":
			t.Errorf("repair line of %s = %v, want msg %q with provider and target", id, rec, msg)
		}
	}
	if rec := got[crashed]; rec != nil && rec["adopted"] != false {
		t.Errorf("claim recovery line should say adopted=false: %v", rec)
	}
	if len(got) != len(want) {
		t.Errorf("repair lines for %d requests, want %d", len(got), len(want))
	}
}

func TestReconcileSweepPagesWithinTheDeadline(t *testing.T) {
	t.Run("five open mappings in pages of two are all checked", func(t *testing.T) {
		w := newPDWorld(t)
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, w.Request(alice, []string{"dev"}, notifyOnly))
		}
		w.poll(t, "p1")
		for _, id := range ids {
			if err := w.Teleport.SetState(id, core.StateApproved, ""); err != nil {
				t.Fatal(err)
			}
		}
		rc := w.Reconciler("r1", true)
		rc.PageSize = 2
		r, err := rc.Run(w.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Checked != 5 || r.ResolvedMissed != 5 || r.Remaining != 0 || r.Errors != 0 {
			t.Fatalf("reconcile = %+v, want all 5 checked and repaired", r)
		}
		for _, id := range ids {
			if _, open, _ := w.alertsOf(core.PagerDuty, id); open != 0 {
				t.Errorf("request %s still has an open incident", id)
			}
		}
	})
	t.Run("a deadline too close leaves the sweep for the next run", func(t *testing.T) {
		w := newPDWorld(t)
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, w.Request(alice, []string{"dev"}, notifyOnly))
		}
		w.poll(t, "p1")
		for _, id := range ids {
			if err := w.Teleport.SetState(id, core.StateApproved, ""); err != nil {
				t.Fatal(err)
			}
		}
		rc := w.Reconciler("late", true)
		rc.PageSize = 2
		rc.Poller.Settings.DeadlineMargin = time.Hour // every deadline is "too close"
		ctx, cancel := context.WithTimeout(w.Ctx, 30*time.Minute)
		defer cancel()
		r, err := rc.Run(ctx)
		if err != nil {
			t.Fatalf("a run out of time is not an error: %v", err)
		}
		if r.Remaining == 0 || r.Checked != 0 || r.ResolvedMissed != 0 || r.Errors != 0 {
			t.Fatalf("reconcile = %+v, want nothing done and Remaining > 0", r)
		}
		for _, id := range ids {
			if _, open, _ := w.alertsOf(core.PagerDuty, id); open != 1 {
				t.Fatalf("request %s: incident touched by a run that had no time", id)
			}
		}
		if r := w.reconcile(t, "next", true); r.ResolvedMissed != 5 || r.Remaining != 0 {
			t.Fatalf("next reconcile = %+v, want the 5 resolutions done", r)
		}
	})
}
