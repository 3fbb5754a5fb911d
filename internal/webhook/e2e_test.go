package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gravitational/trace"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/testenv"
	"github.com/oncallgate/oncallgate/internal/webhook"
)

// channel is one way a responder's press reaches the webhook.
type channel struct {
	name     string
	provider core.Provider
	secrets  webhook.Secrets
	// press is bob's press of Approve (approve=true) or Deny on alert a,
	// as delivery id.
	press func(t *testing.T, w *world, a alert, approve bool, id string) delivery
	// via is how the review reason names the channel.
	via string
}

var channels = []channel{
	{name: "pagerduty custom action (messages payload)", provider: core.PagerDuty, via: "via PagerDuty incident action",
		press: func(t *testing.T, w *world, a alert, approve bool, id string) delivery {
			return pdDelivery(approve, pdV2(t, id, a, w.pdBob.ID))
		}},
	{name: "pagerduty v3 event with a valid signature", provider: core.PagerDuty, secrets: signedSecrets(), via: "via PagerDuty incident action",
		press: func(t *testing.T, w *world, a alert, approve bool, id string) delivery {
			return signed(pdDelivery(approve, pdV3(t, id, a, w.pdBob.ID)), signingSecret)
		}},
	{name: "opsgenie alert action", provider: core.Opsgenie, via: "via Opsgenie alert action",
		press: func(t *testing.T, w *world, a alert, approve bool, _ string) delivery {
			return ogDelivery(core.Opsgenie, og(t, verb(approve), a, bob))
		}},
	{name: "jsm alert action", provider: core.JSM, via: "via Jira Service Management alert action",
		press: func(t *testing.T, w *world, a alert, approve bool, _ string) delivery {
			return ogDelivery(core.JSM, og(t, verb(approve), a, bob))
		}},
}

func verb(approve bool) string {
	if approve {
		return "Approve"
	}
	return "Deny"
}

func TestOnCallResponderApprovesOrDeniesThroughEachChannel(t *testing.T) {
	w := newWorld(t)
	for _, ch := range channels {
		for _, approve := range []bool{true, false} {
			t.Run(ch.name+"/"+strings.ToLower(verb(approve)), func(t *testing.T) {
				w.configure(core.WebhookSettings{RequireOnCall: true}, ch.secrets)
				id, a := w.open(t, ch.provider, alice)
				want, note, resolution := core.StateDenied, "bob@example.com submitted a DENIED review through the Deny action.", "Access request has been denied"
				if approve {
					want, note, resolution = core.StateApproved, "bob@example.com submitted an APPROVED review through the Approve action.", "Access request has been approved"
				}

				status, resp := w.send(t, ch.press(t, w, a, approve, testenv.RandomName()))
				if status != http.StatusOK || resp.Status != core.OutcomeAccepted {
					t.Fatalf("answer = %d %+v, want 200 accepted", status, resp)
				}
				reviews := w.Teleport.Reviews(id)
				if len(reviews) != 1 {
					t.Fatalf("Teleport holds %d reviews, want 1: %+v", len(reviews), reviews)
				}
				r := reviews[0]
				wantReason := map[core.State]string{core.StateApproved: "Approved", core.StateDenied: "Denied"}[want] + " by " + bob + " " + ch.via
				switch {
				case r.Author != testenv.PluginUser:
					t.Errorf("review author = %q, want the plugin user", r.Author)
				case r.Proposed != want:
					t.Errorf("review proposes %s, want %s", r.Proposed, want)
				case r.Delegator != string(ch.provider)+":"+bob:
					t.Errorf("delegator = %q, want %q", r.Delegator, string(ch.provider)+":"+bob)
				case r.Reason != wantReason:
					t.Errorf("review reason = %q, want %q", r.Reason, wantReason)
				}
				if req, _ := w.Teleport.Request(id); req.GetState().String() != string(want) {
					t.Errorf("request state = %s, want %s", req.GetState(), want)
				}
				if notes := w.notes(a); count(notes, note) != 1 {
					t.Errorf("want exactly one note %q on the alert, got:\n%s", note, strings.Join(notes, "\n---\n"))
				}

				if r := w.poll(t); r.AlertsResolved != 1 {
					t.Fatalf("next poll = %+v, want the alert resolved", r)
				}
				if !w.resolved(t, a) {
					t.Fatal("the alert is still open after the poll")
				}
				containsAll(t, "alert notes", w.notes(a), resolution, "Reason: "+wantReason)
			})
		}
	}
}

