// Package sandbox builds oncallgate's demo world on this machine: moto
// (DynamoDB, SSM Parameter Store, Secrets Manager), the Teleport sandbox
// over mutual TLS, and the PagerDuty and Opsgenie sandboxes, seeded with a
// small company (people, services, who is on call, roles with routing
// annotations), plus a complete oncallgate configuration in SSM and Secrets
// Manager pointing at them. `oncallgate sandbox` tells its story over this
// world and the CLI's tests run `oncallgate local` against it.
//
// It only arranges the outside world: the system under demonstration is the
// real internal/app over the production adapters, unchanged. It is demo
// and test support: it must never be imported by a Lambda function, and
// nothing in it listens beyond 127.0.0.1.
package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/oncallgate/oncallgate/internal/app"
	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/store"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
	"github.com/oncallgate/oncallgate/internal/testenv"
	"github.com/oncallgate/oncallgate/internal/webhook"
)

// The demo company. Teleport user names are emails, as oncallgate needs to
// match requesters to pager users.
const (
	// Alice is on call in PaymentsService with an acknowledged incident
	// there: her requests are approved automatically.
	Alice = "alice@example.com"
	// Bob is on call in NotifyService and in the Opsgenie DatabaseSchedule:
	// the incidents page him and he may approve from the pager.
	Bob = "bob@example.com"
	// Carol is a PagerDuty user who is not on call anywhere.
	Carol = "carol@example.com"
	// Dave and Erin exist only in Teleport.
	Dave = "dave@example.com"
	Erin = "erin@example.com"
)

// Names of the world's places.
const (
	// NotifyService is the PagerDuty service access request incidents open in.
	NotifyService = "Teleport Notifications"
	// PaymentsService is the PagerDuty service whose on-call responders are
	// approved automatically.
	PaymentsService = "Payments API"
	// DatabaseSchedule is the Opsgenie schedule db-admin requests alert.
	DatabaseSchedule = "Database On-Call"
	// PaymentsIncidentTitle is the incident Alice is working on.
	PaymentsIncidentTitle = "Payments API error rate above 2%"
	// FromEmail is the PagerDuty user oncallgate writes as.
	FromEmail = "oncallgate@example.com"
	// PluginUser is the Teleport user oncallgate runs as.
	PluginUser = "access-plugin"
	// ProxyWebAddress is the Teleport web address used in request links.
	ProxyWebAddress = "teleport.example.com"
	// WebhookSecret is the shared secret of the PagerDuty custom incident
	// actions and the Opsgenie webhook integration.
	WebhookSecret = "sandbox-webhook-secret"
	// IdentityTTL is how long the plugin's identity is valid.
	IdentityTTL = 24 * time.Hour
)

// Roles are the world's Teleport roles and the request annotations each
// carries (in Teleport they come from the role's
// allow.request.annotations).
var Roles = map[string]map[string][]string{
	"prod-readonly": {
		core.AnnPagerDutyNotify:   {NotifyService},
		core.AnnPagerDutyServices: {PaymentsService},
	},
	"prod-admin": {
		core.AnnPagerDutyNotify:   {NotifyService},
		core.AnnPagerDutyServices: {PaymentsService},
	},
	"db-admin": {
		core.AnnPagerDutyNotify:   {NotifyService},
		core.AnnPagerDutyServices: {PaymentsService},
		core.AnnOpsgenieNotify:    {DatabaseSchedule},
	},
}

// worldTimeout bounds building the world (table, parameters, secret).
const worldTimeout = 30 * time.Second

// Options configure Start.
type Options struct {
	// Moto reuses a running moto_server (tests share one); nil starts one
	// that Close stops.
	Moto *testenv.Moto
	// Clock dates requests, reviews and incidents (default the system
	// clock).
	Clock core.Clock
}

// World is the running demo world. Its fields are read-only after Start.
type World struct {
	Moto *testenv.Moto
	// AWS is an SDK configuration pointed at moto.
	AWS aws.Config
	// Table is the DynamoDB table, created with store.CreateTable.
	Table string
	// Prefix is the SSM prefix of the configuration, SecretID its secret.
	Prefix   string
	SecretID string
	// Parameters and Secret are the configuration written there (SSM
	// parameter names relative to Prefix; secret JSON keys).
	Parameters map[string]string
	Secret     map[string]string

	Teleport  *teleporttest.Server
	PagerDuty *pagerdutytest.Server
	Opsgenie  *opsgenietest.Server

	// Services are the PagerDuty services by name, Users the PagerDuty
	// users by email.
	Services map[string]core.PagerDutyService
	Users    map[string]core.PagerDutyUser
	// PaymentsIncident is Alice's acknowledged incident in PaymentsService.
	PaymentsIncident pagerdutytest.Incident

	clock     core.Clock
	closeOnce sync.Once
	closers   []func()
}

