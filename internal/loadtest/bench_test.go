package loadtest_test

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/loadtest"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Knobs of `make bench` (environment variables, so the Makefile can pass
// them): BENCH_LATENCY is the injected latency of every PagerDuty call as
// "min-max" (default 50ms-100ms); BENCH_INTERVAL the poller schedule of the
// latency runs (default 1m, the production schedule; the timeout and watch
// window scale with it).
func benchLatency(b *testing.B) (time.Duration, time.Duration) {
	v := os.Getenv("BENCH_LATENCY")
	if v == "" {
		v = "50ms-100ms"
	}
	lo, hi, ok := strings.Cut(v, "-")
	if !ok {
		hi = lo
	}
	min, err1 := time.ParseDuration(lo)
	max, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || max < min {
		b.Fatalf("BENCH_LATENCY=%q: want min-max such as 50ms-100ms", v)
	}
	return min, max
}

func benchInterval(b *testing.B) time.Duration {
	v := os.Getenv("BENCH_INTERVAL")
	if v == "" {
		return time.Minute
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 5*time.Second {
		b.Fatalf("BENCH_INTERVAL=%q: want a duration of at least 5s", v)
	}
	return d
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// scaled is the production configuration on a schedule of interval: the
// timeout stays interval+10 s-margin, the watch window (when on) the
// interval.
func scaled(interval time.Duration, watch bool) loadtest.Config {
	cfg := loadtest.Production()
	cfg.Interval = interval
	cfg.Timeout = interval + cfg.Settings.DeadlineMargin
	if watch {
		cfg.Settings.WatchWindow = interval
	}
	return cfg
}

// BenchmarkNotifyLatency measures the time from an access request's
// creation to its incident's creation at PagerDuty, for 120 requests
// arriving at random over two schedule intervals: /schedule with the
// listing pass only, /watch with the watch window on.
func BenchmarkNotifyLatency(b *testing.B) {
	lo, hi := benchLatency(b)
	interval := benchInterval(b)
	for _, mode := range []string{"schedule", "watch"} {
		b.Run(mode, func(b *testing.B) {
			var all []time.Duration
			var runs []loadtest.Invocation
			for i := 0; i < b.N; i++ {
				e := testenv.NewEnv(b, testenv.WithPagerDutySandbox(pagerdutytest.WithLatency(lo, hi)), testenv.WithPagerDutyRate(0))
				d := loadtest.New(e, scaled(interval, mode == "watch"))
				const n = 120
				stop := d.Start(e.Ctx)
				rng := rand.New(rand.NewPCG(uint64(i), 9))
				d.Arrive(e.Ctx, n, 2*interval, func(max int64) int64 { return rng.Int64N(max) })
				err := d.WaitNotified(e.Ctx, n, interval+30*time.Second)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if dup := d.Duplicates(); dup != 0 {
					b.Fatalf("%d duplicate incidents", dup)
				}
				all = append(all, d.Latencies()...)
				runs = append(runs, d.Invocations()...)
			}
			b.ReportMetric(ms(loadtest.Percentile(all, 50)), "p50-ms")
			b.ReportMetric(ms(loadtest.Percentile(all, 95)), "p95-ms")
			b.ReportMetric(ms(loadtest.Percentile(all, 99)), "p99-ms")
			b.ReportMetric(ms(loadtest.Percentile(all, 100)), "max-ms")
			var busy time.Duration
			for _, r := range runs {
				busy += r.Duration
			}
			b.ReportMetric(busy.Seconds()/float64(len(runs)), "s/invocation")
		})
	}
}

// BenchmarkBurst creates 1,000 requests at once against a PagerDuty that
// allows 960 requests a minute, and runs the production schedule until
// every request has its incident.
func BenchmarkBurst(b *testing.B) {
	lo, hi := benchLatency(b)
	const n, limit = 1000, 960
	for i := 0; i < b.N; i++ {
		e := testenv.NewEnv(b, testenv.WithPagerDutySandbox(pagerdutytest.WithLatency(lo, hi), pagerdutytest.WithRateLimit(limit)), testenv.WithPagerDutyRate(0))
		d := loadtest.New(e, loadtest.Production())
		for range n {
			d.CreateRequest()
		}
		start := time.Now()
		stop := d.Start(e.Ctx)
		err := d.WaitNotified(e.Ctx, n, 5*time.Minute)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		took := d.LastIncident().Sub(start)
		ideal := time.Duration(n) * time.Minute / limit
		b.ReportMetric(took.Seconds(), "s-to-all-notified")
		b.ReportMetric(100*ideal.Seconds()/took.Seconds(), "%-of-ideal")
		b.ReportMetric(float64(e.PD.RateLimitedCount()), "429s")
		b.ReportMetric(float64(d.Duplicates()), "duplicates")
		b.ReportMetric(float64(len(d.Invocations())), "invocations")
		b.ReportMetric(float64(e.PD.Calls())/n, "pagerduty-calls/request")
	}
}