func TestRefusalsChangeNothingInTeleport(t *testing.T) {
	type press func(t *testing.T, w *world, a alert) delivery
	pdBy := func(agent func(w *world) string) press {
		return func(t *testing.T, w *world, a alert) delivery {
			return pdDelivery(true, pdV2(t, testenv.RandomName(), a, agent(w)))
		}
	}
	bobPD := pdBy(func(w *world) string { return w.pdBob.ID })
	ogBy := func(p core.Provider, username string) press {
		return func(t *testing.T, w *world, a alert) delivery { return ogDelivery(p, og(t, "Approve", a, username)) }
	}
	withHeader := func(p press, name, value string) press {
		return func(t *testing.T, w *world, a alert) delivery {
			d := p(t, w, a)
			if value == "" {
				delete(d.headers, name)
			} else {
				d.headers[name] = value
			}
			return d
		}
	}
	v3 := func(t *testing.T, w *world, a alert) delivery {
		return pdDelivery(true, pdV3(t, testenv.RandomName(), a, w.pdBob.ID))
	}
	// other points a press at an alert the request does not have.
	other := func(p press, change func(t *testing.T, w *world, a alert) alert) press {
		return func(t *testing.T, w *world, a alert) delivery { return p(t, w, change(t, w, a)) }
	}
	unknownRequest := func(_ *testing.T, _ *world, a alert) alert {
		return alert{provider: a.provider, id: "PNOSUCH", key: core.DedupKey("5d4e3c2b-0000-4000-8000-000000000000")}
	}

	tests := []struct {
		name      string
		provider  core.Provider
		requester string
		settings  *core.WebhookSettings
		secrets   webhook.Secrets
		before    func(t *testing.T, w *world, id string)
		press     press
		status    int
		// state is what Teleport must still say ("" = PENDING, "gone").
		state core.State
		// note is the refusal note the alert must get ("" = no note).
		note string
		// log must appear in the handler's log.
		log string
	}{
		{name: "missing secret header", provider: core.PagerDuty, press: withHeader(bobPD, webhook.SecretHeader, ""),
			status: http.StatusUnauthorized, log: `"error":"unauthenticated"`},
		{name: "wrong secret", provider: core.PagerDuty, press: withHeader(bobPD, webhook.SecretHeader, "wrong-secret-value"),
			status: http.StatusUnauthorized, log: `"error":"unauthenticated"`},
		{name: "another route's secret", provider: core.Opsgenie, press: withHeader(ogBy(core.Opsgenie, bob), webhook.SecretHeader, pdSecret),
			status: http.StatusUnauthorized, log: `"error":"unauthenticated"`},
		{name: "bad signature", provider: core.PagerDuty, secrets: signedSecrets(),
			press: func(t *testing.T, w *world, a alert) delivery {
				return signed(v3(t, w, a), "not-the-signing-secret")
			}, status: http.StatusUnauthorized, log: `"error":"bad signature"`},
		{name: "signature of another body", provider: core.PagerDuty, secrets: signedSecrets(),
			press: func(t *testing.T, w *world, a alert) delivery {
				d := v3(t, w, a)
				d.headers[webhook.SignatureHeader] = sign(signingSecret, []byte(`{"event":{}}`))
				return d
			}, status: http.StatusUnauthorized, log: `"error":"bad signature"`},
		{name: "signature required but absent", provider: core.PagerDuty, secrets: signedSecrets(), press: v3,
			status: http.StatusUnauthorized, log: `"error":"bad signature"`},
		{name: "body over 64 KiB", provider: core.PagerDuty,
			press: func(t *testing.T, w *world, a alert) delivery {
				d := bobPD(t, w, a)
				d.body = append(d.body, strings.Repeat(" ", webhook.MaxBody+1-len(d.body))...)
				return d
			}, status: http.StatusRequestEntityTooLarge, log: `"error":"body too large"`},
		{name: "malformed JSON", provider: core.PagerDuty,
			press: func(t *testing.T, w *world, a alert) delivery {
				d := bobPD(t, w, a)
				d.body = d.body[:len(d.body)/2]
				return d
			}, status: http.StatusBadRequest, log: `"error":"malformed payload`},
		{name: "pagerduty action URL without approve or deny", provider: core.PagerDuty,
			press: func(t *testing.T, w *world, a alert) delivery {
				d := bobPD(t, w, a)
				d.path = "/pagerduty"
				return d
			}, status: http.StatusBadRequest, log: `"status":400`},
		{name: "unknown incident", provider: core.PagerDuty, press: other(bobPD, unknownRequest),
			status: http.StatusNotFound, log: `"refusal":"unknown_alert"`},
		{name: "unknown incident without incident key", provider: core.PagerDuty,
			press:  other(bobPD, func(_ *testing.T, _ *world, a alert) alert { return alert{provider: a.provider, id: "PNOSUCH"} }),
			status: http.StatusNotFound, log: `"refusal":"unknown_alert"`},
		{name: "incident oncallgate did not open", provider: core.PagerDuty,
			press: other(bobPD, func(_ *testing.T, w *world, a alert) alert {
				in := w.PD.AddIncident(w.notify.ID, w.pdBob.ID, "triggered", pagerdutytest.WithKey("disk-full/db-1"))
				return alert{provider: a.provider, id: in.ID}
			}),
			status: http.StatusNotFound, log: `"refusal":"unknown_alert"`},
		{name: "incident of another request", provider: core.PagerDuty,
			press: other(bobPD, func(t *testing.T, w *world, a alert) alert {
				_, b := w.open(t, core.PagerDuty, alice)
				return alert{provider: a.provider, id: b.id, key: a.key}
			}),
			status: http.StatusNotFound, log: `"refusal":"unknown_alert"`},
		{name: "unknown alias", provider: core.Opsgenie, press: other(ogBy(core.Opsgenie, bob), unknownRequest),
			status: http.StatusNotFound, log: `"refusal":"unknown_alert"`},
		{name: "request already resolved", provider: core.PagerDuty,
			before: func(t *testing.T, w *world, id string) {
				if err := w.Teleport.SetState(id, core.StateDenied, "denied with tctl"); err != nil {
					t.Fatal(err)
				}
			},
			press: bobPD, status: http.StatusConflict, state: core.StateDenied,
			note: "Action Approve refused: the access request is already denied", log: `"refusal":"not_pending"`},
		{name: "request expired", provider: core.Opsgenie,
			before: func(t *testing.T, w *world, id string) {
				if err := w.Teleport.Expire(id); err != nil {
					t.Fatal(err)
				}
			},
			press: ogBy(core.Opsgenie, bob), status: http.StatusConflict, state: "gone",
			note: "Action Approve refused: the access request no longer exists", log: `"refusal":"not_pending"`},
		{name: "requester approves own request", provider: core.PagerDuty, press: pdBy(func(w *world) string { return w.pdAlice.ID }),
			status: http.StatusForbidden, note: "alice@example.com requested this access and cannot review their own request", log: `"refusal":"self_approval"`},
		{name: "requester approves own request, email in other case", provider: core.Opsgenie, press: ogBy(core.Opsgenie, "Alice@Example.com"),
			status: http.StatusForbidden, note: "alice@example.com requested this access and cannot review their own request", log: `"refusal":"self_approval"`},
		{name: "requester with capitals approves own request", provider: core.JSM, requester: "Alice@Example.COM", press: ogBy(core.JSM, alice),
			status: http.StatusForbidden, note: "alice@example.com requested this access and cannot review their own request", log: `"refusal":"self_approval"`},
		{name: "pagerduty actor not on call", provider: core.PagerDuty, press: pdBy(func(w *world) string { return w.pdC.ID }),
			status: http.StatusForbidden, note: "carol@example.com is not on call in PagerDuty service Teleport Notifications", log: `"refusal":"not_on_call"`},
		{name: "opsgenie actor not on call", provider: core.Opsgenie, press: ogBy(core.Opsgenie, carol),
			status: http.StatusForbidden, note: "carol@example.com is not on call in schedule(s) Ops Primary", log: `"refusal":"not_on_call"`},
		{name: "jsm actor not on call", provider: core.JSM, press: ogBy(core.JSM, carol),
			status: http.StatusForbidden, note: "carol@example.com is not on call in schedule(s) Ops JSM", log: `"refusal":"not_on_call"`},
		{name: "pagerduty agent unknown to pagerduty", provider: core.PagerDuty, press: pdBy(func(*world) string { return "PNOBODY" }),
			status: http.StatusForbidden, note: "the person who pressed the action could not be identified", log: `"refusal":"unknown_actor"`},
		{name: "pagerduty event without a user agent", provider: core.PagerDuty,
			press: func(t *testing.T, w *world, a alert) delivery {
				d := v3(t, w, a)
				d.body = []byte(strings.ReplaceAll(string(d.body), `"type":"user_reference"`, `"type":"service_reference"`))
				return d
			}, status: http.StatusForbidden, note: "could not be identified", log: `"refusal":"unknown_actor"`},
		{name: "opsgenie username not an email", provider: core.Opsgenie, press: ogBy(core.Opsgenie, "bob"),
			status: http.StatusForbidden, note: "the person who pressed the action could not be identified", log: `"refusal":"unknown_actor"`},
		{name: "on-call responder missing from the approver list", provider: core.PagerDuty,
			settings: &core.WebhookSettings{RequireOnCall: true, Approvers: []string{carol}}, press: bobPD,
			status: http.StatusForbidden, note: "bob@example.com is not in the approver list (webhook/approvers)", log: `"refusal":"not_an_approver"`},
		{name: "approver list does not replace the on-call rule", provider: core.Opsgenie,
			settings: &core.WebhookSettings{RequireOnCall: true, Approvers: []string{carol}}, press: ogBy(core.Opsgenie, carol),
			status: http.StatusForbidden, note: "carol@example.com is not on call in schedule(s) Ops Primary", log: `"refusal":"not_on_call"`},
	}
	w := newWorld(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings := core.WebhookSettings{RequireOnCall: true}
			if tt.settings != nil {
				settings = *tt.settings
			}
			w.configure(settings, tt.secrets)
			requester := alice
			if tt.requester != "" {
				requester = tt.requester
			}
			id, a := w.open(t, tt.provider, requester)
			if tt.before != nil {
				tt.before(t, w, id)
			}
			notesBefore := len(w.notes(a))
			w.logs.Reset()

			status, resp := w.send(t, tt.press(t, w, a))
			if status != tt.status || resp.Status != core.OutcomeRefused {
				t.Fatalf("answer = %d %+v, want %d refused", status, resp, tt.status)
			}
			if r := w.Teleport.Reviews(id); len(r) != 0 {
				t.Fatalf("Teleport recorded reviews %+v; want none", r)
			}
			req, found := w.Teleport.Request(id)
			switch tt.state {
			case "":
				if !found || !req.GetState().IsPending() {
					t.Fatalf("request should still be pending (found=%v)", found)
				}
			case "gone":
				if found {
					t.Fatal("the expired request is back")
				}
			default:
				if !found || req.GetState().String() != string(tt.state) {
					t.Fatalf("request state changed (found=%v, want %s)", found, tt.state)
				}
			}

			notes := w.notes(a)[notesBefore:]
			switch {
			case tt.note == "" && len(notes) != 0:
				t.Errorf("refusal before the alert was identified posted notes %q", notes)
			case tt.note != "" && (len(notes) != 1 || !strings.Contains(notes[0], tt.note)):
				t.Errorf("alert notes after the refusal = %q, want one containing %q", notes, tt.note)
			}
			logs := w.logs.String()
			if !strings.Contains(logs, tt.log) {
				t.Errorf("log lacks %s:\n%s", tt.log, logs)
			}
			for _, secret := range []string{pdSecret, ogSecret, jsmSecret, signingSecret, "wrong-secret-value"} {
				if strings.Contains(logs, secret) || strings.Contains(resp.Message, secret) {
					t.Errorf("a secret leaked into the log or the answer")
				}
			}
		})
	}
}

