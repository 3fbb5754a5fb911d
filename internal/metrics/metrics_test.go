package metrics

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCountsWriteEMF(t *testing.T) {
	var buf bytes.Buffer
	e := New(&buf, "poller")
	e.now = func() time.Time { return time.UnixMilli(1795251900000) }
	e.Counts(map[string]float64{AlertsCreated: 3, PollDurationMs: 120})
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["Function"] != "poller" || rec[AlertsCreated] != 3.0 || rec[PollDurationMs] != 120.0 {
		t.Fatalf("record = %v", rec)
	}
	aws := rec["_aws"].(map[string]any)
	if aws["Timestamp"] != 1795251900000.0 {
		t.Fatalf("timestamp = %v", aws["Timestamp"])
	}
	d := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if d["Namespace"] != Namespace {
		t.Fatalf("namespace = %v", d["Namespace"])
	}
	if !strings.Contains(buf.String(), `{"Name":"PollDurationMs","Unit":"Milliseconds"}`) {
		t.Fatalf("duration unit missing: %s", buf.String())
	}
}

func TestErrorsByKindAddsDimension(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, "webhook").ErrorsByKind(map[string]int{"transient": 2, "permission": 1})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 records, got %d", len(lines))
	}
	if !strings.Contains(lines[0], `"Kind":"permission"`) || !strings.Contains(lines[0], `"Dimensions":[["Function"],["Function","Kind"]]`) {
		t.Fatalf("first record = %s", lines[0])
	}
}
