package lambdart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/lambdart"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// binDir holds the functions built for this test binary (see TestMain).
var binDir string

var (
	buildMu sync.Mutex
	built   = map[string]error{}
)

// moduleRoot is the repository root, seen from this package's directory.
const moduleRoot = "../.."

// functionTimeout is the timeout the functions get, well above what they
// need against loopback sandboxes.
const functionTimeout = 30 * time.Second

// binary builds functions/<name> for the host once per test binary and
// returns the path of its bootstrap.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	out := filepath.Join(binDir, name, "bootstrap")
	err, done := built[name]
	if !done {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		err = lambdart.Build(ctx, moduleRoot, "./functions/"+name, out)
		built[name] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sampleEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// functionEnv is the environment a function gets against the Env with the
// configuration under prefix: exactly the Lambda environment oncallgate
// gets (prefix and table), plus the AWS SDK's own variables pointing it at
// moto with dummy credentials.
func functionEnv(e *testenv.Env, prefix string) []string {
	return []string{
		"ONCALLGATE_SSM_PREFIX=" + prefix,
		"ONCALLGATE_TABLE=" + e.Table,
		"AWS_ENDPOINT_URL=" + e.Moto.Endpoint,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=" + testenv.Region,
	}
}

// runFunction starts functions/<name> against the Env with the
// configuration under prefix (see functionEnv).
func runFunction(t *testing.T, e *testenv.Env, name, prefix string) *lambdart.Server {
	t.Helper()
	bin := binary(t, name)
	s, err := lambdart.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(bin, functionEnv(e, prefix)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, s.Logs())
		}
	})
	return s
}

// invoke delivers event and fails the test unless the function answered.
func invoke(t *testing.T, s *lambdart.Server, event []byte) lambdart.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), functionTimeout+10*time.Second)
	defer cancel()
	res, err := s.Invoke(ctx, event, functionTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil {
		t.Fatalf("function failed: %v\nlogs:\n%s", res.Error, res.Logs)
	}
	return res
}

// pollReport is the part of app.PollReport and app.ReconcileReport the
// tests read, decoded from the wire as Lambda returns it.
type pollReport struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Result struct {
		Pending       int `json:"pending"`
		AlertsCreated int `json:"alerts_created"`
		Errors        int `json:"errors"`
	} `json:"result"`
	Repairs struct {
		Checked int `json:"checked"`
		Created int `json:"created"`
		Errors  int `json:"errors"`
	} `json:"repairs"`
}

func decodeReport(t testing.TB, res lambdart.Result) pollReport {
	t.Helper()
	var r pollReport
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatalf("answer %q: %v", res.Payload, err)
	}
	return r
}

// emfLine reports whether logs hold an EMF record with metric=value.
func emfLine(logs []byte, metric string, value float64) bool {
	for _, line := range bytes.Split(logs, []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil || rec["_aws"] == nil {
			continue
		}
		if v, ok := rec[metric].(float64); ok && v == value {
			return true
		}
	}
	return false
}

var notifyAnnotations = map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}}

func TestPollerBinaryOpensTheIncidentOfAPendingRequest(t *testing.T) {
	e := testenv.NewEnv(t)
	notify := e.PD.AddService("Teleport Notifications")
	id := e.Request("alice@example.com", []string{"prod-admin"}, notifyAnnotations)
	s := runFunction(t, e, "poller", e.WriteConfig(nil, nil))
	event := sampleEvent(t, "poller-schedule.json")

	// Cold, then warm: the second run finds nothing new to do.
	for i, wantCreated := range []int{1, 0} {
		res := invoke(t, s, event)
		t.Logf("poller run %d (%s) took %s", i, map[int]string{0: "cold, creates the incident", 1: "warm, steady state"}[i], res.Duration)
		rep := decodeReport(t, res)
		if !rep.OK || rep.Result.Pending != 1 || rep.Result.AlertsCreated != wantCreated || rep.Result.Errors != 0 {
			t.Fatalf("run %d answered %s", i, res.Payload)
		}
		if !emfLine(res.Logs, "PollSucceeded", 1) {
			t.Errorf("run %d logs lack PollSucceeded=1:\n%s", i, res.Logs)
		}
	}
	in, ok := e.PD.IncidentByKey(core.DedupKey(id))
	if !ok {
		t.Fatalf("no incident for request %s", id)
	}
	if in.ServiceID != notify.ID || in.Title != "Access request from alice@example.com" || in.CreatedBy != testenv.FromEmail {
		t.Errorf("incident = %+v", in)
	}
	if n := len(e.PD.Incidents()); n != 1 {
		t.Errorf("%d incidents, want 1", n)
	}
}