func TestReplayedDeliveryIsAnsweredAsDuplicate(t *testing.T) {
	w := newWorld(t)
	for _, ch := range channels {
		t.Run(ch.name, func(t *testing.T) {
			w.configure(core.WebhookSettings{RequireOnCall: true}, ch.secrets)
			id, a := w.open(t, ch.provider, alice)
			d := ch.press(t, w, a, true, testenv.RandomName())
			if status, resp := w.send(t, d); status != http.StatusOK || resp.Status != core.OutcomeAccepted {
				t.Fatalf("first delivery = %d %+v", status, resp)
			}
			notes := len(w.notes(a))
			for _, when := range []string{"while the request is approved", "after the poll resolved the alert"} {
				if strings.HasPrefix(when, "after") {
					w.poll(t)
					notes = len(w.notes(a))
				}
				status, resp := w.send(t, d)
				if status != http.StatusOK || resp.Status != core.OutcomeDuplicate {
					t.Fatalf("replay %s = %d %+v, want 200 duplicate", when, status, resp)
				}
				if n := len(w.Teleport.Reviews(id)); n != 1 {
					t.Fatalf("replay %s: %d reviews, want exactly 1", when, n)
				}
				if n := len(w.notes(a)); n != notes {
					t.Fatalf("replay %s added %d notes", when, n-notes)
				}
			}
		})
	}
}

