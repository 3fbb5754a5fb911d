package core

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oncallgate/oncallgate/internal/logging"
)

// Watcher streams access-request changes; the Teleport adapter implements it.
type Watcher interface {
	// Watch opens a watcher, calls ready once Teleport has confirmed it, then
	// calls fn for every change until ctx ends: the request in its new
	// state, or deleted with only Request.ID set. It returns nil when ctx
	// ends and an error when the watcher could not be opened or broke.
	// Changes made while no watcher is open are not replayed.
	Watch(ctx context.Context, ready func(), fn func(req Request, deleted bool)) error
}

// Bounds of the watch window.
const (
	// minWatch: a window shorter than this is not worth opening a watcher.
	minWatch = time.Second
	// watchReadyWait is how long Run waits for the watcher to be confirmed
	// before listing anyway; a watcher confirmed later triggers a listing.
	watchReadyWait = 2 * time.Second
	// watchRetryMin and watchRetryMax bound the wait before a broken
	// watcher is opened again within the window.
	watchRetryMin = 500 * time.Millisecond
	watchRetryMax = 8 * time.Second
)

// Run is one invocation of the poller. It always makes the listing pass
// (Poll), so nothing depends on the watcher. With a watch window
// (Settings.WatchWindow) it also keeps a Teleport watcher open from just
// before the listing until the window ends, a DeadlineMargin before ctx's
// deadline at the latest, and handles new requests, reviews and
// resolutions as they arrive. The watcher is opened first so that nothing
// changes unseen between the listing and the watcher; when it breaks, it is
// opened again and followed by another listing. Overlapping invocations
// are safe: every step is guarded by the same claims as the listing pass.
func (p *Poller) Run(ctx context.Context) (PollResult, error) {
	until, ok := p.watchUntil(ctx)
	if !ok || p.Watcher == nil {
		return p.Poll(ctx)
	}
	var c pollCounter
	wctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	w := &watchRun{p: p, c: &c, q: newChangeQueue(), readyCh: make(chan struct{})}
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); w.keepWatching(wctx) }()
	// stop closes the watcher; the counts are read only after it.
	stop := func() { cancel(); <-watchDone }

	wait := time.NewTimer(watchReadyWait)
	select {
	case <-w.readyCh:
	case <-wait.C:
		logging.FromContext(ctx).Warn("teleport watcher not confirmed yet; listing without it, and again once it is")
	case <-wctx.Done():
	}
	wait.Stop()
	w.listed.Store(true)
	pending, err := p.listingPass(ctx, &c)
	if err != nil {
		stop()
		return c.r, err
	}
	w.q.markSeen(pending)

	logging.FromContext(ctx).Info("watching access requests", "until", until.UTC().Format(time.RFC3339))
	var wg sync.WaitGroup
	for range p.concurrency() {
		wg.Add(1)
		go func() { defer wg.Done(); w.work(wctx, ctx) }()
	}
	wg.Wait()
	stop()
	if n := w.q.left(); n > 0 {
		logging.FromContext(ctx).Info("watch window ended with changes not handled; the next listing handles them", "changes", n)
	}
	return c.r, nil
}

// watchUntil returns when the watch window of a run starting now ends, and
// false when there is none.
func (p *Poller) watchUntil(ctx context.Context) (time.Time, bool) {
	if p.Settings.WatchWindow <= 0 {
		return time.Time{}, false
	}
	now := time.Now()
	until := now.Add(p.Settings.WatchWindow)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-p.margin()).Before(until) {
		until = dl.Add(-p.margin())
	}
	return until, until.Sub(now) >= minWatch
}

// watchRun is the state of one watch window.
type watchRun struct {
	p      *Poller
	c      *pollCounter
	q      *changeQueue
	listed atomic.Bool

	// readyCh closes when the first watcher is confirmed.
	readyCh   chan struct{}
	readyOnce sync.Once
}

// confirmed is called each time a watcher is confirmed. A watcher
// confirmed after the listing began may have missed changes: list again.
func (w *watchRun) confirmed() {
	w.readyOnce.Do(func() { close(w.readyCh) })
	if w.listed.Load() {
		w.q.relist()
	}
}

// keepWatching holds a watcher open until ctx ends, opening it again with
// growing waits when it breaks.
func (w *watchRun) keepWatching(ctx context.Context) {
	wait := watchRetryMin
	for {
		err := w.p.Watcher.Watch(ctx, w.confirmed, w.q.push)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("watch access requests: watcher closed")
		}
		// Not an error of the run: Teleport closes watchers (restarts,
		// identity rotation) and the listing covers the gap.
		logging.FromContext(ctx).Warn("teleport watch ended; opening it again and listing what changed meanwhile", "error", err.Error(), "retry_in", wait.String())
		w.c.add(func(r *PollResult) { r.WatchRestarts++ })
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, watchRetryMax)
	}
}

// work handles queued changes until wctx (the window) ends. A change taken
// before the end is finished under ctx (the invocation), which still has
// the deadline margin left.
func (w *watchRun) work(wctx, ctx context.Context) {
	for {
		ch, ok := w.q.pop()
		if !ok {
			select {
			case <-wctx.Done():
				return
			case <-w.q.signal:
				continue
			}
		}
		if wctx.Err() != nil {
			w.q.putBack(ch)
			return
		}
		if ch.relist {
			pending, err := w.p.listingPass(ctx, w.c)
			if err != nil {
				w.c.fail(ctx, "listing after the watcher was opened again failed", err)
			} else {
				w.q.markSeen(pending)
			}
			w.q.done(ch)
			continue
		}
		w.p.handleChange(ctx, ch, w.c)
		w.c.add(func(r *PollResult) { r.Changes++ })
		w.q.done(ch)
	}
}

