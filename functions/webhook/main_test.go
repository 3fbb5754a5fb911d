package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/oncallgate/oncallgate/internal/app"
	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/metrics"
	"github.com/oncallgate/oncallgate/internal/testenv"
	"github.com/oncallgate/oncallgate/internal/webhook"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The sample events carry this secret header value; the world's
// configuration uses it for both routes.
const eventSecret = "example-webhook-secret"

// Identifiers inside the sample events, replaced by the test world's.
const (
	eventIncident = "PINC001"
	eventAgent    = "PUSR002"
	eventKey      = "teleport-access-request/0f0a3c1e-1111-4c2b-9a6e-5b0c6d7e8f90"
	eventV2ID     = "bb8b8fe0-e8d5-11e6-9d7b-22000a9a0c3c"
	eventV3ID     = "01DEN3KJ9Q0G1S7T2V4W6X8Y0Z"
	eventAlertID  = "70413a06-38d6-4c85-92b8-5ebc900d42e2"
)

const bob = "bob@example.com"

// fnWorld is a deployed webhook function: an App over a configuration in
// moto (SSM + Secrets Manager) pointing at the Teleport, PagerDuty and
// Opsgenie sandboxes, behind the lambdaurl adapter main.go uses.
type fnWorld struct {
	*testenv.Env
	handler lambda.Handler
	stdout  *testenv.Stdout
	bobID   string
}

func newFnWorld(t *testing.T) *fnWorld {
	t.Helper()
	e := testenv.NewEnv(t, testenv.WithOpsgenie())
	notify := e.PD.AddService("Teleport Notifications")
	u := e.PD.AddUser(bob, "Bob")
	e.PD.AddOnCall(u.ID, notify.EscalationPolicyID, 1)
	e.OG.AddUser(bob)
	e.OG.AddSchedule("Ops Primary", bob)
	prefix := e.WriteConfig(nil, map[string]string{"pagerduty_webhook_secret": eventSecret, "opsgenie_webhook_secret": eventSecret})
	out := &testenv.Stdout{}
	a, err := app.New(app.Options{Env: config.Env{Prefix: prefix, Table: e.Table}, AWS: e.Moto.AWSConfig(), Function: "webhook", Stdout: out, Clock: e.Clock, HTTPClient: e.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	// As main.go: lambdaurl.Start(a.WebhookHandler()) is
	// lambda.StartHandlerFunc(lambdaurl.Wrap(...)); the runtime loop calls
	// the handler NewHandler builds with the raw event bytes.
	return &fnWorld{Env: e, handler: lambda.NewHandler(lambdaurl.Wrap(a.WebhookHandler())), stdout: out, bobID: u.ID}
}

// open creates a pending request notified to provider, polls, and returns
// the request ID and the alert's ID and dedup key.
func (w *fnWorld) open(t *testing.T, p core.Provider) (id, alertID, key string) {
	t.Helper()
	ann := map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}}
	if p == core.Opsgenie {
		ann = map[string][]string{"opsgenie_notify_services": {"Ops Primary"}}
	}
	id = w.Request("alice@example.com", []string{"prod-admin"}, ann)
	if _, err := w.Poller("poller").Poll(w.Ctx); err != nil {
		t.Fatalf("poll: %v", err)
	}
	key = core.DedupKey(id)
	if p == core.PagerDuty {
		in, ok := w.PD.IncidentByKey(key)
		if !ok {
			t.Fatalf("no incident with key %s", key)
		}
		return id, in.ID, key
	}
	al, ok := w.OG.AlertByAlias(key)
	if !ok {
		t.Fatalf("no alert with alias %s", key)
	}
	return id, al.ID, key
}

// event reads a sample event from events/ and rewrites its body's
// identifiers (old → new pairs); headers, when set, replace header values.
func event(t *testing.T, name string, headers map[string]string, replace ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ev["body"] = strings.NewReplacer(replace...).Replace(ev["body"].(string))
	hdr := ev["headers"].(map[string]any)
	for k, v := range headers {
		hdr[k] = v
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// answer is the function URL's response, decoded from the streaming
// integration format (JSON prelude, eight NUL bytes, body).
type answer struct {
	Status  int               `json:"statusCode"`
	Headers map[string]string `json:"headers"`
	Body    webhook.Response  `json:"-"`
}

func (w *fnWorld) invoke(t *testing.T, lambdaID string, payload []byte) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(w.Ctx, 15*time.Second)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: lambdaID})
	out, err := w.handler.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("the function returned an error to Lambda: %v", err)
	}
	prelude, body, ok := bytes.Cut(out, make([]byte, 8))
	if !ok {
		t.Fatalf("response %q is not in the streaming integration format", out)
	}
	var a answer
	if err := json.Unmarshal(prelude, &a); err != nil {
		t.Fatalf("prelude %q: %v", prelude, err)
	}
	if err := json.Unmarshal(body, &a.Body); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return a
}