// interleaved is the real Teleport adapter, except that right after the
// first GetRequest it lets another delivery run to completion: the race of
// two presses that both saw the request pending.
type interleaved struct {
	core.Teleport
	started atomic.Bool
	between func()
}

func (i *interleaved) GetRequest(ctx context.Context, id string) (core.Request, error) {
	r, err := i.Teleport.GetRequest(ctx, id)
	if i.started.CompareAndSwap(false, true) {
		i.between()
	}
	return r, err
}

func TestAlreadyReviewedIsSuccess(t *testing.T) {
	w := newWorld(t)
	settings := core.WebhookSettings{RequireOnCall: true}

	t.Run("a second delivery of the same decision", func(t *testing.T) {
		w.configure(settings, webhook.Secrets{})
		id, a := w.open(t, core.PagerDuty, alice)
		for i, d := range []delivery{
			pdDelivery(true, pdV2(t, testenv.RandomName(), a, w.pdBob.ID)),
			pdDelivery(true, pdV3(t, testenv.RandomName(), a, w.pdBob.ID)), // another delivery, another shape
		} {
			status, resp := w.send(t, d)
			if status != http.StatusOK || resp.Status != core.OutcomeAccepted {
				t.Fatalf("delivery %d = %d %+v, want 200 accepted", i+1, status, resp)
			}
		}
		if n := len(w.Teleport.Reviews(id)); n != 1 {
			t.Fatalf("%d reviews, want 1", n)
		}
		if n := count(w.notes(a), "submitted an APPROVED review"); n != 1 {
			t.Fatalf("%d review notes, want 1", n)
		}
	})

	race := []struct {
		name        string
		otherAction bool // the delivery that wins the race approves (true) or denies
		wantStatus  int
		wantOutcome string
		wantState   core.State
		wantNote    string
	}{
		{"both presses approve", true, http.StatusOK, core.OutcomeAccepted, core.StateApproved, ""},
		{"the press that won denied", false, http.StatusConflict, core.OutcomeRefused, core.StateDenied, "Action Approve refused: the access request is already denied"},
	}
	for _, tt := range race {
		t.Run("racing another delivery into Teleport: "+tt.name, func(t *testing.T) {
			var (
				win     delivery
				winner  int
				winResp webhook.Response
				winErr  error
			)
			w.configure(settings, webhook.Secrets{}, func(d *core.Decider) {
				d.Teleport = &interleaved{Teleport: d.Teleport, between: func() {
					winner, winResp, winErr = w.post(win)
				}}
			})
			id, a := w.open(t, core.PagerDuty, alice)
			win = pdDelivery(tt.otherAction, pdV2(t, testenv.RandomName(), a, w.pdBob.ID))
			status, resp := w.send(t, pdDelivery(true, pdV2(t, testenv.RandomName(), a, w.pdBob.ID)))
			if winErr != nil || winner != http.StatusOK || winResp.Status != core.OutcomeAccepted {
				t.Fatalf("the delivery that won = %d %+v %v", winner, winResp, winErr)
			}
			if status != tt.wantStatus || resp.Status != tt.wantOutcome {
				t.Fatalf("the delivery that lost = %d %+v, want %d %s", status, resp, tt.wantStatus, tt.wantOutcome)
			}
			reviews := w.Teleport.Reviews(id)
			if len(reviews) != 1 || reviews[0].Proposed != tt.wantState {
				t.Fatalf("reviews = %+v, want one %s", reviews, tt.wantState)
			}
			notes := w.notes(a)
			if tt.wantNote != "" && count(notes, tt.wantNote) != 1 {
				t.Errorf("notes lack %q:\n%s", tt.wantNote, strings.Join(notes, "\n---\n"))
			}
			if n := count(notes, "review through the"); n != 1 {
				t.Errorf("%d review notes, want the winner's only:\n%s", n, strings.Join(notes, "\n---\n"))
			}
		})
	}
}

