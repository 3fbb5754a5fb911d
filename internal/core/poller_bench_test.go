package core_test

import (
	"testing"

	"github.com/oncallgate/oncallgate/internal/testenv"
)

// benchRequests is the number of pending requests each benchmark polls.
const benchRequests = 1000

func benchWorld(b *testing.B) *pdWorld {
	b.Helper()
	e := testenv.NewEnv(b)
	w := &pdWorld{Env: e}
	w.notify = e.PD.AddService("Teleport Notifications")
	for i := 0; i < benchRequests; i++ {
		e.Request(alice, []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
	}
	return w
}

// report adds per-request call counts for one measured poll.
func report(b *testing.B, pdCalls, ddbCalls, tpCalls int64, polls int) {
	n := float64(benchRequests * polls)
	b.ReportMetric(float64(pdCalls)/n, "pagerduty-calls/request")
	b.ReportMetric(float64(ddbCalls)/n, "dynamodb-calls/request")
	b.ReportMetric(float64(tpCalls)/float64(polls), "teleport-calls/poll")
}

// BenchmarkPollSteadyState polls 1,000 pending requests that all have their
// incident already: the poller's every-minute cost while nothing changes.
func BenchmarkPollSteadyState(b *testing.B) {
	w := benchWorld(b)
	if r, err := w.Poller("warm").Poll(w.Ctx); err != nil || r.AlertsCreated != benchRequests {
		b.Fatalf("warm-up poll = %+v, %v", r, err)
	}
	pd0, ddb0, tp0 := w.PDClient.Calls(), w.Store.Calls(), int64(len(w.Teleport.Calls()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := w.Poller("steady").Poll(w.Ctx)
		if err != nil || r.AlertsCreated != 0 || r.Errors != 0 {
			b.Fatalf("poll = %+v, %v", r, err)
		}
	}
	b.StopTimer()
	report(b, w.PDClient.Calls()-pd0, w.Store.Calls()-ddb0, int64(len(w.Teleport.Calls()))-tp0, b.N)
}

// BenchmarkPollNewRequests polls 1,000 requests that are all new: one
// incident each.
func BenchmarkPollNewRequests(b *testing.B) {
	var pd, ddb, tp int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := benchWorld(b)
		pd0, ddb0, tp0 := w.PDClient.Calls(), w.Store.Calls(), int64(len(w.Teleport.Calls()))
		b.StartTimer()
		r, err := w.Poller("new").Poll(w.Ctx)
		if err != nil || r.AlertsCreated != benchRequests {
			b.Fatalf("poll = %+v, %v", r, err)
		}
		b.StopTimer()
		pd += w.PDClient.Calls() - pd0
		ddb += w.Store.Calls() - ddb0
		tp += int64(len(w.Teleport.Calls())) - tp0
		if got := len(w.PD.Incidents()); got != benchRequests {
			b.Fatalf("%d incidents", got)
		}
	}
	report(b, pd, ddb, tp, b.N)
}
