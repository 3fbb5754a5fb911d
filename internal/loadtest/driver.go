// Package loadtest drives the poller the way AWS runs it, against the
// sandboxes, to measure what the benchmarks report: notification latency
// in schedule and watch mode, and a burst at the provider's rate limit.
//
// A Driver starts a poller invocation every Interval, each with a deadline
// of Timeout, on a Lambda-like instance: a warm instance is reused while
// free, so its PagerDuty client (and rate limiter) lives on; an invocation
// that finds every instance busy gets a new one, up to the reserved
// concurrency, as Lambda does. Requests are created in the Teleport sandbox
// and their incidents observed in the PagerDuty sandbox, whose provider
// calls can be slowed by injected latency and capped by a rate limit.
//
// It is test-only support code (it builds on internal/testenv).
package loadtest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// Config shapes the deployment being simulated.
type Config struct {
	// Interval is the schedule (rate(1 minute) in production).
	Interval time.Duration
	// Timeout is the poller function's timeout (70 s in production).
	Timeout time.Duration
	// Settings are the poller settings (watch window, concurrency, margin).
	Settings core.PollSettings
	// Instances caps concurrent invocations (the reserved concurrency, 2).
	Instances int
	// ClientRate is the PagerDuty client's requests per minute (0: the
	// production default).
	ClientRate int
}

// Production returns the deployed defaults: every minute, 70 s timeout,
// 8 workers, 10 s margin, reserved concurrency 2, watch window off.
func Production() Config {
	return Config{
		Interval:  time.Minute,
		Timeout:   70 * time.Second,
		Settings:  core.PollSettings{Concurrency: 8, ClaimLease: 2 * time.Minute, DeadlineMargin: 10 * time.Second},
		Instances: 2,
	}
}

// Invocation is what one simulated invocation did.
type Invocation struct {
	Start    time.Time
	Duration time.Duration
	Instance int
	Result   core.PollResult
	Err      error
}

// Driver runs invocations on a schedule against an Env.
type Driver struct {
	Env     *testenv.Env
	Service core.PagerDutyService
	cfg     Config

	mu          sync.Mutex
	created     map[string]time.Time
	instances   []*instance
	invocations []Invocation
	throttled   int
}

type instance struct {
	id   int
	pd   *pagerduty.Client
	busy bool
}

// New returns a Driver over e with one PagerDuty service the requests
// notify.
func New(e *testenv.Env, cfg Config) *Driver {
	return &Driver{Env: e, Service: e.PD.AddService("Teleport Notifications"), cfg: cfg, created: map[string]time.Time{}}
}

// CreateRequest makes a pending request that notifies the service and
// remembers when.
func (d *Driver) CreateRequest() string {
	at := time.Now()
	id := d.Env.Request("alice@example.com", []string{"dev"}, map[string][]string{"pagerduty_notify_service": {d.Service.Name}})
	d.mu.Lock()
	d.created[id] = at
	d.mu.Unlock()
	return id
}