func TestTeleportOrProviderOutageFailsClosedAndRetrySucceeds(t *testing.T) {
	tests := []struct {
		name string
		fail func(w *world)
	}{
		{"teleport down when the review is submitted", func(w *world) {
			w.Teleport.FailNext("SubmitAccessReview", trace.ConnectionProblem(nil, "auth server restarting"), 1)
		}},
		{"teleport down when the request is read", func(w *world) {
			w.Teleport.FailNext("ListAccessRequests", trace.ConnectionProblem(nil, "auth server restarting"), 1)
		}},
		{"pagerduty down when the actor is looked up", func(w *world) {
			w.PD.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.ServerError, Method: http.MethodGet, PathPrefix: "/users/"})
		}},
	}
	w := newWorld(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.configure(core.WebhookSettings{RequireOnCall: true}, webhook.Secrets{})
			id, a := w.open(t, core.PagerDuty, alice)
			deliveryID := testenv.RandomName()
			d := pdDelivery(true, pdV2(t, deliveryID, a, w.pdBob.ID))
			w.logs.Reset()
			tt.fail(w)
			status, resp := w.send(t, d)
			if status != http.StatusServiceUnavailable || resp.Status != "error" {
				t.Fatalf("answer during the outage = %d %+v, want 503 error", status, resp)
			}
			w.unchanged(t, id)
			if !strings.Contains(w.logs.String(), "nothing was changed in Teleport") {
				t.Errorf("log lacks the failure:\n%s", w.logs.String())
			}
			if seen, err := w.Store.DeliverySeen(w.Ctx, "pagerduty:"+deliveryID); err != nil || seen {
				t.Fatalf("a failed delivery must not be recorded as seen (seen=%v, err=%v)", seen, err)
			}

			status, resp = w.send(t, d) // the sender's retry
			if status != http.StatusOK || resp.Status != core.OutcomeAccepted {
				t.Fatalf("retry after recovery = %d %+v, want 200 accepted", status, resp)
			}
			if r := w.Teleport.Reviews(id); len(r) != 1 || r[0].Proposed != core.StateApproved {
				t.Fatalf("reviews after the retry = %+v", r)
			}
			if n := count(w.notes(a), "submitted an APPROVED review"); n != 1 {
				t.Fatalf("%d review notes, want 1", n)
			}
		})
	}
}

