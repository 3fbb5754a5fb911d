package core_test

// The fault-injection convergence suite: the poller, the reconciler and the
// webhook use case run together against the Teleport, PagerDuty and Opsgenie
// sandboxes and moto while faults are injected, then run clean until the
// system must have converged to DESIGN.md's invariants. Every scenario is
// seeded; a failure prints the seed and the command that repeats it.
//
// ONCALLGATE_SOAK_SEEDS=<n> runs n seeds per scenario instead of the
// default three; ONCALLGATE_SEED=<s> runs only seed s. Figures are written
// with t.Logf (go test -v shows them) and recorded in docs/convergence.md.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gravitational/trace"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// Sizes of one convergence run.
const (
	convRequestsPerRound = 2 // new requests in each fault round
	convFaultRounds      = 4 // K: rounds with faults on
	convCleanRounds      = 4 // M: clean rounds allowed to converge
	convPageSize         = 3 // reconcile sweep page, small to cross pages
	convCallTimeout      = 500 * time.Millisecond
	convRoundGap         = 3 * time.Minute // > the 2m claim lease
	convDefaultSeeds     = 3
)

// faultSet says which faults a scenario injects.
type faultSet uint

const (
	faultCrash faultSet = 1 << iota
	faultProvider
	faultTeleport
	faultStore
	faultConcurrent
	faultDuplicates
)

// faultNames are the figures' names of each fault: the prefixes of the
// keys its injections are counted under.
var faultNames = []struct {
	f     faultSet
	names []string
}{
	{faultCrash, []string{"crash"}},
	{faultProvider, []string{"pagerduty", "opsgenie"}},
	{faultTeleport, []string{"teleport"}},
	{faultStore, []string{"store"}},
	{faultConcurrent, []string{"concurrent"}},
	{faultDuplicates, []string{"duplicate-webhook"}},
}

var convergenceScenarios = []struct {
	name   string
	faults faultSet
}{
	{"crash", faultCrash},
	{"provider-errors", faultProvider},
	{"teleport-unavailable", faultTeleport},
	{"store-refuses-writes", faultStore},
	{"concurrent-workers", faultConcurrent},
	{"duplicate-webhooks", faultDuplicates},
	{"everything", faultCrash | faultProvider | faultTeleport | faultStore | faultConcurrent | faultDuplicates},
}

// convergenceSeeds are the seeds each scenario runs with.
func convergenceSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("ONCALLGATE_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ONCALLGATE_SEED=%q: %v", s, err)
		}
		return []uint64{seed}
	}
	n := convDefaultSeeds
	if s := os.Getenv("ONCALLGATE_SOAK_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("ONCALLGATE_SOAK_SEEDS=%q: want a positive number", s)
		}
		n = v
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

// scenarioFigures add up the runs of one scenario.
type scenarioFigures struct {
	mu         sync.Mutex
	runs       int
	requests   int
	finished   int
	closes     int
	reviews    map[string]int
	faults     map[string]int
	duplicates int
	lost       int
	maxRounds  int
}

func (f *scenarioFigures) add(r *runFigures) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs++
	f.requests += r.requests
	f.finished += r.finished
	f.closes += r.closes
	if f.faults == nil {
		f.faults, f.reviews = map[string]int{}, map[string]int{}
	}
	for k, v := range r.faults {
		if v > 0 {
			f.faults[k] += v
		}
	}
	for k, v := range r.reviews {
		f.reviews[k] += v
	}
	f.duplicates += r.duplicates
	f.lost += r.lost
	if r.rounds > f.maxRounds {
		f.maxRounds = r.rounds
	}
}

