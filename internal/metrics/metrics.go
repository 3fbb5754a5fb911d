// Package metrics writes CloudWatch Embedded Metric Format (EMF) records:
// one JSON line per record on the function's log stream, which CloudWatch
// turns into metrics with no API call and no extra permission. It never
// includes request contents or secrets: only names, counts and durations.
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every oncallgate metric.
const Namespace = "Oncallgate"

// Metric names (kept in step with infra/cdk's alarms and dashboard).
const (
	RequestsSeen         = "RequestsSeen"
	AlertsCreated        = "AlertsCreated"
	AlertsResolved       = "AlertsResolved"
	AutoApprovals        = "AutoApprovals"
	AutoApprovalRefusals = "AutoApprovalRefusals"
	WebhookDecisions     = "WebhookDecisions"
	WebhookRefusals      = "WebhookRefusals"
	Errors               = "Errors"
	PollDurationMs       = "PollDurationMs"
	Backlog              = "Backlog"
	PollSucceeded        = "PollSucceeded"
	Repairs              = "Repairs"
	// WatchChanges and WatchRestarts are sent only by runs with a watch
	// window, so they cost nothing while it is off.
	WatchChanges  = "WatchChanges"
	WatchRestarts = "WatchRestarts"
)

// Emitter writes EMF records for one function.
type Emitter struct {
	mu       sync.Mutex
	w        io.Writer
	function string
	now      func() time.Time
}

// New returns an Emitter writing to w (the function's stdout) with the
// dimension Function=function.
func New(w io.Writer, function string) *Emitter {
	return &Emitter{w: w, function: function, now: time.Now}
}

// Counts emits the given values (Count unit, or Milliseconds for names
// ending in "Ms") with the Function dimension.
func (e *Emitter) Counts(values map[string]float64) {
	e.emit(nil, values)
}

// ErrorsByKind emits Errors for each kind under two dimension sets:
// [Function] (what alarms sum) and [Function, Kind] (what dashboards split).
func (e *Emitter) ErrorsByKind(byKind map[string]int) {
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		e.emit(map[string]string{"Kind": k}, map[string]float64{Errors: float64(byKind[k])})
	}
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type awsMeta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

func (e *Emitter) emit(extraDims map[string]string, values map[string]float64) {
	if e == nil || e.w == nil || len(values) == 0 {
		return
	}
	rec := map[string]any{"Function": e.function}
	dims := []string{"Function"}
	for k, v := range extraDims {
		rec[k] = v
		dims = append(dims, k)
	}
	sort.Strings(dims[1:])
	sets := [][]string{dims}
	if len(dims) > 1 {
		sets = [][]string{{"Function"}, dims}
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	defs := make([]metricDef, 0, len(names))
	for _, n := range names {
		unit := "Count"
		if len(n) > 2 && n[len(n)-2:] == "Ms" {
			unit = "Milliseconds"
		}
		defs = append(defs, metricDef{Name: n, Unit: unit})
		rec[n] = values[n]
	}
	rec["_aws"] = awsMeta{
		Timestamp:         e.now().UnixMilli(),
		CloudWatchMetrics: []directive{{Namespace: Namespace, Dimensions: sets, Metrics: defs}},
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(b, '\n'))
}
