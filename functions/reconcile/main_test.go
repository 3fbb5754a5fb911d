package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/oncallgate/oncallgate/internal/app"
	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// records returns stdout's JSON lines split into EMF records (those with an
// "_aws" member) and log lines.
func records(t *testing.T, stdout *testenv.Stdout) (emf, logs []map[string]any) {
	t.Helper()
	for _, line := range stdout.Lines() {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("stdout line is not JSON: %q", line)
		}
		if rec["_aws"] != nil {
			emf = append(emf, rec)
		} else {
			logs = append(logs, rec)
		}
	}
	return emf, logs
}

// metric returns the value of name in the EMF records, and whether one
// record (and only one) carried it.
func metric(emf []map[string]any, name string) (float64, bool) {
	var vals []float64
	for _, rec := range emf {
		if v, ok := rec[name].(float64); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) != 1 {
		return 0, false
	}
	return vals[0], true
}

// TestHandleReconcileAnswersTheScheduleEvent feeds the sample EventBridge
// event through aws-lambda-go's handler adapter to the handler main.go
// starts, with an App reading its configuration from SSM and Secrets
// Manager in moto and talking to the Teleport and PagerDuty sandboxes. The
// poller opened an incident and then missed the request's approval: the
// reconcile run must resolve it, or say that it could not.
func TestHandleReconcileAnswersTheScheduleEvent(t *testing.T) {
	event, err := os.ReadFile("../../events/reconcile-schedule.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		params map[string]string // override the configuration testenv writes ("" deletes)
		// wantOK is the answer's ok; wantErrorPart a part of its error.
		wantOK        bool
		wantErrorPart string
		wantResolved  int
		wantRemaining bool
		wantIncident  string // status of the incident afterwards
	}{
		{name: "missed resolution is repaired", wantOK: true, wantResolved: 1, wantIncident: "resolved"},
		{name: "a run out of time says how much remains", params: map[string]string{"poller/deadline_margin": "1h"},
			wantOK: true, wantRemaining: true, wantIncident: "triggered"},
		{name: "unreadable configuration is reported, not returned to Lambda", params: map[string]string{"teleport/address": ""},
			wantErrorPart: "teleport/address", wantIncident: "triggered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testenv.NewEnv(t)
			e.PD.AddService("Teleport Notifications")
			id := e.Request("alice@example.com", []string{"prod-admin"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
			if r, err := e.Poller("poller").Poll(e.Ctx); err != nil || r.AlertsCreated != 1 {
				t.Fatalf("poll = %+v, %v", r, err)
			}
			if err := e.Teleport.SetState(id, core.StateApproved, "approved in the web UI"); err != nil {
				t.Fatal(err)
			}
			prefix := e.WriteConfig(c.params, nil)
			var stdout testenv.Stdout
			a, err := app.New(app.Options{Env: config.Env{Prefix: prefix, Table: e.Table}, AWS: e.Moto.AWSConfig(), Function: "reconcile", Stdout: &stdout})
			if err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(e.Ctx, 30*time.Second)
			defer cancel()
			const lambdaID = "3c9d1e2f-0000-4000-8000-000000000006"
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: lambdaID})
			out, err := lambda.NewHandler(a.HandleReconcile).Invoke(ctx, event)
			if err != nil {
				t.Fatalf("the handler returned an error to Lambda (a retry by Lambda would not help; it must answer instead): %v", err)
			}
			var rep app.ReconcileReport
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("answer %q: %v", out, err)
			}
			r := rep.Repairs
			if rep.OK != c.wantOK || r.ResolvedMissed != c.wantResolved || (r.Remaining > 0) != c.wantRemaining || r.Errors != 0 {
				t.Fatalf("answer = %s", out)
			}
			if c.wantErrorPart != "" && !strings.Contains(rep.Error, prefix+c.wantErrorPart) {
				t.Errorf("error %q does not name %s%s", rep.Error, prefix, c.wantErrorPart)
			}
			if in, ok := e.PD.IncidentByKey(core.DedupKey(id)); !ok || in.Status != c.wantIncident {
				t.Errorf("incident = %+v, want status %s", in, c.wantIncident)
			}

			emf, logs := records(t, &stdout)
			repairs, ok := metric(emf, "Repairs")
			backlog, _ := metric(emf, "Backlog")
			switch {
			case !ok:
				t.Errorf("no single EMF record with Repairs: %v", emf)
			case repairs != float64(c.wantResolved) || backlog != float64(r.Remaining):
				t.Errorf("EMF Repairs=%v Backlog=%v, want %d and %d", repairs, backlog, c.wantResolved, r.Remaining)
			}
			for _, rec := range emf {
				if rec["Function"] != "reconcile" {
					t.Errorf("EMF record without Function=reconcile: %v", rec)
				}
			}
			if !c.wantOK {
				if errs, ok := metric(emf, "Errors"); !ok || errs != 1 {
					t.Errorf("want one Errors record for the failed run: %v", emf)
				}
			}

			var finished map[string]any
			for _, rec := range logs {
				if rec["lambda_request_id"] != lambdaID {
					t.Errorf("log line without the Lambda request ID: %v", rec)
				}
				if rec["msg"] == "reconcile finished" {
					finished = rec
				}
			}
			if c.wantOK {
				// The closing line says what was done and how much is left.
				if finished == nil || finished["resolved_missed"] != float64(c.wantResolved) || finished["remaining"] != float64(r.Remaining) {
					t.Errorf("reconcile finished line = %v, want resolved_missed=%d remaining=%d", finished, c.wantResolved, r.Remaining)
				}
			}
		})
	}
}
