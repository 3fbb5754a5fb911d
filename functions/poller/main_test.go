package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/oncallgate/oncallgate/internal/app"
	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestHandlePollAnswersTheScheduleEvent feeds the sample EventBridge event
// through aws-lambda-go's handler adapter to the handler main.go starts,
// with an App reading its configuration from SSM and Secrets Manager in
// moto and talking to the Teleport and PagerDuty sandboxes.
func TestHandlePollAnswersTheScheduleEvent(t *testing.T) {
	event, err := os.ReadFile("../../events/poller-schedule.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		// params override the configuration testenv writes ("" deletes).
		params        map[string]string
		wantOK        bool
		wantErrorPart string // after the prefix
		wantCreated   int
		wantSucceeded float64
	}{
		{name: "pending request gets its incident", wantOK: true, wantCreated: 1, wantSucceeded: 1},
		{name: "missing teleport address is reported, not crashed on", params: map[string]string{"teleport/address": ""},
			wantErrorPart: "teleport/address", wantSucceeded: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testenv.NewEnv(t)
			notify := e.PD.AddService("Teleport Notifications")
			id := e.Request("alice@example.com", []string{"prod-admin"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
			prefix := e.WriteConfig(c.params, nil)
			var stdout testenv.Stdout
			a, err := app.New(app.Options{Env: config.Env{Prefix: prefix, Table: e.Table}, AWS: e.Moto.AWSConfig(), Function: "poller", Stdout: &stdout})
			if err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(e.Ctx, 30*time.Second)
			defer cancel()
			const lambdaID = "7f1c2a9e-0000-4000-8000-000000000001"
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: lambdaID})
			out, err := lambda.NewHandler(a.HandlePoll).Invoke(ctx, event)
			if err != nil {
				t.Fatalf("the handler returned an error to Lambda (it must answer instead): %v", err)
			}
			var rep app.PollReport
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("answer %q: %v", out, err)
			}
			if rep.OK != c.wantOK || rep.Result.AlertsCreated != c.wantCreated {
				t.Fatalf("answer = %s", out)
			}
			if c.wantErrorPart != "" && !strings.Contains(rep.Error, prefix+c.wantErrorPart) {
				t.Errorf("error %q does not name %s%s", rep.Error, prefix, c.wantErrorPart)
			}
			if c.wantOK && (rep.Error != "" || rep.Result.Pending != 1 || rep.Result.Errors != 0) {
				t.Errorf("answer = %s", out)
			}

			in, found := e.PD.IncidentByKey(core.DedupKey(id))
			switch {
			case c.wantCreated == 0 && (found || len(e.PD.Incidents()) != 0):
				t.Errorf("incidents were created: %+v", e.PD.Incidents())
			case c.wantCreated == 1 && !found:
				t.Errorf("no incident with key %s", core.DedupKey(id))
			case c.wantCreated == 1 && (in.ServiceID != notify.ID || in.Title != "Access request from alice@example.com"):
				t.Errorf("incident = %+v", in)
			}

			lines := stdout.Lines()
			var succeeded []float64
			for _, rec := range testenv.EMF(lines) {
				if v, ok := rec["PollSucceeded"].(float64); ok {
					succeeded = append(succeeded, v)
					if rec["Function"] != "poller" {
						t.Errorf("EMF record without Function=poller: %v", rec)
					}
				}
			}
			for _, rec := range testenv.EMF(lines) {
				if _, ok := rec["WatchChanges"]; ok {
					t.Errorf("WatchChanges emitted with the watch window off: %v", rec)
				}
			}
			if len(succeeded) != 1 || succeeded[0] != c.wantSucceeded {
				t.Errorf("PollSucceeded records = %v, want one of %v\n%s", succeeded, c.wantSucceeded, bytes.Join(lines, []byte("\n")))
			}
			logged := false
			for _, line := range lines {
				var rec map[string]any
				if json.Unmarshal(line, &rec) == nil && rec["msg"] != nil {
					logged = true
					if rec["lambda_request_id"] != lambdaID {
						t.Errorf("log line without the Lambda request ID: %s", line)
					}
				}
			}
			if !logged {
				t.Error("the handler logged nothing")
			}
		})
	}
}

// TestHandlePollWithWatchWindow runs the handler with poller/watch_window
// set: a request made while it runs gets its incident from the watcher, and
// the run reports (and emits) what the window handled.
func TestHandlePollWithWatchWindow(t *testing.T) {
	e := testenv.NewEnv(t)
	e.PD.AddService("Teleport Notifications")
	prefix := e.WriteConfig(map[string]string{"poller/watch_window": "4s"}, nil)
	var stdout testenv.Stdout
	a, err := app.New(app.Options{Env: config.Env{Prefix: prefix, Table: e.Table}, AWS: e.Moto.AWSConfig(), Function: "poller", Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.Ctx, 30*time.Second)
	defer cancel()
	done := make(chan app.PollReport, 1)
	go func() {
		rep, _ := a.HandlePoll(ctx, events.EventBridgeEvent{})
		done <- rep
	}()
	// The window begins once the listing pass is done.
	for !bytes.Contains(bytes.Join(stdout.Lines(), nil), []byte(`"msg":"watching access requests"`)) {
		select {
		case rep := <-done:
			t.Fatalf("the run ended without a watch window: %+v", rep)
		case <-time.After(20 * time.Millisecond):
		}
	}
	id := e.Request("alice@example.com", []string{"dev"}, map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}})
	rep := <-done
	if !rep.OK || rep.Result.Pending != 0 || rep.Result.AlertsCreated != 1 || rep.Result.Changes < 1 {
		t.Fatalf("report = %+v", rep)
	}
	if _, ok := e.PD.IncidentByKey(core.DedupKey(id)); !ok {
		t.Fatal("no incident for the request made during the window")
	}
	var changes []float64
	for _, rec := range testenv.EMF(stdout.Lines()) {
		if v, ok := rec["WatchChanges"].(float64); ok {
			changes = append(changes, v)
		}
	}
	if len(changes) != 1 || changes[0] < 1 {
		t.Fatalf("WatchChanges records = %v, want one of at least 1", changes)
	}
}
