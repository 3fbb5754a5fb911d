package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/oncallgate/oncallgate/internal/app"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/sandbox"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

const sandboxDescription = `Runs a scripted tour of oncallgate on this machine only. It starts moto_server (DynamoDB, SSM and Secrets Manager; make run installs it, or pip install "moto[server]"), a simulated Teleport auth server speaking the real gRPC API over mutual TLS, and simulated PagerDuty and Opsgenie APIs; writes a configuration into SSM and Secrets Manager as make deploy would; and runs the real oncallgate over them. Four access requests then show the flow, each step with when, where, what and why: an incident opened, an automatic approval of someone on call with an active incident, an approval pressed on the incident by the on-call responder, and an expiry. Nothing leaves 127.0.0.1; it takes a few seconds. The app's JSON logs go to a file shown at the end.`

// Bounds of the tour.
const (
	// stepTimeout bounds one step's wait for the expected outcome.
	stepTimeout = 15 * time.Second
	// pollPause is the pause between polls while a step waits: the tour
	// calls the poller directly instead of waiting for a schedule.
	pollPause = 100 * time.Millisecond
	// tourHTTPTimeout bounds the simulated PagerDuty's call of the webhook.
	tourHTTPTimeout = 20 * time.Second
)

func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sandbox", "[--log FILE] [--moto URL]", sandboxDescription)
	logPath := fs.String("log", "", "write the app's JSON logs to this file (default: a new file in the temporary directory)")
	motoURL := fs.String("moto", "", "use the moto_server already running at this URL instead of starting one")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	logs, err := openLog(*logPath)
	if err != nil {
		fmt.Fprintf(stderr, "oncallgate sandbox: %v\n", err)
		return exitFailure
	}
	defer logs.Close()

	fmt.Fprintln(stdout, "oncallgate sandbox: the whole flow over simulated Teleport, PagerDuty and Opsgenie, on 127.0.0.1 only.")
	fmt.Fprintln(stdout)
	opts := sandbox.Options{}
	if *motoURL != "" {
		opts.Moto = &testenv.Moto{Endpoint: strings.TrimSuffix(*motoURL, "/")}
	}
	prog := startProgress(stderr, "Starting moto_server, the Teleport, PagerDuty and Opsgenie sandboxes")
	w, err := sandbox.Start(ctx, opts)
	prog.finish(err == nil)
	if err != nil {
		fmt.Fprintf(stderr, "oncallgate sandbox: %v\n", err)
		return exitFailure
	}
	defer w.Close()

	a, err := w.NewApp(logs)
	if err != nil {
		fmt.Fprintf(stderr, "oncallgate sandbox: %v\n", err)
		return exitFailure
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "oncallgate sandbox: listen for the webhook: %v\n", err)
		return exitFailure
	}
	srv := &http.Server{Handler: a.WebhookHandler(), ReadHeaderTimeout: readHeaderTimeout}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	t := &tour{ctx: ctx, w: w, a: a, out: stdout, webhook: "http://" + ln.Addr().String(), http: &http.Client{Timeout: tourHTTPTimeout}}
	t.describe()
	t.start = time.Now()
	for _, step := range []func() error{t.readonlyWaits, t.onCallAutoApproved, t.approvedFromThePager, t.expired} {
		if err := step(); err != nil {
			fmt.Fprintf(stdout, "\nThe tour went off script: %v\nThe app's logs are in %s\n", err, logs.Name())
			return exitFailure
		}
	}
	fmt.Fprintf(stdout, `
Carol's incident stays open: her request waits for someone to decide.

Next steps
  oncallgate configure --local > oncallgate.local.yaml
        every setting with its default; fill in your Teleport address and identity,
        PagerDuty From email and keys
  oncallgate check --config oncallgate.local.yaml
        verifies Teleport, PagerDuty/Opsgenie and the table with your credentials
  oncallgate local --config oncallgate.local.yaml --create-table
        runs the whole system on this machine against your real services
  make deploy
        deploys it to AWS Lambda (README: Deploy)

The app's JSON logs of this tour are in %s
`, logs.Name())
	return exitOK
}

