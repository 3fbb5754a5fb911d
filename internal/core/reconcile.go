package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/oncallgate/oncallgate/internal/logging"
)

// Reconciler is the use case behind the reconcile function: the safety net
// that makes the system converge whatever happened between polls. It sweeps
// every claimed/open mapping through the store's sparse index and compares
// Teleport with the provider, then runs a poll so that pending requests the
// poller missed get their alerts.
type Reconciler struct {
	Poller *Poller
	// ReopenClosed re-opens a fresh alert when a person resolved the alert in
	// the provider while the request is still pending (default true). When
	// false the closed alert is recorded (Alert.ClosedExternally) and left
	// closed; its mapping stays open in the store until the request ends, so
	// that it is then resolved and expires like any other.
	ReopenClosed bool
	// PageSize bounds one page of the open-mapping sweep.
	PageSize int
}

// Repairs counts what a reconcile run repaired.
type Repairs struct {
	Checked int `json:"checked"`
	// ResolvedMissed: request finished or gone, alert was still open.
	ResolvedMissed int `json:"resolved_missed"`
	// ClaimsRecovered: a crashed worker's claim, taken over; Adopted of them
	// found their alert by dedup key, the rest created it.
	ClaimsRecovered int `json:"claims_recovered"`
	Adopted         int `json:"adopted"`
	// ClosedExternally: alerts resolved by a person while still pending;
	// Reopened of them got a fresh alert.
	ClosedExternally int `json:"closed_externally"`
	Reopened         int `json:"reopened"`
	// PendingCompleted: asynchronous creations whose alert ID arrived.
	PendingCompleted int `json:"pending_completed"`
	// Created: alerts the final poll created for requests without mapping.
	Created   int        `json:"created"`
	Errors    int        `json:"errors"`
	Remaining int        `json:"remaining"`
	Poll      PollResult `json:"poll"`
}

type repairCounter struct {
	mu sync.Mutex
	r  Repairs
}

func (c *repairCounter) add(f func(r *Repairs)) {
	c.mu.Lock()
	f(&c.r)
	c.mu.Unlock()
}

func (c *repairCounter) fail(ctx context.Context, msg string, err error) {
	logging.FromContext(ctx).Warn(msg, "error", err.Error(), "error_kind", ErrorKind(err))
	c.add(func(r *Repairs) { r.Errors++ })
}

// Run sweeps the open mappings page by page until done or the deadline
// nears, then polls. It returns an error only when the sweep could not start.
func (rc *Reconciler) Run(ctx context.Context) (Repairs, error) {
	var c repairCounter
	p := rc.Poller
	size := rc.PageSize
	if size <= 0 {
		size = 200
	}
	cursor := ""
	for {
		if tooLate(ctx, p.margin()) {
			c.r.Remaining++ // at least this page is left
			logging.FromContext(ctx).Warn("reconcile stopped before its deadline; the rest of the sweep is left for the next run")
			return c.r, nil
		}
		page, next, err := p.Store.ListOpenAlerts(ctx, cursor, size)
		if err != nil {
			if cursor == "" {
				return c.r, fmt.Errorf("list open alert mappings: %w", err)
			}
			c.fail(ctx, "list open alert mappings failed mid-sweep", err)
			return c.r, nil
		}
		byReq := map[string][]Alert{}
		var order []string
		for _, a := range page {
			if _, ok := byReq[a.RequestID]; !ok {
				order = append(order, a.RequestID)
			}
			byReq[a.RequestID] = append(byReq[a.RequestID], a)
		}
		jobs := make([]func(context.Context), 0, len(order))
		for _, id := range order {
			id := id
			jobs = append(jobs, func(ctx context.Context) { rc.repair(ctx, id, byReq[id], &c) })
		}
		c.r.Remaining += RunBounded(ctx, p.concurrency(), p.margin(), jobs)
		if next == "" {
			break
		}
		cursor = next
	}
	if tooLate(ctx, p.margin()) {
		c.r.Remaining++ // the final poll is left for the next run
		logging.FromContext(ctx).Warn("reconcile stopped before its final poll; it is left for the next run")
		return c.r, nil
	}
	poll, err := p.Poll(ctx)
	if err != nil {
		c.fail(ctx, "final poll failed", err)
	}
	c.r.Poll = poll
	c.r.Created = poll.AlertsCreated
	c.r.Remaining += poll.Remaining
	return c.r, nil
}