// Start builds the world. On error everything started so far is stopped.
func Start(ctx context.Context, opts Options) (w *World, err error) {
	ctx, cancel := context.WithTimeout(ctx, worldTimeout)
	defer cancel()
	if opts.Clock == nil {
		opts.Clock = core.SystemClock{}
	}
	w = &World{
		clock:    opts.Clock,
		Services: map[string]core.PagerDutyService{},
		Users:    map[string]core.PagerDutyUser{},
	}
	defer func() {
		if err != nil {
			w.Close()
			w = nil
		}
	}()

	w.Moto = opts.Moto
	if w.Moto == nil {
		m, err := testenv.StartMotoProcess()
		if err != nil {
			return nil, fmt.Errorf("start the AWS sandbox: %w (install it with: pip install 'moto[server]')", err)
		}
		w.Moto = m
		w.closers = append(w.closers, m.Stop)
	}
	w.AWS = w.Moto.AWSConfig()
	name := "oncallgate-sandbox-" + randomName()
	w.Table, w.Prefix, w.SecretID = name, "/"+name+"/", name
	if err := store.CreateTable(ctx, dynamodb.NewFromConfig(w.AWS), w.Table); err != nil {
		return nil, fmt.Errorf("create the sandbox table: %w", err)
	}

	if err := w.startTeleport(); err != nil {
		return nil, err
	}
	if err := w.startPagerDuty(); err != nil {
		return nil, err
	}
	if err := w.startOpsgenie(); err != nil {
		return nil, err
	}
	if err := w.writeConfig(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *World) startTeleport() error {
	tp, err := teleporttest.New(teleporttest.WithClock(w.clock))
	if err != nil {
		return fmt.Errorf("start the teleport sandbox: %w", err)
	}
	w.closers = append(w.closers, func() { _ = tp.Close() })
	w.Teleport = tp
	tp.SetAccess(PluginUser, teleporttest.Access{List: true, Review: true})
	return nil
}

func (w *World) startPagerDuty() error {
	pd, err := pagerdutytest.New(pagerdutytest.WithClock(w.clock))
	if err != nil {
		return fmt.Errorf("start the pagerduty sandbox: %w", err)
	}
	w.closers = append(w.closers, pd.Close)
	w.PagerDuty = pd
	for _, u := range []struct{ email, name string }{
		{FromEmail, "oncallgate"}, {Alice, "Alice"}, {Bob, "Bob"}, {Carol, "Carol"},
	} {
		w.Users[u.email] = pd.AddUser(u.email, u.name)
	}
	for _, name := range []string{NotifyService, PaymentsService} {
		w.Services[name] = pd.AddService(name)
	}
	pd.AddOnCall(w.Users[Bob].ID, w.Services[NotifyService].EscalationPolicyID, 1)
	pd.AddOnCall(w.Users[Alice].ID, w.Services[PaymentsService].EscalationPolicyID, 1)
	w.PaymentsIncident = pd.AddIncident(w.Services[PaymentsService].ID, w.Users[Alice].ID, "acknowledged",
		pagerdutytest.WithTitle(PaymentsIncidentTitle))
	return nil
}

func (w *World) startOpsgenie() error {
	og := opsgenietest.New(opsgenietest.WithProcessAfterPolls(1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the opsgenie sandbox: listen on 127.0.0.1: %w", err)
	}
	srv := &http.Server{Handler: og, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	w.closers = append(w.closers, func() {
		og.Shutdown() // releases hanging requests, or Close would wait on them
		_ = srv.Close()
	})
	og.URL = "http://" + ln.Addr().String()
	og.AddUser(Bob)
	og.AddSchedule(DatabaseSchedule, Bob)
	w.Opsgenie = og
	return nil
}

// writeConfig stores the configuration of the world in moto, as an operator
// would with `make deploy` and put-secret-value.
func (w *World) writeConfig(ctx context.Context) error {
	identity, err := w.Teleport.Identity(PluginUser, IdentityTTL)
	if err != nil {
		return fmt.Errorf("issue the plugin's teleport identity: %w", err)
	}
	w.Parameters = map[string]string{
		"teleport/address":           w.Teleport.Addr(),
		"teleport/proxy_web_address": ProxyWebAddress,
		"providers":                  "pagerduty,opsgenie",
		"secret_id":                  w.SecretID,
		"pagerduty/api_url":          w.PagerDuty.URL(),
		"pagerduty/from_email":       FromEmail,
		"opsgenie/api_url":           w.Opsgenie.URL,
	}
	w.Secret = map[string]string{
		"teleport_identity":        identity,
		"pagerduty_api_key":        w.PagerDuty.APIKey(),
		"pagerduty_webhook_secret": WebhookSecret,
		"opsgenie_api_key":         opsgenietest.DefaultAPIKey,
		"opsgenie_webhook_secret":  WebhookSecret,
	}
	sc := ssm.NewFromConfig(w.AWS)
	for _, k := range slices.Sorted(maps.Keys(w.Parameters)) {
		if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(w.Prefix + k), Value: aws.String(w.Parameters[k]),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
		}); err != nil {
			return fmt.Errorf("write ssm parameter %s%s: %w", w.Prefix, k, err)
		}
	}
	doc, err := json.Marshal(w.Secret)
	if err != nil {
		return fmt.Errorf("encode the sandbox secret: %w", err)
	}
	if _, err := secretsmanager.NewFromConfig(w.AWS).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(w.SecretID), SecretString: aws.String(string(doc)),
	}); err != nil {
		return fmt.Errorf("create secret %s: %w", w.SecretID, err)
	}
	return nil
}