func TestConcurrentDeliveriesSubmitOneReview(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name     string
		provider core.Provider
		same     bool // one delivery sent 5 times, or 5 deliveries of one decision
	}{
		{"the same pagerduty delivery five times at once", core.PagerDuty, true},
		{"five pagerduty deliveries approving at once", core.PagerDuty, false},
		{"the same opsgenie delivery five times at once", core.Opsgenie, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.configure(core.WebhookSettings{RequireOnCall: true}, webhook.Secrets{})
			id, a := w.open(t, tt.provider, alice)
			deliveries := make([]delivery, 5)
			for i := range deliveries {
				if tt.provider == core.Opsgenie {
					deliveries[i] = ogDelivery(core.Opsgenie, og(t, "Approve", a, bob))
					continue
				}
				deliveryID := "shared-" + id
				if !tt.same {
					deliveryID = testenv.RandomName()
				}
				deliveries[i] = pdDelivery(true, pdV2(t, deliveryID, a, w.pdBob.ID))
			}
			var wg sync.WaitGroup
			answers := make([]string, len(deliveries))
			for i, d := range deliveries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, resp, err := w.post(d)
					answers[i] = fmt.Sprintf("%d %s %s %v", status, resp.Status, resp.Message, err)
					if err == nil && status == http.StatusOK && (resp.Status == core.OutcomeAccepted || resp.Status == core.OutcomeDuplicate) {
						answers[i] = "ok"
					}
				}()
			}
			wg.Wait()
			for i, ans := range answers {
				if ans != "ok" {
					t.Errorf("delivery %d answered %s, want 200 accepted or duplicate", i, ans)
				}
			}
			if r := w.Teleport.Reviews(id); len(r) != 1 || r[0].Proposed != core.StateApproved {
				t.Fatalf("reviews = %+v, want exactly one approval", r)
			}
			if n := count(w.notes(a), "review through the"); n != 1 {
				t.Fatalf("%d review notes, want 1:\n%s", n, strings.Join(w.notes(a), "\n---\n"))
			}
		})
	}
}