func openLog(path string) (*os.File, error) {
	if path == "" {
		f, err := os.CreateTemp("", "oncallgate-sandbox-*.log")
		if err != nil {
			return nil, fmt.Errorf("create log file: %w", err)
		}
		return f, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

// tour is the scripted story over a sandbox world.
type tour struct {
	ctx     context.Context
	w       *sandbox.World
	a       *app.App
	out     io.Writer
	webhook string
	http    *http.Client
	start   time.Time
}

func (t *tour) describe() {
	w := t.w
	pay := w.PaymentsIncident
	lines := [][2]string{
		{"teleport", fmt.Sprintf("auth server at %s (gRPC, mutual TLS); oncallgate runs as user %s", w.Teleport.Addr(), sandbox.PluginUser)},
		{"", fmt.Sprintf("roles prod-readonly, prod-admin: incidents in %q; auto-approval when on call in %q", sandbox.NotifyService, sandbox.PaymentsService)},
		{"", fmt.Sprintf("role db-admin: the same, plus an Opsgenie alert for the schedule %q", sandbox.DatabaseSchedule)},
		{"pagerduty", fmt.Sprintf("%q: %s on call", sandbox.NotifyService, sandbox.Bob)},
		{"", fmt.Sprintf("%q: %s on call, working incident #%d %q (%s)", sandbox.PaymentsService, sandbox.Alice, pay.Number, pay.Title, pay.Status)},
		{"", fmt.Sprintf("%s is a user on call nowhere; %s and %s exist only in Teleport", sandbox.Carol, sandbox.Dave, sandbox.Erin)},
		{"opsgenie", fmt.Sprintf("schedule %q: %s on call", sandbox.DatabaseSchedule, sandbox.Bob)},
		{"aws", fmt.Sprintf("moto at %s: table %s, parameters below %s, secret %s", w.Moto.Endpoint, w.Table, w.Prefix, w.SecretID)},
		{"oncallgate", "the real app over all of it, webhook at " + t.webhook},
	}
	fmt.Fprintln(t.out, "The world")
	for _, l := range lines {
		fmt.Fprintf(t.out, "  %-10s  %s\n", l[0], l[1])
	}
}

// chapter starts a step of the story.
func (t *tour) chapter(title string) { fmt.Fprintf(t.out, "\n%s\n", title) }

// event prints one timeline entry: time offset, where, what, and detail
// lines (why, links, notes).
func (t *tour) event(where, what string, details ...string) {
	offset := fmt.Sprintf("+%.1fs", time.Since(t.start).Seconds())
	fmt.Fprintf(t.out, "  %7s  %-10s  %s\n", offset, where, what)
	for _, d := range details {
		for _, line := range strings.Split(d, "\n") {
			fmt.Fprintf(t.out, "  %7s  %-10s  %s\n", "", "", line)
		}
	}
}

// poll runs the poller once, as its schedule would.
func (t *tour) poll() app.PollReport {
	rep, _ := t.a.HandlePoll(t.ctx, events.EventBridgeEvent{})
	return rep
}

// pollUntil polls until done reports true.
func (t *tour) pollUntil(what string, done func() bool) error {
	deadline := time.Now().Add(stepTimeout)
	var last app.PollReport
	for {
		last = t.poll()
		if done() {
			return nil
		}
		if time.Now().After(deadline) {
			why := ""
			if !last.OK {
				why = ": the last poll failed: " + last.Error
			}
			return fmt.Errorf("%s did not happen within %s%s", what, stepTimeout, why)
		}
		select {
		case <-t.ctx.Done():
			return t.ctx.Err()
		case <-time.After(pollPause):
		}
	}
}

func (t *tour) request(user, reason string, role string) (string, error) {
	id, err := t.w.Request(user, reason, role)
	if err != nil {
		return "", err
	}
	t.event("teleport", fmt.Sprintf("%s requests the role %s", user, role), fmt.Sprintf("reason: %q; request %s", reason, id))
	return id, nil
}

// incidentOpened waits for the request's incident and shows it.
func (t *tour) incidentOpened(id, role string) (pagerdutytest.Incident, error) {
	var in pagerdutytest.Incident
	err := t.pollUntil("the incident of request "+id, func() bool {
		var ok bool
		in, ok = t.w.Incident(id)
		return ok && t.decisionNote(in.ID) != ""
	})
	if err != nil {
		return in, err
	}
	t.event("pagerduty", fmt.Sprintf("incident #%d %q opened in %q", in.Number, in.Title, sandbox.NotifyService),
		"link: "+requestLink(in, id),
		fmt.Sprintf("why: role %s carries the annotation %s: [%s]", role, core.AnnPagerDutyNotify, sandbox.NotifyService))
	return in, nil
}

// decisionNote returns the auto-approval note on an incident, "" when none.
func (t *tour) decisionNote(incidentID string) string {
	for _, n := range t.w.PagerDuty.Notes(incidentID) {
		if strings.HasPrefix(n.Content, "Auto-approval") {
			return n.Content
		}
	}
	return ""
}

// lastNote returns the newest note on an incident.
func (t *tour) lastNote(incidentID string) string {
	notes := t.w.PagerDuty.Notes(incidentID)
	if len(notes) == 0 {
		return ""
	}
	return notes[len(notes)-1].Content
}

func requestLink(in pagerdutytest.Incident, id string) string {
	for _, line := range strings.Split(in.Details, "\n") {
		if _, link, ok := strings.Cut(line, "proceed to "); ok {
			return link
		}
	}
	return core.RequestLink(sandbox.ProxyWebAddress, id)
}

func (t *tour) resolved(id string) (pagerdutytest.Incident, bool) {
	in, ok := t.w.Incident(id)
	return in, ok && in.Status == "resolved"
}

// readonlyWaits: a request of someone not on call opens an incident and
// waits for a person.
func (t *tour) readonlyWaits() error {
	t.chapter("1. Carol asks for read access; she is not on call, so a person decides")
	id, err := t.request(sandbox.Carol, "check the payments dashboards", "prod-readonly")
	if err != nil {
		return err
	}
	in, err := t.incidentOpened(id, "prod-readonly")
	if err != nil {
		return err
	}
	t.event("oncallgate", "not approved automatically; the incident pages "+sandbox.Bob,
		"why: "+strings.TrimPrefix(t.decisionNote(in.ID), "Auto-approval: not approved. "))
	rep := t.poll()
	if rep.Result.AlertsCreated != 0 {
		return fmt.Errorf("a second poll created %d more alerts for a request that has one", rep.Result.AlertsCreated)
	}
	t.event("oncallgate", "polled again: 0 incidents created",
		"why: one incident per request, however often polls repeat or overlap (a claim in DynamoDB, the incident_key)")
	return nil
}

// onCallAutoApproved: the on-call responder with an active incident gets
// access at once.
func (t *tour) onCallAutoApproved() error {
	t.chapter("2. Alice, on call for Payments API with an incident open, asks for admin access")
	id, err := t.request(sandbox.Alice, "roll back the failing payments deploy", "prod-admin")
	if err != nil {
		return err
	}
	in, err := t.incidentOpened(id, "prod-admin")
	if err != nil {
		return err
	}
	reviews := t.w.Teleport.Reviews(id)
	if len(reviews) != 1 || reviews[0].Proposed != core.StateApproved {
		return fmt.Errorf("request %s was not approved automatically: reviews %+v; note %q", id, reviews, t.decisionNote(in.ID))
	}
	t.event("oncallgate", fmt.Sprintf("approved automatically: review submitted to Teleport as %s", reviews[0].Author),
		"reason: "+reviews[0].Reason,
		fmt.Sprintf("why: role prod-admin carries %s: [%s]; alice is on call there and incident #%d is assigned to her",
			core.AnnPagerDutyServices, sandbox.PaymentsService, t.w.PaymentsIncident.Number))
	if err := t.pollUntil("the resolution of alice's incident", func() bool { _, ok := t.resolved(id); return ok }); err != nil {
		return err
	}
	t.event("pagerduty", fmt.Sprintf("incident #%d resolved", in.Number), "note: "+t.lastNote(in.ID))
	return nil
}

// approvedFromThePager: the on-call responder presses Approve Request on
// the incident.
func (t *tour) approvedFromThePager() error {
	t.chapter("3. Dave asks for database admin; Bob, on call, approves from the incident")
	id, err := t.request(sandbox.Dave, "fix a stuck schema migration", "db-admin")
	if err != nil {
		return err
	}
	var alert opsgenietest.Alert
	in, err := t.incidentOpened(id, "db-admin")
	if err == nil {
		err = t.pollUntil("the opsgenie alert of dave's request", func() bool {
			var ok bool
			alert, ok = t.w.Alert(id)
			return ok
		})
	}
	if err != nil {
		return err
	}
	t.event("opsgenie", fmt.Sprintf("alert %q (#%s) opened for the schedule %q, with the actions %s", alert.Message, alert.TinyID, sandbox.DatabaseSchedule, strings.Join(alert.Actions, " and ")),
		fmt.Sprintf("why: role db-admin carries %s: [%s]", core.AnnOpsgenieNotify, sandbox.DatabaseSchedule))
	t.event("oncallgate", "not approved automatically",
		"why: "+strings.TrimPrefix(t.decisionNote(in.ID), "Auto-approval: not approved. "))

	t.event("pagerduty", fmt.Sprintf("%s presses \"Approve Request\" on incident #%d", sandbox.Bob, in.Number),
		"PagerDuty POSTs the custom incident action to "+t.webhook+"/pagerduty?action=approve with the shared secret header")
	status, body, err := t.w.PressPagerDutyAction(t.ctx, t.http, t.webhook, in.ID, sandbox.Bob, true)
	if err != nil {
		return err
	}
	var answer struct{ Status, Message string }
	_ = json.Unmarshal([]byte(body), &answer)
	if status != http.StatusOK || answer.Status != core.OutcomeAccepted {
		return fmt.Errorf("the webhook answered %d %s to bob's approval", status, body)
	}
	t.event("oncallgate", fmt.Sprintf("webhook answered %d %s: %s", status, answer.Status, answer.Message),
		fmt.Sprintf("why: the secret matched; %s is on call in %q, where the request was notified, and did not make it", sandbox.Bob, sandbox.NotifyService))
	reviews := t.w.Teleport.Reviews(id)
	if len(reviews) != 1 {
		return fmt.Errorf("request %s has %d reviews after bob's approval, want 1", id, len(reviews))
	}
	r := reviews[0]
	t.event("teleport", fmt.Sprintf("review %s by %s on behalf of %s", r.Proposed, r.Author, r.Delegator), "reason: "+r.Reason,
		"the audit log names who pressed the button")
	err = t.pollUntil("the resolution of dave's incident and alert", func() bool {
		_, ok := t.resolved(id)
		a, found := t.w.Alert(id)
		return ok && found && a.Status == "closed"
	})
	if err != nil {
		return err
	}
	t.event("pagerduty", fmt.Sprintf("incident #%d resolved", in.Number), "note: "+t.lastNote(in.ID))
	notes := t.w.Opsgenie.Notes(alert.ID)
	last := ""
	if len(notes) > 0 {
		last = notes[len(notes)-1].Note
	}
	t.event("opsgenie", fmt.Sprintf("alert #%s closed", alert.TinyID), "note: "+last)
	return nil
}

// expired: nobody decides before the request expires.
func (t *tour) expired() error {
	t.chapter("4. Erin's request expires before anyone decides")
	id, err := t.request(sandbox.Erin, "on-call handover", "prod-readonly")
	if err != nil {
		return err
	}
	in, err := t.incidentOpened(id, "prod-readonly")
	if err != nil {
		return err
	}
	if err := t.w.Teleport.Expire(id); err != nil {
		return err
	}
	t.event("teleport", "erin's request expired (its TTL ran out) and is gone from Teleport")
	if err := t.pollUntil("the resolution of erin's incident", func() bool { _, ok := t.resolved(id); return ok }); err != nil {
		return err
	}
	t.event("pagerduty", fmt.Sprintf("incident #%d resolved", in.Number), "note: "+t.lastNote(in.ID))
	return nil
}

// progress shows that a long wait is alive: a spinner on a terminal, dots
// elsewhere.
type progress struct {
	w     io.Writer
	start time.Time
	stop  chan struct{}
	done  chan struct{}
}

func startProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	fmt.Fprint(w, label+" ")
	tty := isTerminal(w)
	go func() {
		defer close(p.done)
		frames := `|/-\`
		every := time.Second
		if tty {
			every = 150 * time.Millisecond
			fmt.Fprint(w, " ")
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				if tty {
					fmt.Fprint(w, "\b")
				}
				return
			case <-tick.C:
				if tty {
					fmt.Fprintf(w, "\b%c", frames[i%len(frames)])
				} else {
					fmt.Fprint(w, ".")
				}
			}
		}
	}()
	return p
}

func (p *progress) finish(ok bool) {
	close(p.stop)
	<-p.done
	if ok {
		fmt.Fprintf(p.w, " ready (%.1fs)\n", time.Since(p.start).Seconds())
		return
	}
	fmt.Fprintln(p.w, " failed")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
