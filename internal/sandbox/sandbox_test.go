package sandbox_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/sandbox"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestWorldRunsTheRealApp builds the world over the shared moto_server and
// checks that the app, configured only through SSM and Secrets Manager,
// routes, approves and resolves as the world's seeding promises.
func TestWorldRunsTheRealApp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := sandbox.Start(ctx, sandbox.Options{Moto: testenv.StartMoto(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var logs bytes.Buffer
	a, err := w.NewApp(&logs)
	if err != nil {
		t.Fatal(err)
	}
	poll := func() {
		t.Helper()
		rep, _ := a.HandlePoll(ctx, events.EventBridgeEvent{})
		if !rep.OK || rep.Result.Errors != 0 {
			t.Fatalf("poll: %+v\n%s", rep, logs.String())
		}
	}

	tests := []struct {
		name, user, role string
		approved         bool
		opsgenie         bool
	}{
		{name: "someone not on call waits for a person", user: sandbox.Carol, role: "prod-readonly"},
		{name: "the on-call responder with an active incident is approved", user: sandbox.Alice, role: "prod-admin", approved: true},
		{name: "db-admin also alerts the opsgenie schedule", user: sandbox.Dave, role: "db-admin", opsgenie: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := w.Request(tt.user, "testing", tt.role)
			if err != nil {
				t.Fatal(err)
			}
			poll()
			in, ok := w.Incident(id)
			if !ok || in.ServiceID != w.Services[sandbox.NotifyService].ID || in.Title != "Access request from "+tt.user {
				t.Fatalf("incident = %+v, %v", in, ok)
			}
			if !strings.Contains(in.Details, "https://"+sandbox.ProxyWebAddress+"/web/requests/"+id) {
				t.Errorf("incident body lacks the request link: %q", in.Details)
			}
			reviews := w.Teleport.Reviews(id)
			if got := len(reviews) == 1 && reviews[0].Proposed == core.StateApproved; got != tt.approved {
				t.Errorf("approved = %v, want %v (reviews %+v)", got, tt.approved, reviews)
			}
			if _, ok := w.Alert(id); ok != tt.opsgenie {
				t.Errorf("opsgenie alert present = %v, want %v", ok, tt.opsgenie)
			}
		})
	}
}

func TestPressPagerDutyActionReachesTheWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := sandbox.Start(ctx, sandbox.Options{Moto: testenv.StartMoto(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a, err := w.NewApp(&bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.WebhookHandler())
	defer srv.Close()
	id, err := w.Request(sandbox.Dave, "testing", "prod-readonly")
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := a.HandlePoll(ctx, events.EventBridgeEvent{}); !rep.OK {
		t.Fatalf("poll: %+v", rep)
	}
	in, _ := w.Incident(id)

	tests := []struct {
		name, actor string
		approve     bool
		status      int
		answer      string
	}{
		{"a responder not on call is refused", sandbox.Carol, true, 403, `"refused"`},
		{"the on-call responder denies", sandbox.Bob, false, 200, `"accepted"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := w.PressPagerDutyAction(ctx, srv.Client(), srv.URL, in.ID, tt.actor, tt.approve)
			if err != nil || status != tt.status || !strings.Contains(body, tt.answer) {
				t.Fatalf("answer %d %s %v, want %d %s", status, body, err, tt.status, tt.answer)
			}
		})
	}
	reviews := w.Teleport.Reviews(id)
	if len(reviews) != 1 || reviews[0].Proposed != core.StateDenied || reviews[0].Delegator != "pagerduty:"+sandbox.Bob {
		t.Errorf("reviews = %+v", reviews)
	}
}
