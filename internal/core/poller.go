package core

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/oncallgate/oncallgate/internal/logging"
)

// Poller is the use case behind the scheduled poller function: it opens an
// alert per (pending request, notify target), notes reviews, decides
// auto-approval, and resolves the alerts of requests that left the pending
// state. Every step is safe to repeat: a crash anywhere is repaired by the
// next run (or by Reconciler).
type Poller struct {
	Teleport Teleport
	// Watcher streams request changes during the watch window (Run); nil
	// disables the window.
	Watcher   Watcher
	Store     Store
	Notifiers map[Provider]Notifier
	// Approvers decide auto-approval per provider; nil entries disable it.
	Approvers map[Provider]Approver
	Policies  map[Provider]ApprovalPolicy
	Settings  PollSettings
	// ProxyAddr is Teleport's web address for request links ("" for none).
	ProxyAddr string
	// Actions says the webhook's Approve/Deny actions are installed, so the
	// alert body mentions them.
	Actions bool
	// Retention is how long items of finished requests are kept (TTL).
	Retention time.Duration
	Clock     Clock
	// Owner identifies this worker in claims (e.g. the Lambda request ID).
	Owner string
	// CommunityOnce, shared across the Pollers of one cold start, makes the
	// "needs Teleport Enterprise" report once; nil reports every run.
	CommunityOnce *sync.Once
}

// PollResult counts what one run did. Remaining > 0 means the run stopped
// before its deadline and left that much work to the next run.
type PollResult struct {
	Pending        int            `json:"pending"`
	AlertsCreated  int            `json:"alerts_created"`
	AlertsResolved int            `json:"alerts_resolved"`
	NotesPosted    int            `json:"notes_posted"`
	AutoApproved   int            `json:"auto_approved"`
	NotApproved    int            `json:"not_approved"`
	Skipped        int            `json:"skipped"`
	Errors         int            `json:"errors"`
	ErrorsByKind   map[string]int `json:"errors_by_kind,omitempty"`
	Remaining      int            `json:"remaining"`
	// Changes counts the request changes the watch window handled;
	// WatchRestarts how often its watcher had to be opened again.
	Changes       int `json:"changes,omitempty"`
	WatchRestarts int `json:"watch_restarts,omitempty"`
}

type pollCounter struct {
	mu sync.Mutex
	r  PollResult
}

func (c *pollCounter) add(f func(r *PollResult)) {
	c.mu.Lock()
	f(&c.r)
	c.mu.Unlock()
}

func (c *pollCounter) fail(ctx context.Context, msg string, err error) {
	kind := ErrorKind(err)
	logging.FromContext(ctx).Warn(msg, "error", err.Error(), "error_kind", kind)
	c.add(func(r *PollResult) {
		r.Errors++
		if r.ErrorsByKind == nil {
			r.ErrorsByKind = map[string]int{}
		}
		r.ErrorsByKind[kind]++
	})
}

// ErrorKind names err's kind for logs and metrics.
func ErrorKind(err error) string {
	switch {
	case errors.Is(err, ErrTransient):
		return "transient"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "deadline"
	case errors.Is(err, ErrPermission):
		return "permission"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrConflict), errors.Is(err, ErrClaimed):
		return "conflict"
	}
	return "other"
}