// summary totals counts and lists them by kind, biggest first.
func summary(counts map[string]int) (total int, detail string) {
	keys := make([]string, 0, len(counts))
	for k, v := range counts {
		total += v
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return total, strings.Join(parts, ", ")
}

// TestConvergenceUnderFaults runs every scenario with every seed, then
// prints the figures docs/convergence.md records.
func TestConvergenceUnderFaults(t *testing.T) {
	seeds := convergenceSeeds(t)
	figures := make([]*scenarioFigures, len(convergenceScenarios))
	start := time.Now()
	t.Run("scenarios", func(t *testing.T) {
		for i, sc := range convergenceScenarios {
			figures[i] = &scenarioFigures{}
			for _, seed := range seeds {
				t.Run(fmt.Sprintf("%s/seed=%d", sc.name, seed), func(t *testing.T) {
					t.Parallel()
					t.Cleanup(func() {
						if t.Failed() {
							t.Logf("reproduce with: ONCALLGATE_SEED=%d go test -race -count=1 -run 'TestConvergenceUnderFaults/scenarios/%s/' ./internal/core/", seed, sc.name)
						}
					})
					figures[i].add(runConvergence(t, sc.faults, seed))
				})
			}
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "convergence: %d scenario(s) x %d seed(s) in %s\n", len(convergenceScenarios), len(seeds), time.Since(start).Round(time.Second))
	fmt.Fprintf(&b, "%-21s %4s %9s %6s %7s %6s %4s %6s  %s\n", "scenario", "runs", "req/done", "closed", "faults", "dups", "lost", "rounds", "faults by kind; plugin reviews by origin")
	for i, sc := range convergenceScenarios {
		f := figures[i]
		total, detail := summary(f.faults)
		_, reviews := summary(f.reviews)
		fmt.Fprintf(&b, "%-21s %4d %4d/%-4d %6d %7d %6d %4d %6d  %s; %s\n", sc.name, f.runs, f.requests, f.finished, f.closes, total, f.duplicates, f.lost, f.maxRounds, detail, reviews)
		// A scenario that injected none of its faults tested nothing.
		if len(seeds) >= convDefaultSeeds {
			for _, fn := range faultNames {
				for _, name := range fn.names {
					n := 0
					for k, v := range f.faults {
						if strings.HasPrefix(k, name) {
							n += v
						}
					}
					if sc.faults&fn.f != 0 && n == 0 {
						t.Errorf("scenario %s injected no %s fault in %d runs", sc.name, name, f.runs)
					}
				}
			}
		}
	}
	t.Log("\n" + b.String())
}

// runFigures are what one run measured.
type runFigures struct {
	requests int
	finished int
	closes   int
	// reviews counts the plugin's reviews by origin: auto-approval, or the
	// provider whose webhook action submitted it.
	reviews    map[string]int
	faults     map[string]int
	duplicates int
	lost       int
	// rounds is how many clean rounds it took to converge.
	rounds int
}

// convTarget is one notify target of a request, as the test identifies
// its alerts: PagerDuty incidents by (incident_key, service), Opsgenie
// alerts by alias.
type convTarget struct {
	provider  core.Provider
	name      string
	serviceID string
}

func (tg convTarget) key(reqID string) string {
	return string(tg.provider) + "|" + core.DedupKey(reqID) + "|" + tg.serviceID
}

type convRequest struct {
	id      string
	targets []convTarget
}

// convWorld is one run: a pdWorld with Opsgenie, the shared faulty store,
// the random source and the bookkeeping of what the world did.
type convWorld struct {
	*pdWorld
	t      *testing.T
	faults faultSet
	rng    *rand.Rand
	store  *refusingStore
	dec    *core.Decider
	figs   *runFigures

	reqs []*convRequest
	// personCloses counts alerts a person closed, per target key.
	personCloses map[string]int
	// retries are webhook deliveries the sender will send again.
	retries  []core.Action
	accepted map[string]bool // requests a webhook review was submitted for
	delivery int

	armed       map[string]int // sandbox faults armed, by kind
	crashes     [numCrashPoints]atomic.Int64
	oldTeleport bool
	services    map[string]string // PagerDuty service name (lower case) -> ID
}

func newConvWorld(t *testing.T, faults faultSet, seed uint64) *convWorld {
	opts := []testenv.EnvOption{testenv.WithOpsgenie(), testenv.WithCallTimeout(convCallTimeout)}
	// Every other seed talks to an auth server without the paginated
	// ListAccessRequests, so the client's GetAccessRequestsV2 fallback
	// meets the faults too.
	oldTeleport := seed%2 == 0
	if oldTeleport {
		opts = append(opts, testenv.WithTeleport(teleporttest.WithoutListAccessRequests()))
	}
	w := newPDWorld(t, opts...)
	w.OG.AddSchedule("Ops Primary", "bob@example.com")
	w.PD.AddOnCall(w.bob.ID, w.search.EscalationPolicyID, 1)
	// alice is on call in Payments API with an active incident: requests
	// that list it in pagerduty_services are auto-approved.
	w.PD.AddOnCall(w.alice.ID, w.payments.EscalationPolicyID, 1)
	w.PD.AddIncident(w.payments.ID, w.alice.ID, "triggered", pagerdutytest.WithTitle("Payments latency"))
	cw := &convWorld{
		pdWorld:      w,
		t:            t,
		faults:       faults,
		rng:          rand.New(rand.NewPCG(seed, 0x6f6e63616c6c)),
		store:        &refusingStore{Store: w.Store},
		figs:         &runFigures{faults: map[string]int{}, reviews: map[string]int{}},
		personCloses: map[string]int{},
		accepted:     map[string]bool{},
		armed:        map[string]int{},
		oldTeleport:  oldTeleport,
		services: map[string]string{
			"teleport notifications": w.notify.ID,
			"search":                 w.search.ID,
		},
	}
	cw.dec = w.Decider(core.WebhookSettings{RequireOnCall: true, DeliveryTTL: 72 * time.Hour})
	cw.dec.Store = cw.store
	return cw
}

// routings are the annotation sets requests are made with.
var convRoutings = []map[string][]string{
	{"pagerduty_notify_service": {"Teleport Notifications"}},
	{"pagerduty_notify_service": {"Teleport Notifications", "Search"}},
	{"pagerduty_notify_service": {"Teleport Notifications"}, "pagerduty_services": {"Payments API"}},
	{"opsgenie_notify_services": {"Ops Primary"}},
	{"pagerduty_notify_service": {"Search"}, "opsgenie_notify_services": {"Ops Primary"}},
}

var convUsers = []string{alice, alice, "dave@example.com", "erin@example.com"}

func (cw *convWorld) createRequest() {
	ann := convRoutings[cw.rng.IntN(len(convRoutings))]
	user := convUsers[cw.rng.IntN(len(convUsers))]
	id := cw.Request(user, []string{"dev"}, ann)
	routing, err := core.ParseRouting(core.Request{ID: id, Annotations: ann}, []core.Provider{core.PagerDuty, core.Opsgenie})
	if err != nil {
		cw.t.Fatal(err)
	}
	r := &convRequest{id: id}
	for _, tg := range routing.Notify {
		ct := convTarget{provider: tg.Provider, name: tg.Name}
		if tg.Provider == core.PagerDuty {
			ct.serviceID = cw.services[strings.ToLower(tg.Name)]
		}
		r.targets = append(r.targets, ct)
	}
	cw.reqs = append(cw.reqs, r)
	cw.figs.requests++
}

// pending reports whether request id is pending in the sandbox.
func (cw *convWorld) pending(id string) bool {
	r, ok := cw.Teleport.Request(id)
	return ok && r.GetState().IsPending()
}

// alertView is the providers' alerts, grouped by target key.
type alertView struct {
	open  map[string][]string // target key -> open alert IDs
	total map[string]int      // target key -> alerts ever made
	// byKey lists, per dedup key, the target keys of its open alerts, to
	// find alerts where a request was never routed.
	byKey map[string][]string
}

func (cw *convWorld) view() alertView {
	v := alertView{open: map[string][]string{}, total: map[string]int{}, byKey: map[string][]string{}}
	for _, in := range cw.PD.Incidents() {
		if _, ok := core.RequestIDFromDedupKey(in.Key); !ok {
			continue
		}
		k := string(core.PagerDuty) + "|" + in.Key + "|" + in.ServiceID
		v.total[k]++
		if in.Status != "resolved" {
			v.open[k] = append(v.open[k], in.ID)
			v.byKey[in.Key] = append(v.byKey[in.Key], k)
		}
	}
	for _, a := range cw.OG.Alerts() {
		k := string(core.Opsgenie) + "|" + a.Alias + "|"
		v.total[k]++
		if a.Status == "open" {
			v.open[k] = append(v.open[k], a.ID)
			v.byKey[a.Alias] = append(v.byKey[a.Alias], k)
		}
	}
	return v
}

// checkNoDuplicates asserts what must hold at every moment: at most one
// open alert per target, no open alert where a request was not routed, at
// most one review by the plugin per request.
func (cw *convWorld) checkNoDuplicates(when string) {
	v := cw.view()
	for _, r := range cw.reqs {
		want := map[string]bool{}
		for _, tg := range r.targets {
			k := tg.key(r.id)
			want[k] = true
			if n := len(v.open[k]); n > 1 {
				cw.figs.duplicates++
				cw.t.Errorf("%s: request %s has %d open alerts in %s %s: %v", when, r.id, n, tg.provider, tg.name, v.open[k])
			}
		}
		for _, k := range v.byKey[core.DedupKey(r.id)] {
			if !want[k] {
				cw.figs.duplicates++
				cw.t.Errorf("%s: request %s has an open alert where it was not routed: %s", when, r.id, k)
			}
		}
		plugin := 0
		for _, rev := range cw.Teleport.Reviews(r.id) {
			if rev.Author == testenv.PluginUser {
				plugin++
			}
		}
		if plugin > 1 {
			cw.figs.duplicates++
			cw.t.Errorf("%s: request %s has %d reviews by the plugin", when, r.id, plugin)
		}
	}
}

// problems lists every way the world is not (yet) converged: a pending
// request without exactly one open alert per target recorded in the store,
// a finished request with an open alert, an unresolved mapping or an item
// without its retention, more alerts in total than people's closes explain.
func (cw *convWorld) problems() (lost []string, dups []string) {
	v := cw.view()
	for _, r := range cw.reqs {
		pending := cw.pending(r.id)
		alerts, err := cw.Store.GetAlerts(cw.Ctx, r.id)
		if err != nil {
			cw.t.Fatalf("read mappings: %v", err)
		}
		mappings := map[string]core.Alert{}
		for _, a := range alerts {
			mappings[strings.ToLower(string(a.Target.Provider)+"#"+a.Target.Name)] = a
		}
		for _, tg := range r.targets {
			k := tg.key(r.id)
			m, mapped := mappings[strings.ToLower(string(tg.provider)+"#"+tg.name)]
			open := v.open[k]
			if limit := 1 + cw.personCloses[k]; v.total[k] > limit {
				dups = append(dups, fmt.Sprintf("request %s: %d alerts in %s %s, at most %d expected (%d closed by a person)", r.id, v.total[k], tg.provider, tg.name, limit, cw.personCloses[k]))
			}
			switch {
			case pending && len(open) != 1:
				lost = append(lost, fmt.Sprintf("pending request %s: %d open alerts in %s %s", r.id, len(open), tg.provider, tg.name))
			case pending && (!mapped || m.Status != core.AlertOpen || m.AlertID != open[0]):
				lost = append(lost, fmt.Sprintf("pending request %s: mapping of %s %s does not record open alert %s: %+v", r.id, tg.provider, tg.name, open[0], m))
			case !pending && len(open) != 0:
				lost = append(lost, fmt.Sprintf("finished request %s: alert(s) %v in %s %s still open", r.id, open, tg.provider, tg.name))
			case !pending && mapped && (m.Status != core.AlertResolved || m.ExpiresAt.IsZero()):
				lost = append(lost, fmt.Sprintf("finished request %s: mapping of %s %s not resolved with retention: %+v", r.id, tg.provider, tg.name, m))
			}
		}
		if !pending {
			rec, err := cw.Store.GetRequestRecord(cw.Ctx, r.id)
			if err == nil && rec.ExpiresAt.IsZero() {
				lost = append(lost, fmt.Sprintf("finished request %s: record has no retention: %+v", r.id, rec))
			}
		}
		if cw.accepted[r.id] {
			if _, exists := cw.Teleport.Request(r.id); exists && len(cw.Teleport.Reviews(r.id)) == 0 {
				lost = append(lost, fmt.Sprintf("request %s: a webhook review was accepted but Teleport has none", r.id))
			}
		}
	}
	return lost, dups
}

// act does what people do between rounds: approve, deny, let expire, press
// Approve/Deny on an alert, or close an alert by hand.
func (cw *convWorld) act() {
	for _, r := range cw.reqs {
		if !cw.pending(r.id) {
			continue
		}
		switch p := cw.rng.Float64(); {
		case p < 0.05:
			_ = cw.Teleport.SetState(r.id, core.StateApproved, "approved by an administrator")
		case p < 0.10:
			_ = cw.Teleport.SetState(r.id, core.StateDenied, "")
		case p < 0.15:
			_ = cw.Teleport.Expire(r.id)
		case p < 0.32:
			cw.pressAction(r)
		case p < 0.55:
			cw.closeByHand(r)
		}
	}
}

// pressAction sends an Approve/Deny webhook delivery for one of the
// request's alerts, two or three times when duplicates are injected.
func (cw *convWorld) pressAction(r *convRequest) {
	alerts, err := cw.Store.GetAlerts(cw.Ctx, r.id)
	if err != nil {
		cw.t.Fatalf("read mappings: %v", err)
	}
	var usable []core.Alert
	for _, a := range alerts {
		if a.Status == core.AlertOpen && a.AlertID != "" {
			usable = append(usable, a)
		}
	}
	if len(usable) == 0 {
		return
	}
	m := usable[cw.rng.IntN(len(usable))]
	cw.delivery++
	a := core.Action{Provider: m.Target.Provider, DeliveryID: fmt.Sprintf("delivery-%d", cw.delivery), Approve: cw.rng.IntN(2) == 0, AlertID: m.AlertID}
	if m.Target.Provider == core.PagerDuty {
		a.DedupKey, a.ActorID = core.DedupKey(r.id), cw.bob.ID // v2 payloads carry incident_key and the agent's ID
	} else {
		a.DedupKey, a.ActorEmail = core.DedupKey(r.id), "bob@example.com"
	}
	copies := 1
	if cw.inject(faultDuplicates) {
		copies += 1 + cw.rng.IntN(2)
		cw.figs.faults["duplicate-webhook"] += copies - 1
	}
	cw.deliver(a, copies, cw.rng.IntN(2) == 0)
}

// deliver sends copies of a delivery, at once or one after another. A
// failed delivery is sent again next round, as PagerDuty and Opsgenie retry.
func (cw *convWorld) deliver(a core.Action, copies int, concurrently bool) {
	type result struct {
		o   core.Outcome
		err error
	}
	results := make([]result, copies)
	var wg sync.WaitGroup
	for i := 0; i < copies; i++ {
		send := func(i int) {
			o, err := cw.dec.Decide(cw.Ctx, a)
			results[i] = result{o, err}
		}
		if concurrently {
			wg.Add(1)
			go func(i int) { defer wg.Done(); send(i) }(i)
		} else {
			send(i)
		}
	}
	wg.Wait()
	failed := false
	for _, r := range results {
		switch {
		case r.err != nil:
			failed = true
		case r.o.Status == core.OutcomeAccepted && r.o.Message == "review submitted":
			cw.accepted[r.o.RequestID] = true
		}
	}
	if failed {
		cw.retries = append(cw.retries, a)
	}
}

func (cw *convWorld) redeliver() {
	retries := cw.retries
	cw.retries = nil
	for _, a := range retries {
		cw.deliver(a, 1, false)
	}
}

// closeByHand resolves/closes one of the request's open alerts as a person
// would in the provider's UI.
func (cw *convWorld) closeByHand(r *convRequest) {
	v := cw.view()
	tg := r.targets[cw.rng.IntN(len(r.targets))]
	k := tg.key(r.id)
	if len(v.open[k]) != 1 {
		return
	}
	if tg.provider == core.PagerDuty {
		cw.PD.Resolve(v.open[k][0])
	} else {
		cw.OG.Close(v.open[k][0])
	}
	cw.personCloses[k]++
	cw.figs.closes++
}

// inject decides whether fault f is injected this time: always in a
// scenario of that fault alone, every other time (at random) when the
// scenario combines faults, so that the world still moves between them.
func (cw *convWorld) inject(f faultSet) bool {
	return cw.faults&f != 0 && (cw.faults == f || cw.rng.IntN(2) == 0)
}

// armFaults injects this round's sandbox and store faults.
func (cw *convWorld) armFaults() {
	if cw.inject(faultProvider) {
		kinds := []pagerdutytest.Fault{
			{Kind: pagerdutytest.RateLimited, Reset: time.Second},
			{Kind: pagerdutytest.RateLimitedNoHeaders},
			{Kind: pagerdutytest.ServerError},
			{Kind: pagerdutytest.Hang},
		}
		n := 1 + cw.rng.IntN(3)
		cw.PD.FailNext(n, kinds[cw.rng.IntN(len(kinds))])
		cw.armed["pagerduty"] += n
		og := []opsgenietest.Fault{opsgenietest.RateLimited("1"), opsgenietest.ServerError(), opsgenietest.Status(503), opsgenietest.Hang()}
		n = 1 + cw.rng.IntN(2)
		cw.OG.FailNext(n, og[cw.rng.IntN(len(og))])
		cw.armed["opsgenie"] += n
	}
	if cw.inject(faultTeleport) {
		methods := []string{"ListAccessRequests", "ListAccessRequests", "SubmitAccessReview"}
		if cw.oldTeleport {
			methods[1] = "GetAccessRequestsV2"
		}
		m := methods[cw.rng.IntN(len(methods))]
		n := 1 + cw.rng.IntN(3)
		cw.Teleport.FailNext(m, trace.ConnectionProblem(nil, "injected: teleport unavailable"), n)
		kind := "teleport list"
		if m == "SubmitAccessReview" {
			kind = "teleport review"
		}
		cw.armed[kind] += n
	}
	if cw.inject(faultStore) {
		cw.store.RefuseNext(1 + cw.rng.IntN(6))
	}
}

// disarmFaults turns every fault off: the store stops refusing, and
// queued sandbox faults are used up by probe calls (each probe that fails
// consumed one fault that the system therefore never saw).
func (cw *convWorld) disarmFaults() {
	cw.store.RefuseNext(0)
	ctx := cw.Ctx
	drain := func(kind string, probe func() error) {
		for i := 0; ; i++ {
			err := probe()
			if err == nil || !errors.Is(err, core.ErrTransient) {
				return
			}
			cw.armed[kind]--
			if i > 50 {
				cw.t.Fatalf("%s faults do not drain: %v", kind, err)
			}
		}
	}
	drain("pagerduty", func() error { _, err := cw.PDClient.Get(ctx, "PNOSUCHINCIDENT"); return err })
	drain("opsgenie", func() error { _, err := cw.OGClient.Get(ctx, "no-such-alert"); return err })
	drain("teleport list", func() error { _, err := cw.TeleportClient.ListPendingRequests(ctx); return err })
	drain("teleport review", func() error {
		return cw.TeleportClient.SubmitReview(ctx, core.ReviewSubmission{RequestID: "00000000-0000-0000-0000-000000000000", Proposed: core.StateApproved})
	})
	for k, v := range cw.armed {
		cw.figs.faults[k] += v
	}
	cw.figs.faults["store"] += cw.store.Refused()
	for pt := range cw.crashes {
		cw.figs.faults["crash "+crashPoint(pt).String()] += int(cw.crashes[pt].Load())
	}
}

// worker builds a poller as production wires it, over the shared faulty
// store, with a crash plan when crashes are injected this round.
func (cw *convWorld) worker(owner string, faulty bool) (*core.Poller, context.Context, *crashPlan) {
	ctx, cancel := context.WithTimeout(cw.Ctx, time.Minute)
	cw.t.Cleanup(cancel)
	p := cw.Poller(owner)
	p.Store = cw.store
	var plan *crashPlan
	if faulty && cw.inject(faultCrash) {
		pt := crashPoint(cw.rng.IntN(int(numCrashPoints)))
		plan = &crashPlan{point: pt, skip: int32(cw.rng.IntN(2)), cancel: cancel, fired: &cw.crashes[pt]}
		p.Store = crashStore{Store: cw.store, plan: plan}
		wrapped := map[core.Provider]core.Notifier{}
		for pr, n := range p.Notifiers {
			wrapped[pr] = crashNotifier{Notifier: n, plan: plan}
		}
		p.Notifiers = wrapped
	}
	return p, ctx, plan
}

// round runs the workers of one round: a poll, then a reconcile, or two
// polls and a reconcile at once when concurrency is injected.
func (cw *convWorld) round(n int, faulty bool) {
	tag := strconv.Itoa(n)
	p1, ctx1, _ := cw.worker("poller-a-"+tag, faulty)
	rp, ctx3, _ := cw.worker("reconcile-"+tag, faulty)
	rc := &core.Reconciler{Poller: rp, ReopenClosed: true, PageSize: convPageSize}
	report := func(what string, err error) {
		// A clean round has nothing to blame a failure on.
		if err != nil && !faulty {
			cw.t.Errorf("clean round %d: %s: %v", n, what, err)
		}
	}
	if faulty && cw.inject(faultConcurrent) {
		p2, ctx2, _ := cw.worker("poller-b-"+tag, faulty)
		cw.figs.faults["concurrent"]++
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); _, err := p1.Poll(ctx1); report("poll", err) }()
		go func() { defer wg.Done(); _, err := p2.Poll(ctx2); report("poll", err) }()
		go func() { defer wg.Done(); _, err := rc.Run(ctx3); report("reconcile", err) }()
		wg.Wait()
		return
	}
	_, err := p1.Poll(ctx1)
	report("poll", err)
	_, err = rc.Run(ctx3)
	report("reconcile", err)
}

// runConvergence is one scenario with one seed.
func runConvergence(t *testing.T, faults faultSet, seed uint64) *runFigures {
	cw := newConvWorld(t, faults, seed)
	for n := 0; n < convFaultRounds; n++ {
		for i := 0; i < convRequestsPerRound; i++ {
			cw.createRequest()
		}
		cw.redeliver()
		cw.armFaults()
		cw.round(n, true)
		cw.checkNoDuplicates(fmt.Sprintf("fault round %d", n))
		cw.act()               // people act between runs, on what they see
		cw.OG.ProcessPending() // Opsgenie works through its queue between runs
		cw.Clock.Advance(convRoundGap)
	}
	cw.disarmFaults()
	var lost, dups []string
	for n := 1; n <= convCleanRounds; n++ {
		cw.redeliver()
		cw.round(convFaultRounds+n, false)
		cw.checkNoDuplicates(fmt.Sprintf("clean round %d", n))
		cw.OG.ProcessPending()
		cw.Clock.Advance(convRoundGap)
		cw.figs.rounds = n
		if lost, dups = cw.problems(); len(lost) == 0 && len(dups) == 0 && len(cw.retries) == 0 {
			break
		}
	}
	cw.figs.lost += len(lost)
	cw.figs.duplicates += len(dups)
	for _, r := range cw.reqs {
		if !cw.pending(r.id) {
			cw.figs.finished++
		}
		for _, rev := range cw.Teleport.Reviews(r.id) {
			switch {
			case rev.Author != testenv.PluginUser:
			case rev.Delegator == "":
				cw.figs.reviews["auto-approval"]++
			default:
				provider, _, _ := strings.Cut(rev.Delegator, ":")
				cw.figs.reviews[provider+" action"]++
			}
		}
	}
	for _, p := range append(lost, dups...) {
		t.Errorf("not converged after %d clean rounds: %s", convCleanRounds, p)
	}
	if len(cw.retries) > 0 {
		t.Errorf("%d webhook deliveries still failing after the faults ended", len(cw.retries))
	}
	return cw.figs
}

// crashPoint is a step boundary where a worker "dies" (its context is
// cancelled, so nothing it does afterwards reaches anything).
type crashPoint int

const (
	atBeforeCreate crashPoint = iota
	atAfterCreate
	atAfterOpenRecorded
	atBeforeResolve
	atAfterResolve
	atBeforeResolvedRecorded
	numCrashPoints
)

func (p crashPoint) String() string {
	return [...]string{"before-create", "after-create", "after-open-recorded", "before-resolve", "after-resolve", "before-resolved-recorded"}[p]
}

// crashPlan cancels a worker's context at the skip+1-th pass through point.
type crashPlan struct {
	point  crashPoint
	skip   int32
	cancel context.CancelFunc
	seen   atomic.Int32
	fired  *atomic.Int64
}

func (p *crashPlan) at(pt crashPoint) {
	if p == nil || pt != p.point {
		return
	}
	if p.seen.Add(1)-1 == p.skip {
		p.fired.Add(1)
		p.cancel()
	}
}

// crashNotifier is a real notifier whose worker dies around Create and
// Resolve.
type crashNotifier struct {
	core.Notifier
	plan *crashPlan
}

func (n crashNotifier) Create(ctx context.Context, t core.Target, msg core.AlertMessage) (core.AlertRef, error) {
	n.plan.at(atBeforeCreate)
	ref, err := n.Notifier.Create(ctx, t, msg)
	n.plan.at(atAfterCreate)
	return ref, err
}

func (n crashNotifier) Resolve(ctx context.Context, alertID, note string) error {
	n.plan.at(atBeforeResolve)
	err := n.Notifier.Resolve(ctx, alertID, note)
	n.plan.at(atAfterResolve)
	return err
}

// crashStore is the (real, possibly refusing) store whose worker dies
// after recording an open alert or before recording a resolved one.
type crashStore struct {
	core.Store
	plan *crashPlan
}

func (s crashStore) UpdateAlert(ctx context.Context, a core.Alert) (core.Alert, error) {
	if a.Status == core.AlertResolved {
		s.plan.at(atBeforeResolvedRecorded)
	}
	out, err := s.Store.UpdateAlert(ctx, a)
	if a.Status == core.AlertOpen && err == nil {
		s.plan.at(atAfterOpenRecorded)
	}
	return out, err
}

// refusingStore wraps the real DynamoDB store and refuses the next n
// writes with a transient error, as a throttled or unavailable table does.
// Reads always reach the real store.
type refusingStore struct {
	core.Store
	mu      sync.Mutex
	left    int
	refused int
}

// RefuseNext makes the next n writes fail; 0 stops refusing.
func (s *refusingStore) RefuseNext(n int) {
	s.mu.Lock()
	s.left = n
	s.mu.Unlock()
}

// Refused counts the writes refused so far.
func (s *refusingStore) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *refusingStore) refuse(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left <= 0 {
		return nil
	}
	s.left--
	s.refused++
	return core.Transient(fmt.Errorf("%s: injected: the table refuses writes (throttled)", op), 0)
}

