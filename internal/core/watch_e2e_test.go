package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// watchRun is one poller invocation with a watch window, running in the
// background like a Lambda invocation that lasts window+margin.
type watchRun struct {
	done   chan struct{}
	result core.PollResult
	err    error
}

func startWatching(t *testing.T, w *pdWorld, owner string, window time.Duration) *watchRun {
	t.Helper()
	p := w.Poller(owner)
	p.Settings.WatchWindow = window
	ctx, cancel := context.WithTimeout(w.Ctx, window+p.Settings.DeadlineMargin)
	r := &watchRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer cancel()
		r.result, r.err = p.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// running reports whether the invocation is still inside its window.
func (r *watchRun) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (r *watchRun) wait(t *testing.T) core.PollResult {
	t.Helper()
	<-r.done
	if r.err != nil {
		t.Fatalf("run: %v", r.err)
	}
	return r.result
}

// eventually waits (a bounded time, so a broken build fails instead of
// hanging) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting: %s", what)
}

func waitForWatcher(t *testing.T, w *pdWorld, n int) {
	t.Helper()
	eventually(t, "watcher open", func() bool { return w.Teleport.Watchers() >= n })
}

func TestWatchWindowHandlesChangesAsTheyHappen(t *testing.T) {
	w := newPDWorld(t)
	run := startWatching(t, w, "watcher", 10*time.Second)
	waitForWatcher(t, w, 1)

	// A request made after the listing gets its incident from the watcher.
	id := w.Request(alice, []string{"dev"}, notifyOnly)
	eventually(t, "incident of the new request", func() bool { _, ok := w.PD.IncidentByKey(core.DedupKey(id)); return ok })
	if !run.running() {
		t.Fatal("the incident came from a later listing, not the watcher: the run had ended")
	}

	// A review gets its note, the approval resolves the incident.
	if err := reviewer(t, w, "carol").SubmitReview(w.Ctx, core.ReviewSubmission{RequestID: id, Proposed: core.StateApproved, Reason: "ship it"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "incident resolved", func() bool { return w.incidentOf(t, id).Status == "resolved" })

	// An expiry (delete) resolves too.
	gone := w.Request(alice, []string{"dev"}, notifyOnly)
	eventually(t, "second incident", func() bool { _, ok := w.PD.IncidentByKey(core.DedupKey(gone)); return ok })
	if err := w.Teleport.Expire(gone); err != nil {
		t.Fatal(err)
	}
	eventually(t, "expired request's incident resolved", func() bool { return w.incidentOf(t, gone).Status == "resolved" })
	if !run.running() {
		t.Fatal("the run ended before the changes were handled")
	}

	r := run.wait(t)
	if r.AlertsCreated != 2 || r.AlertsResolved != 2 || r.Changes == 0 || r.Errors != 0 {
		t.Fatalf("run = %+v", r)
	}
	notes := strings.Join(noteTexts(w.PD.Notes(w.incidentOf(t, id).ID)), "\n---\n")
	for _, want := range []string{"carol reviewed the request at", "Access request has been approved"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if n := len(w.PD.Incidents()); n != 2 {
		t.Fatalf("%d incidents, want 2", n)
	}
	eventually(t, "the watcher closed after the window", func() bool { return w.Teleport.Watchers() == 0 })
}

func TestWatchWindowAutoApprovesOnCallRequesterAtOnce(t *testing.T) {
	w := newPDWorld(t)
	run := startWatching(t, w, "watcher", 8*time.Second)
	waitForWatcher(t, w, 1)
	// alice is on call for Payments API and has an incident there.
	w.PD.AddOnCall(w.alice.ID, w.payments.EscalationPolicyID, 1)
	w.PD.AddIncident(w.payments.ID, w.alice.ID, "triggered")
	id := w.Request(alice, []string{"dev"}, seedAnnotations)
	eventually(t, "request approved", func() bool {
		r, ok := w.Teleport.Request(id)
		return ok && r.GetState().String() == "APPROVED"
	})
	eventually(t, "incident resolved after the approval", func() bool {
		in, ok := w.PD.IncidentByKey(core.DedupKey(id))
		return ok && in.Status == "resolved"
	})
	if !run.running() {
		t.Fatal("the run ended before the approval: not handled by the watcher")
	}
	if r := run.wait(t); r.AutoApproved != 1 || r.Errors != 0 {
		t.Fatalf("run = %+v", r)
	}
}

func TestWatchWindowReopensABrokenWatcherAndListsTheGap(t *testing.T) {
	w := newPDWorld(t)
	run := startWatching(t, w, "watcher", 10*time.Second)
	waitForWatcher(t, w, 1)
	// The auth server restarts: the watcher breaks, and a request arrives
	// before a new one is confirmed.
	w.Teleport.DropWatchers()
	id := w.Request(alice, []string{"dev"}, notifyOnly)
	eventually(t, "incident of the request made while no watcher was open", func() bool {
		_, ok := w.PD.IncidentByKey(core.DedupKey(id))
		return ok
	})
	if !run.running() {
		t.Fatal("the run ended first")
	}
	r := run.wait(t)
	if r.WatchRestarts < 1 || r.AlertsCreated != 1 {
		t.Fatalf("run = %+v, want a restart and one incident", r)
	}
	if n := countKey(w.PD.Incidents(), core.DedupKey(id)); n != 1 {
		t.Fatalf("%d incidents for the request", n)
	}
}

func TestOverlappingWatchWindowsCreateEachIncidentOnce(t *testing.T) {
	w := newPDWorld(t)
	var ids []string
	for range 10 {
		ids = append(ids, w.Request(alice, []string{"dev"}, notifyOnly))
	}
	a := startWatching(t, w, "invocation-1", 8*time.Second)
	b := startWatching(t, w, "invocation-2", 8*time.Second)
	waitForWatcher(t, w, 2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 15 {
				id := w.Request(alice, []string{"dev"}, notifyOnly)
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	eventually(t, "every request has its incident", func() bool { return len(w.PD.Incidents()) >= len(ids) })
	ra, rb := a.wait(t), b.wait(t)
	if got := ra.AlertsCreated + rb.AlertsCreated; got != len(ids) {
		t.Fatalf("created %d+%d, want %d in all", ra.AlertsCreated, rb.AlertsCreated, len(ids))
	}
	incs := w.PD.Incidents()
	if len(incs) != len(ids) {
		t.Fatalf("%d incidents for %d requests", len(incs), len(ids))
	}
	for _, id := range ids {
		if n := countKey(incs, core.DedupKey(id)); n != 1 {
			t.Fatalf("request %s has %d incidents", id, n)
		}
	}
}

func TestWatchWindowOffIsOnePoll(t *testing.T) {
	w := newPDWorld(t)
	id := w.Request(alice, []string{"dev"}, notifyOnly)
	r, err := w.Poller("p").Run(w.Ctx)
	if err != nil || r.AlertsCreated != 1 || r.Changes != 0 {
		t.Fatalf("run = %+v, %v", r, err)
	}
	w.incidentOf(t, id)
	if n := w.Teleport.CallCount("WatchEvents"); n != 0 {
		t.Fatalf("a watcher was opened with the window off (%d)", n)
	}
}

func TestWatchWindowEndsBeforeTheDeadlineMargin(t *testing.T) {
	w := newPDWorld(t)
	p := w.Poller("p")
	p.Settings.WatchWindow = time.Hour
	p.Settings.DeadlineMargin = 2 * time.Second
	ctx, cancel := context.WithTimeout(w.Ctx, 4*time.Second)
	defer cancel()
	if _, err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run used the whole invocation: the window must end a deadline margin before the deadline")
	}
}

func TestWatchWindowWithTeleportDownReportsTheListingError(t *testing.T) {
	w := newPDWorld(t)
	w.Teleport.FailNext("ListAccessRequests", errors.New("unavailable"), 5)
	p := w.Poller("p")
	p.Settings.WatchWindow = 3 * time.Second
	ctx, cancel := context.WithTimeout(w.Ctx, 10*time.Second)
	defer cancel()
	_, err := p.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "list pending access requests") {
		t.Fatalf("err = %v", err)
	}
}
