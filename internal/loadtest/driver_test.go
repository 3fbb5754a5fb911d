package loadtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/loadtest"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// A burst larger than one invocation can notify at the client's rate
// carries on in the next invocations, and nothing is created twice.
func TestBurstCarriesOverInvocationsWithoutDuplicates(t *testing.T) {
	e := testenv.NewEnv(t, testenv.WithPagerDutySandbox(pagerdutytest.WithLatency(5*time.Millisecond, 20*time.Millisecond)))
	cfg := loadtest.Production()
	cfg.Interval, cfg.Timeout = 2*time.Second, 3*time.Second
	cfg.Settings.DeadlineMargin = time.Second
	cfg.ClientRate = 1200 // 20 a second: 90 requests take four and a half seconds
	d := loadtest.New(e, cfg)
	const n = 90
	for range n {
		d.CreateRequest()
	}
	stop := d.Start(e.Ctx)
	err := d.WaitNotified(e.Ctx, n, time.Minute)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if dup := d.Duplicates(); dup != 0 {
		t.Fatalf("%d duplicate incidents", dup)
	}
	// One create per request, and one service lookup per instance.
	if posts, lookups := e.PD.CallCount("POST /incidents"), e.PD.CallCount("GET /services"); posts != n || lookups > cfg.Instances {
		t.Fatalf("%d creates and %d service lookups for %d requests", posts, lookups, n)
	}
	// (The runs' own counts may miss the last few: stopping cancels them
	// between creating an incident and recording it, as a crash would.)
	runs := d.Invocations()
	for _, r := range runs {
		if r.Err != nil {
			t.Fatalf("invocation failed: %v", r.Err)
		}
	}
	if runs[0].Result.Remaining == 0 {
		t.Fatalf("the first invocation finished everything (%+v): the burst did not need the next runs", runs[0].Result)
	}
}

// In watch mode a request made between scheduled runs is notified by the
// running invocation's watcher, well before the next run.
func TestWatchModeNotifiesBetweenRuns(t *testing.T) {
	e := testenv.NewEnv(t)
	cfg := loadtest.Production()
	cfg.Interval, cfg.Timeout = 10*time.Second, 12*time.Second
	cfg.Settings.DeadlineMargin = 2 * time.Second
	cfg.Settings.WatchWindow = cfg.Interval
	d := loadtest.New(e, cfg)
	stop := d.Start(e.Ctx)
	defer stop()
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	if err := loadtest.WaitFor(ctx, func() bool { return e.Teleport.Watchers() == 1 }); err != nil {
		t.Fatal(err)
	}
	d.CreateRequest()
	err := d.WaitNotified(e.Ctx, 1, cfg.Interval/2)
	stop()
	if err != nil {
		t.Fatalf("%v: the watcher did not handle the request before the next run", err)
	}
	if runs := d.Invocations(); len(runs) != 1 {
		t.Fatalf("%d invocations ran, want the first one only", len(runs))
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := loadtest.Percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if loadtest.Percentile(nil, 50) != 0 {
		t.Error("empty input")
	}
}