// Close stops everything Start started, newest first. It may be called
// more than once.
func (w *World) Close() {
	w.closeOnce.Do(func() {
		for i := len(w.closers) - 1; i >= 0; i-- {
			w.closers[i]()
		}
	})
}

// NewApp builds the real oncallgate App over the world, reading its
// configuration from SSM and Secrets Manager in moto like a Lambda
// function does. Its JSON logs and metric records go to logs.
func (w *World) NewApp(logs io.Writer) (*app.App, error) {
	return app.New(app.Options{
		Env:      config.Env{Prefix: w.Prefix, Table: w.Table},
		AWS:      w.AWS,
		Function: "sandbox",
		Clock:    w.clock,
		Stdout:   logs,
	})
}

// Request creates a pending access request of user for roles, with the
// annotations those roles carry, and returns its ID.
func (w *World) Request(user, reason string, roles ...string) (string, error) {
	ann := map[string][]string{}
	for _, r := range roles {
		a, ok := Roles[r]
		if !ok {
			return "", fmt.Errorf("create access request of %s: role %q is not one of the sandbox's roles", user, r)
		}
		for k, v := range a {
			for _, s := range v {
				if !slices.Contains(ann[k], s) {
					ann[k] = append(ann[k], s)
				}
			}
		}
	}
	id, err := w.Teleport.CreateRequest(teleporttest.NewRequest{User: user, Roles: roles, Reason: reason, Annotations: ann})
	if err != nil {
		return "", fmt.Errorf("create access request of %s: %w", user, err)
	}
	return id, nil
}

// Incident returns the PagerDuty incident of a request (its newest one,
// open or resolved).
func (w *World) Incident(requestID string) (pagerdutytest.Incident, bool) {
	key := core.DedupKey(requestID)
	var found pagerdutytest.Incident
	ok := false
	for _, in := range w.PagerDuty.Incidents() {
		if in.Key == key {
			found, ok = in, true
		}
	}
	return found, ok
}

// Alert returns the Opsgenie alert of a request, if any.
func (w *World) Alert(requestID string) (opsgenietest.Alert, bool) {
	key := core.DedupKey(requestID)
	for _, a := range w.Opsgenie.Alerts() {
		if a.Alias == key || strings.HasPrefix(a.Alias, key+"/") {
			return a, true
		}
	}
	return opsgenietest.Alert{}, false
}

// PressPagerDutyAction does what PagerDuty does when actor presses the
// "Approve Request" (approve true) or "Deny Request" custom incident action
// on an incident: it POSTs the v2 custom action payload with the shared
// secret header to the webhook at baseURL. It returns the HTTP status and
// the answer's body.
func (w *World) PressPagerDutyAction(ctx context.Context, hc *http.Client, baseURL, incidentID, actor string, approve bool) (int, string, error) {
	var in *pagerdutytest.Incident
	for _, i := range w.PagerDuty.Incidents() {
		if i.ID == incidentID {
			in = &i
			break
		}
	}
	if in == nil {
		return 0, "", fmt.Errorf("press pagerduty action: no incident %s in the sandbox", incidentID)
	}
	user, ok := w.Users[actor]
	if !ok {
		return 0, "", fmt.Errorf("press pagerduty action: %s is not a pagerduty user of the sandbox", actor)
	}
	payload := map[string]any{"messages": []any{map[string]any{
		"id":         randomName() + randomName(),
		"event":      "incident.custom",
		"created_on": w.clock.Now().UTC().Format(time.RFC3339),
		"incident": map[string]any{
			"id": in.ID, "type": "incident", "incident_number": in.Number, "title": in.Title,
			"status": in.Status, "incident_key": in.Key,
			"service": map[string]any{"id": in.ServiceID, "type": "service_reference"},
		},
		"log_entries": []any{map[string]any{
			"type":  "custom_log_entry",
			"agent": map[string]any{"id": user.ID, "type": "user_reference", "summary": user.Name},
		}},
	}}}
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, "", fmt.Errorf("press pagerduty action: encode payload: %w", err)
	}
	action := "deny"
	if approve {
		action = "approve"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/pagerduty?action="+action, bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("press pagerduty action: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SecretHeader, WebhookSecret)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("press pagerduty action %s on incident %s: %w", action, incidentID, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return resp.StatusCode, "", fmt.Errorf("press pagerduty action: read answer: %w", err)
	}
	return resp.StatusCode, strings.TrimSpace(string(answer)), nil
}

func randomName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