func (rc *Reconciler) repair(ctx context.Context, id string, alerts []Alert, c *repairCounter) {
	p := rc.Poller
	ctx = logging.With(ctx, "request_id", id)
	c.add(func(r *Repairs) { r.Checked += len(alerts) })
	req, err := p.Teleport.GetRequest(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		req = Request{ID: id, State: StateExpired}
	case err != nil:
		c.fail(ctx, "get access request failed", err)
		return
	}
	if req.State.Resolved() && !p.expireFirst(ctx, req, c.fail) {
		return
	}
	for _, a := range alerts {
		actx := logging.With(ctx, "provider", string(a.Target.Provider), "target", a.Target.Name, "alert_id", a.AlertID)
		n := p.Notifiers[a.Target.Provider]
		if n == nil {
			c.fail(actx, "mapping of a provider that is not configured; leaving it", fmt.Errorf("%w: provider %s", ErrInvalid, a.Target.Provider))
			continue
		}
		if req.State.Resolved() {
			if a.Status == AlertClaimed && a.LeaseUntil.After(p.Clock.Now()) {
				continue // a live worker is creating it; it is resolved next time
			}
			if err := ResolveAlert(actx, n, p.Store, p.Clock, req, a, p.Retention); err != nil {
				c.fail(actx, "resolve missed alert failed", err)
				continue
			}
			c.add(func(r *Repairs) { r.ResolvedMissed++ })
			logging.FromContext(actx).Info("repaired: resolved alert of a finished request", "state", string(req.State))
			continue
		}
		switch {
		case a.Status == AlertClaimed:
			rc.recoverClaim(actx, req, a, c)
		case a.AlertID == "" && a.PendingRef != "":
			var pc pollCounter
			if _, ok := p.completePending(actx, n, a, &pc); ok {
				c.add(func(r *Repairs) { r.PendingCompleted++ })
			}
			if pc.r.Errors > 0 {
				c.add(func(r *Repairs) { r.Errors += pc.r.Errors })
			}
		default:
			rc.checkClosed(actx, req, a, c)
		}
	}
}

// recoverClaim takes over a claim whose lease expired and adopts the alert
// by its dedup key, or creates it.
func (rc *Reconciler) recoverClaim(ctx context.Context, req Request, a Alert, c *repairCounter) {
	p := rc.Poller
	if a.LeaseUntil.After(p.Clock.Now()) {
		return // still leased: its worker may be alive
	}
	claimed, err := p.Store.ClaimAlert(ctx, req.ID, a.Target, p.Owner, p.Clock.Now(), p.lease())
	if errors.Is(err, ErrClaimed) {
		return
	}
	if err != nil {
		c.fail(ctx, "take over stale claim failed", err)
		return
	}
	_, adopted, err := CreateClaimed(ctx, p.Notifiers[a.Target.Provider], claimed, p.message(req, a.Target), p.Store, p.Clock)
	if err != nil {
		c.fail(ctx, "recover stale claim failed", err)
		return
	}
	c.add(func(r *Repairs) {
		r.ClaimsRecovered++
		if adopted {
			r.Adopted++
		}
	})
	logging.FromContext(ctx).Info("repaired: recovered a claim left by a crashed worker", "adopted", adopted)
}

// checkClosed notices alerts a person resolved while the request is still
// pending, records that, and re-opens a fresh alert when configured to.
func (rc *Reconciler) checkClosed(ctx context.Context, req Request, a Alert, c *repairCounter) {
	p := rc.Poller
	n := p.Notifiers[a.Target.Provider]
	ref, err := n.Get(ctx, a.AlertID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.fail(ctx, "get alert state failed", err)
		return
	}
	if err == nil && !ref.Resolved {
		return
	}
	if !rc.ReopenClosed {
		if a.ClosedExternally {
			return // recorded by an earlier run; followed until the request ends
		}
		// Left closed, but the mapping stays open in the store: the request
		// is still pending, and only a tracked mapping is resolved (with
		// its note and retention) when the request ends.
		a.ClosedExternally = true
		if _, err := p.Store.UpdateAlert(ctx, a); err != nil {
			c.fail(ctx, "record externally closed alert failed", err)
			return
		}
		c.add(func(r *Repairs) { r.ClosedExternally++ })
		logging.FromContext(ctx).Info("repaired: alert closed by a person while the request is pending; left closed (reconcile/reopen_closed=false)")
		return
	}
	now := p.Clock.Now()
	a.ClosedExternally = true
	c.add(func(r *Repairs) { r.ClosedExternally++ })
	// Back to a claim of ours, then create a fresh alert under it.
	a.Status, a.AlertID, a.PendingRef, a.NotedReviews = AlertClaimed, "", "", 0
	a.LeaseOwner, a.LeaseUntil = p.Owner, now.Add(p.lease())
	claimed, err := p.Store.UpdateAlert(ctx, a)
	if err != nil {
		c.fail(ctx, "claim externally closed alert for re-opening failed", err)
		return
	}
	fresh, _, err := CreateClaimed(ctx, n, claimed, p.message(req, a.Target), p.Store, p.Clock)
	if err != nil {
		c.fail(ctx, "re-open alert failed", err)
		return
	}
	c.add(func(r *Repairs) { r.Reopened++ })
	logging.FromContext(ctx).Info("repaired: alert closed by a person while the request is pending; opened a fresh one", "new_alert_id", fresh.AlertID)
}