func TestPollerBinaryReportsABrokenConfiguration(t *testing.T) {
	e := testenv.NewEnv(t)
	e.Request("alice@example.com", []string{"prod-admin"}, notifyAnnotations)
	prefix := e.WriteConfig(map[string]string{"teleport/address": ""}, nil)
	s := runFunction(t, e, "poller", prefix)

	res := invoke(t, s, sampleEvent(t, "poller-schedule.json"))
	rep := decodeReport(t, res)
	if rep.OK || !strings.Contains(rep.Error, prefix+"teleport/address") {
		t.Fatalf("answer = %s, want ok=false naming %steleport/address", res.Payload, prefix)
	}
	if !emfLine(res.Logs, "PollSucceeded", 0) {
		t.Errorf("logs lack PollSucceeded=0:\n%s", res.Logs)
	}
	if len(e.PD.Incidents()) != 0 {
		t.Errorf("incidents were created without a configuration")
	}
	if exited, err := s.Exited(); exited {
		t.Fatalf("the poller crashed: %v", err)
	}
}

func TestReconcileBinaryAnswersItsSchedule(t *testing.T) {
	e := testenv.NewEnv(t)
	e.PD.AddService("Teleport Notifications")
	id := e.Request("alice@example.com", []string{"prod-admin"}, notifyAnnotations)
	s := runFunction(t, e, "reconcile", e.WriteConfig(nil, nil))

	res := invoke(t, s, sampleEvent(t, "reconcile-schedule.json"))
	rep := decodeReport(t, res)
	if !rep.OK || rep.Repairs.Errors != 0 {
		t.Fatalf("answer = %s", res.Payload)
	}
	// Reconcile ends with a poll: the request without an alert gets one.
	if _, ok := e.PD.IncidentByKey(core.DedupKey(id)); !ok {
		t.Errorf("no incident for request %s after reconcile; answer %s", id, res.Payload)
	}
}

func TestWebhookBinaryAnswersFunctionURLRequests(t *testing.T) {
	e := testenv.NewEnv(t)
	e.PD.AddService("Teleport Notifications")
	prefix := e.WriteConfig(nil, map[string]string{"pagerduty_webhook_secret": "example-webhook-secret"})
	s := runFunction(t, e, "webhook", prefix)

	approve := sampleEvent(t, "webhook-pagerduty-approve.json")
	var health events.LambdaFunctionURLRequest
	if err := json.Unmarshal(approve, &health); err != nil {
		t.Fatal(err)
	}
	health.RawPath, health.RawQueryString, health.QueryStringParameters, health.Body = "/healthz", "", nil, ""
	health.RequestContext.HTTP.Method, health.RequestContext.HTTP.Path = http.MethodGet, "/healthz"
	healthEvent, _ := json.Marshal(health)
	wrongSecret := bytes.Replace(approve, []byte(`"x-oncallgate-secret": "example-webhook-secret"`), []byte(`"x-oncallgate-secret": "guessed"`), 1)

	cases := []struct {
		name       string
		event      []byte
		wantStatus int
		wantBody   string // the JSON "status" field
	}{
		{"health check", healthEvent, http.StatusOK, "ok"},
		{"approve for an alert oncallgate never opened", approve, http.StatusNotFound, core.OutcomeRefused},
		{"wrong shared secret", wrongSecret, http.StatusUnauthorized, core.OutcomeRefused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := invoke(t, s, c.event)
			if res.HTTP == nil {
				t.Fatalf("not a streamed function URL response: %q", res.Payload)
			}
			var body struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(res.HTTP.Body, &body); err != nil {
				t.Fatalf("body %q: %v", res.HTTP.Body, err)
			}
			if res.HTTP.StatusCode != c.wantStatus || body.Status != c.wantBody || res.HTTP.Headers["Content-Type"] != "application/json" {
				t.Errorf("answer %d %v %s, want %d status %q", res.HTTP.StatusCode, res.HTTP.Headers, res.HTTP.Body, c.wantStatus, c.wantBody)
			}
		})
	}
}
