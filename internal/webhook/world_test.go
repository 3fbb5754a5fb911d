package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/testenv"
	"github.com/oncallgate/oncallgate/internal/webhook"
)

// These tests drive the real webhook.Handler over HTTP on 127.0.0.1 with
// the production Decider wired to the Teleport sandbox (gRPC over mutual
// TLS), the PagerDuty, Opsgenie and JSM sandboxes, and DynamoDB in moto.
// Every alert a delivery acts on was opened by a real poll first.

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
	carol = "carol@example.com"

	pdSecret      = "pd-webhook-secret-4f1c"
	ogSecret      = "og-webhook-secret-9a7e"
	jsmSecret     = "jsm-webhook-secret-2b6d"
	signingSecret = "pd-signing-secret-c03a"

	notifyService = "Teleport Notifications"
	ogSchedule    = "Ops Primary"
	jsmSchedule   = "Ops JSM"

	// Identifiers in the testdata fixtures, replaced by the real ones.
	fixtureIncident = "PINC001"
	fixtureAgent    = "PUSR002"
	fixtureKey      = "teleport-access-request/0f0a3c1e-1111-4c2b-9a6e-5b0c6d7e8f90"
	fixtureV2ID     = "bb8b8fe0-e8d5-11e6-9d7b-22000a9a0c3c"
	fixtureV3ID     = "01DEN3KJ9Q0G1S7T2V4W6X8Y0Z"
	fixtureAlertID  = "70413a06-38d6-4c85-92b8-5ebc900d42e2"
)

// world is one oncallgate installation: PagerDuty service "Teleport
// Notifications" with bob on call in its escalation policy, Opsgenie
// schedule "Ops Primary" and JSM schedule "Ops JSM" with bob on call, carol
// known everywhere but on call nowhere, and the webhook served on loopback.
type world struct {
	*testenv.Env
	notify              core.PagerDutyService
	pdAlice, pdBob, pdC core.PagerDutyUser
	url                 string
	logs                *testenv.Stdout

	mu   sync.Mutex
	deps webhook.Deps
}

func newWorld(t *testing.T) *world {
	t.Helper()
	e := testenv.NewEnv(t, testenv.WithOpsgenie(), testenv.WithJSM())
	w := &world{Env: e, logs: &testenv.Stdout{}}
	w.notify = e.PD.AddService(notifyService)
	// Alice's PagerDuty profile spells her email with capitals: the
	// requester check must still recognise her.
	w.pdAlice = e.PD.AddUser("Alice@Example.com", "Alice")
	w.pdBob = e.PD.AddUser(bob, "Bob")
	w.pdC = e.PD.AddUser(carol, "Carol")
	e.PD.AddOnCall(w.pdBob.ID, w.notify.EscalationPolicyID, 1)

	e.OG.AddUser(bob)
	e.OG.AddUser(carol)
	e.OG.AddSchedule(ogSchedule, bob)

	e.JSM.AddAccount("acc-bob", bob, true)
	e.JSM.AddAccount("acc-carol", carol, true)
	e.JSM.AddSchedule(jsmSchedule, "acc-bob")

	w.configure(core.WebhookSettings{RequireOnCall: true}, webhook.Secrets{})
	logger := logging.New(w.logs, slog.LevelDebug)
	h := &webhook.Handler{Clock: e.Clock, Load: func(context.Context) (webhook.Deps, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.deps, nil
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(rw, r.WithContext(logging.WithLogger(r.Context(), logger)))
	}))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// configure sets the webhook rules and secrets the next deliveries see;
// an empty Secrets means the three route secrets without PagerDuty
// signing.
//
// adjust, when given, changes the Decider before any delivery sees it.
func (w *world) configure(s core.WebhookSettings, sec webhook.Secrets, adjust ...func(*core.Decider)) {
	if sec.PagerDuty == "" && sec.Opsgenie == "" && sec.JSM == "" && sec.PagerDutySigning == nil {
		sec = webhook.Secrets{PagerDuty: pdSecret, Opsgenie: ogSecret, JSM: jsmSecret}
	}
	d := w.Decider(s)
	for _, f := range adjust {
		f(d)
	}
	w.mu.Lock()
	w.deps = webhook.Deps{Decider: d, Secrets: sec}
	w.mu.Unlock()
}

func signedSecrets() webhook.Secrets {
	return webhook.Secrets{PagerDuty: pdSecret, PagerDutySigning: []string{"an-older-secret", signingSecret}, Opsgenie: ogSecret, JSM: jsmSecret}
}