func (s *refusingStore) ClaimAlert(ctx context.Context, requestID string, target core.Target, owner string, now time.Time, lease time.Duration) (core.Alert, error) {
	if err := s.refuse("claim alert mapping"); err != nil {
		return core.Alert{}, err
	}
	return s.Store.ClaimAlert(ctx, requestID, target, owner, now, lease)
}

func (s *refusingStore) UpdateAlert(ctx context.Context, a core.Alert) (core.Alert, error) {
	if err := s.refuse("update alert mapping"); err != nil {
		return core.Alert{}, err
	}
	return s.Store.UpdateAlert(ctx, a)
}

func (s *refusingStore) PutRequestRecord(ctx context.Context, rec core.RequestRecord) (core.RequestRecord, error) {
	if err := s.refuse("put request record"); err != nil {
		return core.RequestRecord{}, err
	}
	return s.Store.PutRequestRecord(ctx, rec)
}

func (s *refusingStore) RecordDelivery(ctx context.Context, d core.Delivery) error {
	if err := s.refuse("record webhook delivery"); err != nil {
		return err
	}
	return s.Store.RecordDelivery(ctx, d)
}

var (
	_ core.Store    = (*refusingStore)(nil)
	_ core.Store    = crashStore{}
	_ core.Notifier = crashNotifier{}
)