// Arrive creates n requests at uniformly random moments over span,
// starting now (a Poisson-like stream), and returns when the last is made.
func (d *Driver) Arrive(ctx context.Context, n int, span time.Duration, rand func(int64) int64) {
	offsets := make([]time.Duration, n)
	for i := range offsets {
		offsets[i] = time.Duration(rand(int64(span)))
	}
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })
	start := time.Now()
	for _, off := range offsets {
		t := time.NewTimer(time.Until(start.Add(off)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		d.CreateRequest()
	}
}

// Schedule starts an invocation now and every Interval until ctx ends,
// then waits for the running ones (they end at their deadline or when ctx
// ends).
func (d *Driver) Schedule(ctx context.Context) {
	var wg sync.WaitGroup
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	for {
		if inst := d.acquire(); inst != nil {
			wg.Add(1)
			go func() { defer wg.Done(); d.invoke(ctx, inst) }()
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// Start runs Schedule in the background; stop ends it and waits for the
// running invocations.
func (d *Driver) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Schedule(ctx) }()
	return func() { cancel(); <-done }
}

// WaitNotified waits until n requests have their incident, and fails
// after limit.
func (d *Driver) WaitNotified(ctx context.Context, n int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := WaitFor(ctx, func() bool { return d.Notified() == n }); err != nil {
		return fmt.Errorf("%d of %d requests notified within %s", d.Notified(), n, limit)
	}
	return nil
}

// acquire returns a free instance, a new one while under the cap, or nil
// (the invocation is throttled, as Lambda does past reserved concurrency).
func (d *Driver) acquire() *instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, in := range d.instances {
		if !in.busy {
			in.busy = true
			return in
		}
	}
	if len(d.instances) >= d.cfg.Instances {
		d.throttled++
		return nil
	}
	e := d.Env
	in := &instance{id: len(d.instances), busy: true, pd: pagerduty.New(pagerduty.Config{
		BaseURL: e.PD.URL(), APIKey: e.PD.APIKey(), FromEmail: testenv.FromEmail,
		HTTPClient: e.HTTP, Clock: e.Clock, RequestsPerMinute: d.cfg.ClientRate,
	})}
	d.instances = append(d.instances, in)
	return in
}

func (d *Driver) invoke(ctx context.Context, in *instance) {
	start := time.Now()
	ictx, cancel := context.WithDeadline(ctx, start.Add(d.cfg.Timeout))
	defer cancel()
	p := d.Env.Poller(fmt.Sprintf("invocation-%d-%d", in.id, start.UnixNano()))
	p.Notifiers = map[core.Provider]core.Notifier{core.PagerDuty: in.pd}
	p.Approvers = nil
	p.Settings = d.cfg.Settings
	r, err := p.Run(ictx)
	d.mu.Lock()
	in.busy = false
	d.invocations = append(d.invocations, Invocation{Start: start, Duration: time.Since(start), Instance: in.id, Result: r, Err: err})
	d.mu.Unlock()
}

// Notified reports how many of the created requests have their incident.
func (d *Driver) Notified() int {
	return len(d.Latencies())
}

// Latencies returns, for each created request with an incident, the time
// from its creation to the sandbox accepting the incident's creation.
func (d *Driver) Latencies() []time.Duration {
	byKey := map[string]time.Time{}
	for _, in := range d.Env.PD.Incidents() {
		if first, ok := byKey[in.Key]; !ok || in.ReceivedAt.Before(first) {
			byKey[in.Key] = in.ReceivedAt
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []time.Duration
	for id, at := range d.created {
		if got, ok := byKey[core.DedupKey(id)]; ok {
			out = append(out, got.Sub(at))
		}
	}
	return out
}

// Duplicates counts incidents beyond the first for any request.
func (d *Driver) Duplicates() int {
	seen := map[string]bool{}
	dup := 0
	for _, in := range d.Env.PD.Incidents() {
		if seen[in.Key] {
			dup++
		}
		seen[in.Key] = true
	}
	return dup
}

// LastIncident returns when the sandbox accepted the newest incident.
func (d *Driver) LastIncident() time.Time {
	var last time.Time
	for _, in := range d.Env.PD.Incidents() {
		if in.ReceivedAt.After(last) {
			last = in.ReceivedAt
		}
	}
	return last
}

// Invocations returns the finished invocations, oldest first.
func (d *Driver) Invocations() []Invocation {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := append([]Invocation(nil), d.invocations...)
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Throttled counts scheduled invocations dropped for lack of an instance.
func (d *Driver) Throttled() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.throttled
}

// RateLimited sums the 429 answers the instances' clients received.
func (d *Driver) RateLimited() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var n int64
	for _, in := range d.instances {
		n += in.pd.RateLimited()
	}
	return n
}

// WaitFor polls cond every 50 ms until it holds or ctx ends.
func WaitFor(ctx context.Context, cond func() bool) error {
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of ds by nearest
// rank; ds need not be sorted.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(p/100*float64(len(s)) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}