func TestWebhookFunctionAnswersTheSampleEvents(t *testing.T) {
	w := newFnWorld(t)
	tests := []struct {
		name     string
		file     string
		provider core.Provider
		headers  map[string]string
		// replay sends the event a second time.
		replay     bool
		wantStatus int
		wantBody   string
		wantReview core.State // "" for none
		wantNote   string
	}{
		{name: "pagerduty approve (messages payload)", file: "webhook-pagerduty-approve.json", provider: core.PagerDuty,
			wantStatus: http.StatusOK, wantBody: core.OutcomeAccepted, wantReview: core.StateApproved,
			wantNote: "bob@example.com submitted an APPROVED review through the Approve action."},
		{name: "pagerduty deny (v3 event payload)", file: "webhook-pagerduty-deny.json", provider: core.PagerDuty,
			wantStatus: http.StatusOK, wantBody: core.OutcomeAccepted, wantReview: core.StateDenied,
			wantNote: "bob@example.com submitted a DENIED review through the Deny action."},
		{name: "opsgenie approve", file: "webhook-opsgenie-approve.json", provider: core.Opsgenie,
			wantStatus: http.StatusOK, wantBody: core.OutcomeAccepted, wantReview: core.StateApproved,
			wantNote: "bob@example.com submitted an APPROVED review through the Approve action."},
		{name: "opsgenie deny", file: "webhook-opsgenie-deny.json", provider: core.Opsgenie,
			wantStatus: http.StatusOK, wantBody: core.OutcomeAccepted, wantReview: core.StateDenied,
			wantNote: "bob@example.com submitted a DENIED review through the Deny action."},
		{name: "pagerduty approve delivered twice", file: "webhook-pagerduty-approve.json", provider: core.PagerDuty, replay: true,
			wantStatus: http.StatusOK, wantBody: core.OutcomeDuplicate, wantReview: core.StateApproved},
		{name: "pagerduty event with a wrong secret", file: "webhook-pagerduty-approve.json", provider: core.PagerDuty,
			headers: map[string]string{"x-oncallgate-secret": "not-the-secret"}, wantStatus: http.StatusUnauthorized, wantBody: core.OutcomeRefused},
		{name: "opsgenie event with an empty secret header", file: "webhook-opsgenie-approve.json", provider: core.Opsgenie,
			headers: map[string]string{"x-oncallgate-secret": ""}, wantStatus: http.StatusUnauthorized, wantBody: core.OutcomeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, alertID, key := w.open(t, tt.provider)
			delivery := testenv.RandomName()
			payload := event(t, tt.file, tt.headers,
				eventV2ID, delivery, eventV3ID, delivery, eventIncident, alertID, eventAlertID, alertID,
				eventKey, key, eventAgent, w.bobID)
			lambdaID := "lambda-" + testenv.RandomName()
			got := w.invoke(t, lambdaID, payload)
			if tt.replay {
				if first := got; first.Status != http.StatusOK || first.Body.Status != core.OutcomeAccepted {
					t.Fatalf("first delivery = %d %+v", first.Status, first.Body)
				}
				got = w.invoke(t, lambdaID+"-retry", payload)
			}
			if got.Status != tt.wantStatus || got.Body.Status != tt.wantBody {
				t.Fatalf("answer = %d %+v, want %d %s", got.Status, got.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := got.Headers["Content-Type"]; ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}

			reviews := w.Teleport.Reviews(id)
			if tt.wantReview == "" {
				req, _ := w.Teleport.Request(id)
				if len(reviews) != 0 || !req.GetState().IsPending() {
					t.Fatalf("a refused event changed Teleport: reviews %+v, state %s", reviews, req.GetState())
				}
			} else {
				if len(reviews) != 1 || reviews[0].Proposed != tt.wantReview || reviews[0].Delegator != string(tt.provider)+":"+bob {
					t.Fatalf("reviews = %+v, want one %s delegated to %s:%s", reviews, tt.wantReview, tt.provider, bob)
				}
			}
			if tt.wantNote != "" {
				var notes []string
				if tt.provider == core.PagerDuty {
					for _, n := range w.PD.Notes(alertID) {
						notes = append(notes, n.Content)
					}
				} else {
					for _, n := range w.OG.Notes(alertID) {
						notes = append(notes, n.Note)
					}
				}
				if len(notes) != 1 || notes[0] != tt.wantNote {
					t.Errorf("notes = %q, want [%q]", notes, tt.wantNote)
				}
			}
			logs := w.stdout.String()
			if !strings.Contains(logs, `"lambda_request_id":"`+lambdaID) {
				t.Errorf("no log line carries the invocation's request ID %s", lambdaID)
			}
			if strings.Contains(logs, eventSecret) || strings.Contains(logs, "not-the-secret") {
				t.Error("a webhook secret appears in the function's output")
			}
		})
	}
	out := w.stdout.String()
	for _, m := range []string{metrics.WebhookDecisions, metrics.WebhookRefusals} {
		if !strings.Contains(out, `"`+m+`"`) {
			t.Errorf("no EMF record of %s in the function's output", m)
		}
	}
}

func TestWebhookFunctionRoutes(t *testing.T) {
	w := newFnWorld(t)
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"health check", http.MethodGet, "/healthz", http.StatusOK},
		{"unknown route", http.MethodPost, "/nope", http.StatusNotFound},
		{"GET on an action route", http.MethodGet, "/opsgenie", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile("../../events/webhook-opsgenie-approve.json")
			if err != nil {
				t.Fatal(err)
			}
			var ev map[string]any
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			ev["rawPath"] = tt.path
			ev["requestContext"].(map[string]any)["http"].(map[string]any)["method"] = tt.method
			ev["requestContext"].(map[string]any)["http"].(map[string]any)["path"] = tt.path
			payload, _ := json.Marshal(ev)
			if got := w.invoke(t, "lambda-"+testenv.RandomName(), payload); got.Status != tt.want {
				t.Fatalf("%s %s = %d %+v, want %d", tt.method, tt.path, got.Status, got.Body, tt.want)
			}
		})
	}
}