func (w *world) poll(t *testing.T) core.PollResult {
	t.Helper()
	r, err := w.Poller("poller-" + testenv.RandomName()).Poll(w.Ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return r
}

// alert is the provider-side alert of a request, as the poll opened it.
type alert struct {
	provider core.Provider
	id, key  string
}

// open creates a pending request from user notified to provider, polls,
// and returns the request ID and its alert.
func (w *world) open(t *testing.T, p core.Provider, user string) (string, alert) {
	t.Helper()
	ann := map[core.Provider]map[string][]string{
		core.PagerDuty: {"pagerduty_notify_service": {notifyService}},
		core.Opsgenie:  {"opsgenie_notify_services": {ogSchedule}},
		core.JSM:       {"jsm_notify_services": {jsmSchedule}},
	}[p]
	id := w.Request(user, []string{"prod-admin"}, ann)
	w.poll(t)
	key := core.DedupKey(id)
	a := alert{provider: p, key: key}
	switch p {
	case core.PagerDuty:
		in, ok := w.PD.IncidentByKey(key)
		if !ok {
			t.Fatalf("the poll opened no incident with key %s", key)
		}
		a.id = in.ID
	case core.Opsgenie, core.JSM:
		og := w.OG
		if p == core.JSM {
			og = w.JSM.Server
		}
		al, ok := og.AlertByAlias(key)
		if !ok {
			t.Fatalf("the poll opened no %s alert with alias %s", p, key)
		}
		a.id = al.ID
	}
	alerts, err := w.Store.GetAlerts(w.Ctx, id)
	if err != nil || len(alerts) != 1 || alerts[0].Status != core.AlertOpen || alerts[0].AlertID != a.id {
		t.Fatalf("mapping after the poll = %+v, %v", alerts, err)
	}
	return id, a
}

// notes returns the texts of the notes on an alert.
func (w *world) notes(a alert) []string {
	var out []string
	switch a.provider {
	case core.PagerDuty:
		for _, n := range w.PD.Notes(a.id) {
			out = append(out, n.Content)
		}
	case core.Opsgenie:
		for _, n := range w.OG.Notes(a.id) {
			out = append(out, n.Note)
		}
	case core.JSM:
		for _, n := range w.JSM.Notes(a.id) {
			out = append(out, n.Note)
		}
	}
	return out
}

// resolved reports whether the provider shows the alert resolved/closed.
func (w *world) resolved(t *testing.T, a alert) bool {
	t.Helper()
	switch a.provider {
	case core.PagerDuty:
		in, _ := w.PD.IncidentByKey(a.key)
		return in.Status == "resolved"
	case core.Opsgenie:
		al, _ := w.OG.AlertByAlias(a.key)
		return al.Status == "closed"
	case core.JSM:
		al, _ := w.JSM.AlertByAlias(a.key)
		return al.Status == "closed"
	}
	return false
}

// unchanged fails unless request id is still pending without any review.
func (w *world) unchanged(t *testing.T, id string) {
	t.Helper()
	if r := w.Teleport.Reviews(id); len(r) != 0 {
		t.Fatalf("Teleport recorded reviews %+v; want none", r)
	}
	req, ok := w.Teleport.Request(id)
	if !ok || !req.GetState().IsPending() {
		t.Fatalf("request %s should still be pending (found=%v)", id, ok)
	}
}

// fixture reads a payload from testdata with the fixture's identifiers
// replaced: old → new pairs.
func fixture(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(b)))
}

// pdV2 is the custom incident action payload (messages[]) of a press by
// the PagerDuty user agentID on incident a.
func pdV2(t *testing.T, delivery string, a alert, agentID string) []byte {
	return fixture(t, "pagerduty-v2-approve.json", fixtureV2ID, delivery, fixtureIncident, a.id, fixtureKey, a.key, fixtureAgent, agentID)
}

// pdV3 is the v3 webhook event envelope of a press.
func pdV3(t *testing.T, delivery string, a alert, agentID string) []byte {
	return fixture(t, "pagerduty-v3-deny.json", fixtureV3ID, delivery, fixtureIncident, a.id, fixtureKey, a.key, fixtureAgent, agentID)
}

// og is the Opsgenie/JSM webhook integration payload of a press of action
// ("Approve" or "Deny") by username.
func og(t *testing.T, action string, a alert, username string) []byte {
	return fixture(t, "opsgenie-approve.json", `"action":"Approve"`, `"action":"`+action+`"`, fixtureAlertID, a.id, fixtureKey, a.key,
		`"username":"bob@example.com"`, `"username":"`+username+`"`)
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// delivery is one POST to the webhook.
type delivery struct {
	path    string
	headers map[string]string
	body    []byte
}

func pdDelivery(approve bool, body []byte) delivery {
	action := "deny"
	if approve {
		action = "approve"
	}
	return delivery{path: "/pagerduty?action=" + action, headers: map[string]string{webhook.SecretHeader: pdSecret}, body: body}
}

func signed(d delivery, secret string) delivery {
	d.headers[webhook.SignatureHeader] = sign(secret, d.body)
	return d
}

func ogDelivery(p core.Provider, body []byte) delivery {
	secret := map[core.Provider]string{core.Opsgenie: ogSecret, core.JSM: jsmSecret}[p]
	return delivery{path: "/" + string(p), headers: map[string]string{webhook.SecretHeader: secret}, body: body}
}

func (w *world) send(t *testing.T, d delivery) (int, webhook.Response) {
	t.Helper()
	status, out, err := w.post(d)
	if err != nil {
		t.Fatal(err)
	}
	return status, out
}

// post is send for goroutines other than the test's.
func (w *world) post(d delivery) (int, webhook.Response, error) {
	req, err := http.NewRequestWithContext(w.Ctx, http.MethodPost, w.url+d.path, bytes.NewReader(d.body))
	if err != nil {
		return 0, webhook.Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range d.headers {
		req.Header.Set(k, v)
	}
	resp, err := w.HTTP.Do(req)
	if err != nil {
		return 0, webhook.Response{}, fmt.Errorf("POST %s: %w", d.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out webhook.Response
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, webhook.Response{}, fmt.Errorf("POST %s answered %d with a body that is not a Response: %q", d.path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

func containsAll(t *testing.T, what string, texts []string, wants ...string) {
	t.Helper()
	joined := strings.Join(texts, "\n---\n")
	for _, want := range wants {
		if !strings.Contains(joined, want) {
			t.Errorf("%s lack %q:\n%s", what, want, joined)
		}
	}
}

func count(texts []string, sub string) int {
	n := 0
	for _, s := range texts {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}