// handleChange brings the alerts of one changed request up to date: the
// same steps as the listing pass, for one request.
func (p *Poller) handleChange(ctx context.Context, ch change, c *pollCounter) {
	req := ch.req
	ctx = logging.With(ctx, "request_id", req.ID)
	if !ch.deleted {
		routing, err := ParseRouting(req, p.providers())
		if err == nil && len(routing.Notify) == 0 && len(routing.OnCall) == 0 {
			return // not ours
		}
		if err != nil && req.State != StatePending {
			return // never had alerts
		}
	}
	alerts, err := p.Store.GetAlerts(ctx, req.ID)
	if err != nil {
		c.fail(ctx, "read alert mappings failed", err)
		return
	}
	var open []Alert
	for _, a := range alerts {
		if a.Status == AlertOpen || a.Status == AlertClaimed {
			open = append(open, a)
		}
	}
	switch {
	case req.State == StatePending && !ch.deleted:
		p.handlePending(ctx, req, open, c)
	case len(open) == 0:
	case ch.deleted:
		p.handleFinished(ctx, req.ID, open, c)
	default:
		p.finish(ctx, req, open, c)
	}
}

// change is one queued change: the latest state of a request, or a request
// to list everything again.
type change struct {
	req     Request
	deleted bool
	relist  bool
}

// relistKey queues the listing among the requests; no request ID is empty.
const relistKey = ""

// changeQueue holds the latest change of each request until a worker takes
// it. Changes to one request are handled one at a time and coalesced: a
// change arriving while the request is being handled waits for it and
// replaces any older waiting one. Different requests are handled
// concurrently, in arrival order.
type changeQueue struct {
	mu     sync.Mutex
	latest map[string]change
	order  []string
	busy   map[string]bool
	// seen holds, per request, the fingerprint of the state last handled,
	// so changes the listing already handled are not handled twice.
	seen   map[string]string
	signal chan struct{}
}

func newChangeQueue() *changeQueue {
	return &changeQueue{latest: map[string]change{}, busy: map[string]bool{}, seen: map[string]string{}, signal: make(chan struct{}, 1)}
}

// fingerprint tells apart the states of a request that need handling.
func fingerprint(req Request, deleted bool) string {
	if deleted {
		return "deleted"
	}
	return string(req.State) + "/" + strconv.Itoa(len(req.Reviews))
}

// push queues a change from the watcher. It never blocks.
func (q *changeQueue) push(req Request, deleted bool) {
	q.enqueue(req.ID, change{req: req, deleted: deleted})
}

func (q *changeQueue) relist() { q.enqueue(relistKey, change{relist: true}) }

func (q *changeQueue) enqueue(key string, ch change) {
	q.mu.Lock()
	if key != relistKey && q.seen[key] == fingerprint(ch.req, ch.deleted) {
		q.mu.Unlock()
		return
	}
	if _, waiting := q.latest[key]; !waiting && !q.busy[key] {
		q.order = append(q.order, key)
	}
	q.latest[key] = ch
	q.mu.Unlock()
	q.wake()
}

func (q *changeQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// pop takes the oldest waiting change whose request is not being handled.
// order may hold stale keys (handled by a listing, or queued twice): they
// are skipped, and a busy request's waiting change is queued again by done.
func (q *changeQueue) pop() (change, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) > 0 {
		k := q.order[0]
		q.order = q.order[1:]
		ch, waiting := q.latest[k]
		if !waiting || q.busy[k] {
			continue
		}
		delete(q.latest, k)
		q.busy[k] = true
		if len(q.order) > 0 {
			q.wake() // more work: let another worker look
		}
		return ch, true
	}
	return change{}, false
}

func queueKey(ch change) string {
	if ch.relist {
		return relistKey
	}
	return ch.req.ID
}

// done marks a change handled and lets a change that waited for it go.
func (q *changeQueue) done(ch change) {
	k := queueKey(ch)
	q.mu.Lock()
	delete(q.busy, k)
	if !ch.relist {
		q.seen[k] = fingerprint(ch.req, ch.deleted)
	}
	if _, waiting := q.latest[k]; waiting {
		q.order = append(q.order, k)
	}
	q.mu.Unlock()
	q.wake()
}

// putBack returns a change taken too late, so left() counts it.
func (q *changeQueue) putBack(ch change) {
	k := queueKey(ch)
	q.mu.Lock()
	delete(q.busy, k)
	if _, waiting := q.latest[k]; !waiting {
		q.latest[k] = ch
	}
	q.mu.Unlock()
}

// markSeen records the states a listing pass handled.
func (q *changeQueue) markSeen(reqs []Request) {
	q.mu.Lock()
	for _, r := range reqs {
		q.seen[r.ID] = fingerprint(r, false)
		// A waiting change with the state the listing just handled is done
		// (pop skips its stale key).
		if ch, waiting := q.latest[r.ID]; waiting && fingerprint(ch.req, ch.deleted) == q.seen[r.ID] {
			delete(q.latest, r.ID)
		}
	}
	q.mu.Unlock()
}

// left counts the changes not handled.
func (q *changeQueue) left() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.latest)
}