func (p *Poller) providers() []Provider {
	out := make([]Provider, 0, len(p.Notifiers))
	for pr := range p.Notifiers {
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (p *Poller) concurrency() int {
	if p.Settings.Concurrency < 1 {
		return 8
	}
	return p.Settings.Concurrency
}

func (p *Poller) lease() time.Duration {
	if p.Settings.ClaimLease <= 0 {
		return 2 * time.Minute
	}
	return p.Settings.ClaimLease
}

func (p *Poller) margin() time.Duration {
	if p.Settings.DeadlineMargin <= 0 {
		return 10 * time.Second
	}
	return p.Settings.DeadlineMargin
}

// Poll runs one poll. It returns an error only when nothing could be done
// at all (Teleport or the store unreachable); per-request failures are
// logged, counted and left for the next run.
func (p *Poller) Poll(ctx context.Context) (PollResult, error) {
	var c pollCounter
	_, err := p.listingPass(ctx, &c)
	return c.r, err
}

// listingPass is one poll: it lists every pending request and every open
// mapping, works through them, and returns the pending requests it saw.
func (p *Poller) listingPass(ctx context.Context, c *pollCounter) ([]Request, error) {
	pending, err := p.Teleport.ListPendingRequests(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pending access requests: %w", err)
	}
	open, err := listAllOpen(ctx, p.Store)
	if err != nil {
		return nil, fmt.Errorf("list open alert mappings: %w", err)
	}
	c.add(func(r *PollResult) { r.Pending = len(pending) })

	pendingIDs := make(map[string]bool, len(pending))
	var jobs []func(context.Context)
	for _, req := range pending {
		req := req
		pendingIDs[req.ID] = true
		jobs = append(jobs, func(ctx context.Context) { p.handlePending(ctx, req, open[req.ID], c) })
	}
	// Tracked requests that are no longer pending get resolved.
	var finished []string
	for id := range open {
		if !pendingIDs[id] {
			finished = append(finished, id)
		}
	}
	sort.Strings(finished)
	for _, id := range finished {
		id := id
		jobs = append(jobs, func(ctx context.Context) { p.handleFinished(ctx, id, open[id], c) })
	}

	remaining := RunBounded(ctx, p.concurrency(), p.margin(), jobs)
	c.add(func(r *PollResult) { r.Remaining = remaining })
	if remaining > 0 {
		logging.FromContext(ctx).Warn("poll stopped before its deadline; the rest is left for the next run", "remaining", remaining)
	}
	return pending, nil
}

// listAllOpen reads every claimed/open mapping through the store's sparse
// index, grouped by request ID.
func listAllOpen(ctx context.Context, s Store) (map[string][]Alert, error) {
	out := map[string][]Alert{}
	cursor := ""
	for {
		page, next, err := s.ListOpenAlerts(ctx, cursor, 500)
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			out[a.RequestID] = append(out[a.RequestID], a)
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// RunBounded runs jobs with at most n at once and starts no job once less
// than margin remains before ctx's deadline. It returns how many jobs were
// not started.
func RunBounded(ctx context.Context, n int, margin time.Duration, jobs []func(context.Context)) int {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	skipped := 0
	for i, job := range jobs {
		if tooLate(ctx, margin) {
			skipped = len(jobs) - i
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(job func(context.Context)) {
			defer func() { <-sem; wg.Done() }()
			job(ctx)
		}(job)
	}
	wg.Wait()
	return skipped
}

func tooLate(ctx context.Context, margin time.Duration) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < margin
}

func (p *Poller) handlePending(ctx context.Context, req Request, open []Alert, c *pollCounter) {
	ctx = logging.With(ctx, "request_id", req.ID)
	routing, err := ParseRouting(req, p.providers())
	if err != nil {
		c.add(func(r *PollResult) { r.Skipped++ })
		logging.FromContext(ctx).Warn("skipping request: malformed annotation", "error", err.Error())
		return
	}
	if len(routing.Notify) == 0 && len(routing.OnCall) == 0 {
		return // not ours: no annotation for a configured provider
	}
	byKey := map[string]Alert{}
	for _, a := range open {
		byKey[a.Target.Key()] = a
	}
	alerts := map[Provider][]Alert{}
	coming := map[Provider]bool{}
	for _, t := range routing.Notify {
		a, ok, later := p.ensureAlert(ctx, req, t, byKey, c)
		if !ok {
			coming[t.Provider] = coming[t.Provider] || later
			continue
		}
		a = p.noteReviews(ctx, req, a, c)
		alerts[t.Provider] = append(alerts[t.Provider], a)
	}
	for _, pr := range p.providers() {
		if len(routing.OnCall[pr]) == 0 || p.Approvers[pr] == nil || !p.Policies[pr].Enabled {
			continue
		}
		// Decide once the alerts exist, so the decision note lands on them.
		// A target that can never get an alert (unknown service) does not
		// hold the decision back.
		if coming[pr] {
			continue
		}
		p.autoApprove(ctx, req, routing, pr, alerts[pr], c)
	}
}

// ensureAlert makes sure the alert for (req, t) exists, creating it under a
// claim when needed. ok is false when there is no usable alert ID yet; later
// then says whether one is expected to appear (creation pending, held by
// another worker, or failed transiently) rather than never (unknown target).
func (p *Poller) ensureAlert(ctx context.Context, req Request, t Target, byKey map[string]Alert, c *pollCounter) (a Alert, ok, later bool) {
	ctx = logging.With(ctx, "provider", string(t.Provider), "target", t.Name)
	n := p.Notifiers[t.Provider]
	if a, found := byKey[t.Key()]; found && a.Status == AlertOpen {
		if a.AlertID != "" {
			return a, true, false
		}
		a, ok = p.completePending(ctx, n, a, c)
		return a, ok, !ok
	}
	a, err := p.Store.ClaimAlert(ctx, req.ID, t, p.Owner, p.Clock.Now(), p.lease())
	if errors.Is(err, ErrClaimed) {
		// Another worker has it, or it was resolved by a person.
		_, live := byKey[t.Key()]
		return Alert{}, false, live
	}
	if err != nil {
		c.fail(ctx, "claim alert mapping failed", err)
		return Alert{}, false, true
	}
	a, _, err = CreateClaimed(ctx, n, a, p.message(req, t), p.Store, p.Clock)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			c.add(func(r *PollResult) { r.Skipped++ })
		}
		c.fail(ctx, "create alert failed", err)
		return Alert{}, false, errors.Is(err, ErrTransient) || errors.Is(err, context.DeadlineExceeded)
	}
	c.add(func(r *PollResult) { r.AlertsCreated++ })
	logging.FromContext(ctx).Info("alert opened", "alert_id", a.AlertID, "pending_ref", a.PendingRef)
	return a, a.AlertID != "", a.AlertID == ""
}

// message builds the alert message of (req, t), with the dedup key that
// keeps the alerts of one request apart where the provider needs it.
func (p *Poller) message(req Request, t Target) AlertMessage {
	msg := NewAlertMessage(req, p.ProxyAddr, p.Actions)
	shared := false
	if routing, err := ParseRouting(req, p.providers()); err == nil {
		shared = len(routing.NotifyFor(t.Provider)) > 1
	}
	msg.DedupKey = AlertDedupKey(req.ID, t, shared)
	return msg
}

// CreateClaimed creates the alert of a mapping this worker has claimed and
// records it. A claim taken over from a crashed worker first looks the alert
// up by its dedup key, so a crash between create and record never makes a
// second alert; adopted reports that the alert was found rather than made.
// On failure the claim is released for an immediate retry.
func CreateClaimed(ctx context.Context, n Notifier, a Alert, msg AlertMessage, s Store, clock Clock) (stored Alert, adopted bool, err error) {
	var ref AlertRef
	switch {
	case a.AlertID != "":
		ref, adopted = AlertRef{ID: a.AlertID}, true
	case a.PendingRef != "":
		ref, adopted = AlertRef{PendingRef: a.PendingRef}, true
	case a.Version > 1:
		// Taken over (or released after a failed attempt): the earlier
		// attempt may have reached the provider, so look before creating.
		ref, err = n.Find(ctx, a.Target, msg.DedupKey)
		adopted = err == nil
		if errors.Is(err, ErrNotFound) {
			ref, err = n.Create(ctx, a.Target, msg)
		}
	default:
		// A fresh claim: nobody tried before us. The provider's own dedup
		// key (incident_key, alias) still backs this up.
		ref, err = n.Create(ctx, a.Target, msg)
	}
	if err != nil {
		release(ctx, s, a, clock)
		return Alert{}, false, fmt.Errorf("open alert for request %s in %s: %w", a.RequestID, a.Target, err)
	}
	a.Status = AlertOpen
	a.AlertID, a.PendingRef = ref.ID, ref.PendingRef
	a.LeaseOwner, a.LeaseUntil = "", time.Time{}
	stored, err = s.UpdateAlert(ctx, a)
	if err != nil {
		// The alert exists; the mapping still says claimed. When the lease
		// runs out the next worker finds the alert by its dedup key.
		return Alert{}, false, fmt.Errorf("record alert %s for request %s: %w", ref.ID, a.RequestID, err)
	}
	return stored, adopted, nil
}

// release expires our claim now so the next run can take it over without
// waiting for the lease.
func release(ctx context.Context, s Store, a Alert, clock Clock) {
	a.LeaseUntil = clock.Now().Add(-time.Second)
	if _, err := s.UpdateAlert(ctx, a); err != nil {
		logging.FromContext(ctx).Warn("release claim failed; it frees itself when the lease runs out", "error", err.Error())
	}
}

func (p *Poller) completePending(ctx context.Context, n Notifier, a Alert, c *pollCounter) (Alert, bool) {
	ref, err := n.Complete(ctx, a.PendingRef)
	if errors.Is(err, ErrAlertPending) && p.Clock.Now().Sub(a.UpdatedAt) > pendingFallback {
		// The provider may have forgotten the creation request; the alias
		// still finds the alert.
		ref, err = findByKeys(ctx, n, a)
		if errors.Is(err, ErrNotFound) {
			err = ErrAlertPending
		}
	}
	if errors.Is(err, ErrAlertPending) {
		return a, false
	}
	if err != nil {
		c.fail(ctx, "complete pending alert failed", err)
		return a, false
	}
	a.AlertID = ref.ID
	stored, err := p.Store.UpdateAlert(ctx, a)
	if err != nil {
		c.fail(ctx, "record completed alert failed", err)
		return a, false
	}
	return stored, true
}

// pendingFallback is how long an asynchronous creation may stay pending
// before the alert is looked up by its alias instead.
const pendingFallback = 5 * time.Minute

func findByKeys(ctx context.Context, n Notifier, a Alert) (AlertRef, error) {
	for _, key := range dedupKeyCandidates(a.RequestID, a.Target) {
		ref, err := n.Find(ctx, a.Target, key)
		if !errors.Is(err, ErrNotFound) {
			return ref, err
		}
	}
	return AlertRef{}, ErrNotFound
}

// noteReviews posts a note for every review not noted yet.
func (p *Poller) noteReviews(ctx context.Context, req Request, a Alert, c *pollCounter) Alert {
	n := p.Notifiers[a.Target.Provider]
	for a.NotedReviews < len(req.Reviews) {
		if err := n.AddNote(ctx, a.AlertID, ReviewNote(req.Reviews[a.NotedReviews])); err != nil {
			c.fail(ctx, "post review note failed", err)
			return a
		}
		a.NotedReviews++
		stored, err := p.Store.UpdateAlert(ctx, a)
		if err != nil {
			c.fail(ctx, "record review note failed", err)
			return a
		}
		a = stored
		c.add(func(r *PollResult) { r.NotesPosted++ })
	}
	return a
}

// handleFinished resolves the alerts of a request that is no longer pending.
func (p *Poller) handleFinished(ctx context.Context, id string, alerts []Alert, c *pollCounter) {
	ctx = logging.With(ctx, "request_id", id)
	req, err := p.Teleport.GetRequest(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		req = Request{ID: id, State: StateExpired}
	case err != nil:
		c.fail(ctx, "get access request failed", err)
		return
	case req.State == StatePending:
		return // created after the listing; the next run handles it
	}
	p.finish(ctx, req, alerts, c)
}

// finish resolves the alerts of req, which has left the pending state.
func (p *Poller) finish(ctx context.Context, req Request, alerts []Alert, c *pollCounter) {
	if !p.expireFirst(ctx, req, c.fail) {
		return
	}
	for _, a := range alerts {
		actx := logging.With(ctx, "provider", string(a.Target.Provider), "target", a.Target.Name, "alert_id", a.AlertID)
		if err := ResolveAlert(actx, p.Notifiers[a.Target.Provider], p.Store, p.Clock, req, a, p.Retention); err != nil {
			c.fail(actx, "resolve alert failed", err)
			continue
		}
		c.add(func(r *PollResult) { r.AlertsResolved++ })
	}
}

// expireFirst records a finished request's final state and retention
// before its alerts are resolved: once its last mapping is resolved nothing
// leads back to the record, so a retention left for after would be lost
// with a crash or a refused write in between. It returns false when the
// request is better left whole for the next run (the failure may pass).
func (p *Poller) expireFirst(ctx context.Context, req Request, fail func(context.Context, string, error)) bool {
	err := ExpireRecord(ctx, p.Store, p.Clock, req.ID, req.State, p.Retention)
	if err == nil {
		return true
	}
	fail(ctx, "set retention on request record failed", err)
	return !(errors.Is(err, ErrTransient) || errors.Is(err, ErrConflict) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// expireAttempts bounds ExpireRecord's retries when the record changes
// under it.
const expireAttempts = 3

// ExpireRecord records a finished request's final state and gives its
// record a TTL, so finished requests leave the table after the retention
// period. A request without a record has nothing to expire; a record that
// already expires is left as it is. It re-reads and retries when another
// worker wrote the record in between.
func ExpireRecord(ctx context.Context, s Store, clock Clock, id string, state State, retention time.Duration) error {
	if retention <= 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		rec, err := s.GetRequestRecord(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read record of request %s to set its retention: %w", id, err)
		}
		if !rec.ExpiresAt.IsZero() {
			return nil
		}
		now := clock.Now()
		rec.State, rec.UpdatedAt, rec.ExpiresAt = state, now, now.Add(retention)
		_, err = s.PutRequestRecord(ctx, rec)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) || attempt == expireAttempts {
			return fmt.Errorf("set retention on record of request %s: %w", id, err)
		}
	}
}

// ResolveAlert posts the outstanding review notes and the resolution note,
// resolves the alert and records it. A claimed mapping without an alert ID
// is looked up by dedup key first; none found means nothing to resolve.
// ctx's logger is expected to carry provider and alert_id already.
func ResolveAlert(ctx context.Context, n Notifier, s Store, clock Clock, req Request, a Alert, retention time.Duration) error {
	if n == nil {
		return fmt.Errorf("%w: provider %s is not configured", ErrInvalid, a.Target.Provider)
	}
	if a.Status == AlertClaimed && a.LeaseUntil.After(clock.Now()) {
		return fmt.Errorf("%w: alert for %s is being created by %s", ErrClaimed, a.Target, a.LeaseOwner)
	}
	if a.AlertID == "" && a.PendingRef != "" {
		ref, err := n.Complete(ctx, a.PendingRef)
		switch {
		case err == nil:
			a.AlertID = ref.ID
		case errors.Is(err, ErrTransient), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
			errors.Is(err, ErrAlertPending) && clock.Now().Sub(a.UpdatedAt) <= pendingFallback:
			return fmt.Errorf("complete pending alert before resolving: %w", err)
		default:
			// The provider rejected the creation, or has forgotten it: if an
			// alert was made after all, its dedup key finds it below.
			logging.FromContext(ctx).Warn("pending alert creation will not complete; looking the alert up by its dedup key", "pending_ref", a.PendingRef, "error", err.Error())
		}
	}
	if a.AlertID == "" {
		ref, err := findByKeys(ctx, n, a)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return fmt.Errorf("look up alert by dedup key: %w", err)
		default:
			a.AlertID = ref.ID
			ctx = logging.With(ctx, "found_alert_id", ref.ID)
		}
	}
	if a.AlertID != "" {
		for a.NotedReviews < len(req.Reviews) {
			if err := n.AddNote(ctx, a.AlertID, ReviewNote(req.Reviews[a.NotedReviews])); err != nil {
				return fmt.Errorf("post review note: %w", err)
			}
			a.NotedReviews++
		}
		if err := n.Resolve(ctx, a.AlertID, ResolutionNote(req.State, req.ResolveReason)); err != nil {
			return fmt.Errorf("resolve alert %s: %w", a.AlertID, err)
		}
	}
	now := clock.Now()
	a.Status = AlertResolved
	a.LeaseOwner, a.LeaseUntil = "", time.Time{}
	a.ResolvedAt = now
	if retention > 0 {
		a.ExpiresAt = now.Add(retention)
	}
	if _, err := s.UpdateAlert(ctx, a); err != nil {
		return fmt.Errorf("record resolved alert: %w", err)
	}
	logging.FromContext(ctx).Info("alert resolved", "state", string(req.State))
	return nil
}

// logCommunityOnce reports, once per cold start, that reviews need Teleport
// Enterprise.
func (p *Poller) logCommunityOnce(ctx context.Context) {
	once := p.CommunityOnce
	if once == nil {
		once = &sync.Once{}
	}
	once.Do(func() {
		logging.FromContext(ctx).Error("auto-approval is off: this Teleport cluster does not accept reviews from plugins; access request reviews need Teleport Enterprise. Alerts are still opened and resolved.")
	})
}