func TestPayloadOfExactlyMaxBodyIsRead(t *testing.T) {
	w := newWorld(t)
	id, a := w.open(t, core.PagerDuty, alice)
	d := pdDelivery(true, pdV2(t, testenv.RandomName(), a, w.pdBob.ID))
	d.body = append(d.body, strings.Repeat(" ", webhook.MaxBody-len(d.body))...)
	if status, resp := w.send(t, d); status != http.StatusOK || resp.Status != core.OutcomeAccepted {
		t.Fatalf("answer = %d %+v, want 200 accepted", status, resp)
	}
	if n := len(w.Teleport.Reviews(id)); n != 1 {
		t.Fatalf("%d reviews, want 1", n)
	}
}

// TestInstalledPagerDutyActionsReachTheHandler installs the custom incident
// actions with the operator's adapter call, then presses them the way
// PagerDuty does: POST to the installed URL with the installed headers.
func TestInstalledPagerDutyActionsReachTheHandler(t *testing.T) {
	w := newWorld(t)
	created, _, _, err := w.PDClient.EnsureActions(w.Ctx, []string{notifyService}, w.url+"/pagerduty", webhook.SecretHeader, pdSecret)
	if err != nil || created != 2 {
		t.Fatalf("EnsureActions created %d, err %v; want 2", created, err)
	}
	want := map[string]core.State{pagerduty.ApproveActionName: core.StateApproved, pagerduty.DenyActionName: core.StateDenied}
	exts := w.PD.Extensions()
	if len(exts) != len(want) {
		t.Fatalf("sandbox holds %d extensions, want %d", len(exts), len(want))
	}
	for _, ext := range exts {
		t.Run(ext.Name, func(t *testing.T) {
			state, ok := want[ext.Name]
			if !ok {
				t.Fatalf("unexpected action %q", ext.Name)
			}
			id, a := w.open(t, core.PagerDuty, alice)
			d := delivery{path: strings.TrimPrefix(ext.EndpointURL, w.url), headers: map[string]string{}, body: pdV2(t, testenv.RandomName(), a, w.pdBob.ID)}
			if !strings.HasPrefix(ext.EndpointURL, w.url+"/") {
				t.Fatalf("installed URL %q is not below the webhook %s", ext.EndpointURL, w.url)
			}
			for _, h := range ext.Headers {
				d.headers[h.Name] = h.Value
			}
			status, resp := w.send(t, d)
			if status != http.StatusOK || resp.Status != core.OutcomeAccepted {
				t.Fatalf("press of %q = %d %+v, want 200 accepted", ext.Name, status, resp)
			}
			if r := w.Teleport.Reviews(id); len(r) != 1 || r[0].Proposed != state {
				t.Fatalf("reviews = %+v, want one %s", r, state)
			}
		})
	}
}
