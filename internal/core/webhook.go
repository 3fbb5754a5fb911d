package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oncallgate/oncallgate/internal/logging"
)

// Action is an Approve/Deny pressed on an alert, as parsed and authenticated
// by the webhook handler. Nothing in it is trusted beyond its authenticity:
// the request, the actor and their right to decide are all checked here.
type Action struct {
	Provider Provider
	// DeliveryID deduplicates deliveries: the provider's event/message ID,
	// or a hash of alert, action, actor and time bucket.
	DeliveryID string
	Approve    bool
	// AlertID is the incident/alert ID; DedupKey its incident_key/alias when
	// the payload carries it.
	AlertID  string
	DedupKey string
	// ActorEmail identifies who pressed (Opsgenie username); ActorID is the
	// provider user ID to resolve when the email is not in the payload
	// (PagerDuty agent).
	ActorEmail string
	ActorID    string
}

func (a Action) verb() string {
	if a.Approve {
		return "approve"
	}
	return "deny"
}

// Outcome is what happened to an action.
type Outcome struct {
	// Status: accepted, duplicate, or refused.
	Status  string
	Refusal Refusal
	// Message is short, safe to show to the caller.
	Message   string
	RequestID string
}

// Outcome statuses.
const (
	OutcomeAccepted  = "accepted"
	OutcomeDuplicate = "duplicate"
	OutcomeRefused   = "refused"
)

// Refusal says why an action was refused; it maps to an HTTP status.
type Refusal string

// Refusal reasons.
const (
	RefuseUnknownAlert     Refusal = "unknown_alert"
	RefuseUnknownActor     Refusal = "unknown_actor"
	RefuseSelfApproval     Refusal = "self_approval"
	RefuseNotOnCall        Refusal = "not_on_call"
	RefuseNotApprover      Refusal = "not_an_approver"
	RefuseNotPending       Refusal = "not_pending"
	RefuseReviewsDisabled  Refusal = "reviews_unsupported"
	RefuseProviderDisabled Refusal = "provider_not_configured"
)

// WebhookSettings are the webhook's authorization rules.
type WebhookSettings struct {
	// RequireOnCall: the actor must be on call for the service/schedule the
	// request was notified to (default true).
	RequireOnCall bool
	// Approvers, when set, is an allowlist of actor emails (lower-case).
	Approvers []string
	// DeliveryTTL is how long deliveries are remembered (PagerDuty retries
	// for up to 48 h).
	DeliveryTTL time.Duration
}

// Decider is the use case behind the webhook function.
type Decider struct {
	Teleport  Teleport
	Store     Store
	Notifiers map[Provider]Notifier
	// PagerDuty answers on-call and user questions for PagerDuty actions.
	PagerDuty      PagerDutyDirectory
	PagerDutyUsers PagerDutyUsers
	IncidentKeys   map[Provider]IncidentKeys
	Schedules      map[Provider]ScheduleDirectory
	Settings       WebhookSettings
	Clock          Clock
}

// Decide checks an authenticated action and, when everything allows it,
// submits the review as the plugin with the actor as delegator. It fails
// closed: when any check cannot be completed it returns an error and changes
// nothing in Teleport. Errors are for failures worth a retry by the sender
// (transient); refusals are Outcomes.
func (d *Decider) Decide(ctx context.Context, a Action) (Outcome, error) {
	ctx = logging.With(ctx, "provider", string(a.Provider), "alert_id", a.AlertID, "delivery_id", a.DeliveryID, "action", a.verb())
	refuse := func(r Refusal, msg string) (Outcome, error) {
		logging.FromContext(ctx).Warn("webhook action refused", "refusal", string(r), "reason", msg)
		return Outcome{Status: OutcomeRefused, Refusal: r, Message: msg}, nil
	}
	n := d.Notifiers[a.Provider]
	if n == nil {
		return refuse(RefuseProviderDisabled, fmt.Sprintf("provider %s is not configured", a.Provider))
	}
	if a.DeliveryID != "" {
		seen, err := d.Store.DeliverySeen(ctx, a.DeliveryID)
		if err != nil {
			return Outcome{}, fmt.Errorf("check webhook delivery %s: %w", a.DeliveryID, err)
		}
		if seen {
			logging.FromContext(ctx).Info("webhook delivery already processed")
			return Outcome{Status: OutcomeDuplicate, Message: "delivery already processed"}, nil
		}
	}

	// Which request, and is the alert really ours?
	key := a.DedupKey
	if key == "" && a.AlertID != "" && d.IncidentKeys[a.Provider] != nil {
		k, err := d.IncidentKeys[a.Provider].DedupKeyOf(ctx, a.AlertID)
		if errors.Is(err, ErrNotFound) {
			return refuse(RefuseUnknownAlert, "unknown alert")
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("look up dedup key of alert %s: %w", a.AlertID, err)
		}
		key = k
	}
	reqID, ok := RequestIDFromDedupKey(key)
	if !ok {
		return refuse(RefuseUnknownAlert, "the alert is not an oncallgate access request alert")
	}
	ctx = logging.With(ctx, "request_id", reqID)
	mapping, err := d.findMapping(ctx, reqID, a)
	if errors.Is(err, ErrNotFound) {
		return refuse(RefuseUnknownAlert, "no alert of this request is known here")
	}
	if err != nil {
		return Outcome{}, err
	}
	if a.AlertID == "" {
		a.AlertID = mapping.AlertID
	}
	finish := func(o Outcome, note string) (Outcome, error) {
		o.RequestID = reqID
		if note != "" && a.AlertID != "" {
			if err := n.AddNote(ctx, a.AlertID, note); err != nil {
				logging.FromContext(ctx).Warn("post webhook note failed", "error", err.Error())
			}
		}
		d.remember(ctx, a, reqID)
		return o, nil
	}
	refuseNoted := func(r Refusal, msg string) (Outcome, error) {
		o, _ := refuse(r, msg)
		return finish(o, fmt.Sprintf("Action %s refused: %s", capitalize(a.verb()), msg))
	}

	// Who pressed?
	actor, err := d.actorEmail(ctx, a)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		return refuseNoted(RefuseUnknownActor, "the person who pressed the action could not be identified")
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("identify webhook actor: %w", err)
	}
	ctx = logging.With(ctx, "actor", actor)
	a.ActorEmail = actor // the delivery record names who acted

	proposed := StateDenied
	if a.Approve {
		proposed = StateApproved
	}
	req, err := d.Teleport.GetRequest(ctx, reqID)
	if errors.Is(err, ErrNotFound) {
		return refuseNoted(RefuseNotPending, "the access request no longer exists")
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("get access request %s: %w", reqID, err)
	}
	if req.State == proposed {
		// What the actor asks for already holds (another delivery of this
		// press, or a colleague who pressed the same button first): nothing
		// to change and nothing to refuse.
		logging.FromContext(ctx).Info("access request already has the proposed state; nothing to do", "state", string(req.State))
		return finish(Outcome{Status: OutcomeAccepted, Message: "already " + proposed.Verb()}, "")
	}
	if req.State != StatePending {
		return refuseNoted(RefuseNotPending, fmt.Sprintf("the access request is already %s", req.State.Verb()))
	}
	if strings.EqualFold(strings.TrimSpace(req.User), actor) {
		return refuseNoted(RefuseSelfApproval, fmt.Sprintf("%s requested this access and cannot review their own request", actor))
	}
	if len(d.Settings.Approvers) > 0 && !containsFold(d.Settings.Approvers, actor) {
		return refuseNoted(RefuseNotApprover, fmt.Sprintf("%s is not in the approver list (webhook/approvers)", actor))
	}
	if d.Settings.RequireOnCall {
		on, where, err := d.onCall(ctx, actor, req, mapping)
		if err != nil {
			return Outcome{}, fmt.Errorf("check whether %s is on call: %w", actor, err)
		}
		if !on {
			return refuseNoted(RefuseNotOnCall, fmt.Sprintf("%s is not on call in %s", actor, where))
		}
	}

	channel := providerTitle(a.Provider)
	reason := fmt.Sprintf("%s by %s via %s %s action", capitalize(proposed.Verb()), actor, channel, alertNoun(a.Provider))
	err = d.Teleport.SubmitReview(ctx, ReviewSubmission{RequestID: reqID, Proposed: proposed, Reason: reason, Delegator: string(a.Provider) + ":" + actor})
	switch {
	case errors.Is(err, ErrReviewsUnsupported):
		return refuseNoted(RefuseReviewsDisabled, "this Teleport cluster does not accept reviews from plugins (needs Teleport Enterprise)")
	case errors.Is(err, ErrAlreadyReviewed):
		// The plugin reviewed the request since it was read above (a
		// concurrent delivery). That is success unless the earlier review
		// decided the other way, which the actor must hear about.
		if now, gerr := d.Teleport.GetRequest(ctx, reqID); gerr == nil && now.State.Resolved() && now.State != proposed {
			return refuseNoted(RefuseNotPending, fmt.Sprintf("the access request is already %s", now.State.Verb()))
		}
		logging.FromContext(ctx).Info("request already reviewed by the plugin; treating as done")
		return finish(Outcome{Status: OutcomeAccepted, Message: "already reviewed"}, "")
	case err != nil:
		return Outcome{}, fmt.Errorf("submit %s review for request %s: %w", proposed.Verb(), reqID, err)
	}
	logging.FromContext(ctx).Info("webhook review submitted", "proposed", string(proposed))
	return finish(Outcome{Status: OutcomeAccepted, Message: "review submitted"}, reviewActionNote(actor, proposed, a.verb()))
}

// reviewActionNote is the alert note saying that actor's press of the
// Approve/Deny action (verb "approve" or "deny") submitted a review.
func reviewActionNote(actor string, proposed State, verb string) string {
	article := "a"
	if proposed == StateApproved {
		article = "an"
	}
	return fmt.Sprintf("%s submitted %s %s review through the %s action.", actor, article, strings.ToUpper(string(proposed)), capitalize(verb))
}

func (d *Decider) findMapping(ctx context.Context, reqID string, a Action) (Alert, error) {
	alerts, err := d.Store.GetAlerts(ctx, reqID)
	if err != nil {
		return Alert{}, fmt.Errorf("read alert mappings of request %s: %w", reqID, err)
	}
	for _, m := range alerts {
		if m.Target.Provider != a.Provider {
			continue
		}
		if a.AlertID == "" || m.AlertID == a.AlertID {
			return m, nil
		}
	}
	return Alert{}, ErrNotFound
}

func (d *Decider) actorEmail(ctx context.Context, a Action) (string, error) {
	email := strings.ToLower(strings.TrimSpace(a.ActorEmail))
	if email == "" && a.ActorID != "" && a.Provider == PagerDuty && d.PagerDutyUsers != nil {
		u, err := d.PagerDutyUsers.GetUser(ctx, a.ActorID)
		if err != nil {
			return "", err
		}
		email = strings.ToLower(strings.TrimSpace(u.Email))
	}
	if !IsEmail(email) {
		return "", fmt.Errorf("%w: actor has no email", ErrInvalid)
	}
	return email, nil
}

// onCall checks the actor against the service (PagerDuty) or schedule
// (Opsgenie/JSM) the request was notified to, plus the request's on-call
// schedules for responders that are not schedules.
func (d *Decider) onCall(ctx context.Context, actor string, req Request, m Alert) (bool, string, error) {
	if m.Target.Provider == PagerDuty {
		if d.PagerDuty == nil {
			return false, "", fmt.Errorf("%w: no PagerDuty directory", ErrInvalid)
		}
		svc, err := d.PagerDuty.FindService(ctx, m.Target.Name)
		if err != nil {
			return false, "", err
		}
		u, err := d.PagerDuty.FindUserByEmail(ctx, actor)
		if errors.Is(err, ErrNotFound) {
			return false, "PagerDuty service " + svc.Name + " (no PagerDuty user has this email)", nil
		}
		if err != nil {
			return false, "", err
		}
		ocs, err := d.PagerDuty.ListOnCalls(ctx, u.ID, []string{svc.EscalationPolicyID})
		if err != nil {
			return false, "", err
		}
		return len(ocs) > 0, "PagerDuty service " + svc.Name, nil
	}
	dir := d.Schedules[m.Target.Provider]
	if dir == nil {
		return false, "", fmt.Errorf("%w: no schedule directory for %s", ErrInvalid, m.Target.Provider)
	}
	var schedules []string
	if m.Target.Kind == KindSchedule {
		schedules = append(schedules, m.Target.Name)
	}
	if routing, err := ParseRouting(req, []Provider{m.Target.Provider}); err == nil {
		schedules = append(schedules, routing.OnCall[m.Target.Provider]...)
	}
	if len(schedules) == 0 {
		return false, "any schedule (the alert went to a " + m.Target.Kind + "; list schedules in " + AnnOpsgenieSchedules + " or set webhook/approvers)", nil
	}
	for _, s := range schedules {
		emails, err := dir.OnCallEmails(ctx, s)
		// The emails a directory could read come with ErrEmailHidden.
		if (err == nil || errors.Is(err, ErrEmailHidden)) && containsFold(emails, actor) {
			return true, s, nil
		}
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return false, "", err
		}
	}
	return false, "schedule(s) " + strings.Join(schedules, ", "), nil
}

func (d *Decider) remember(ctx context.Context, a Action, reqID string) {
	if a.DeliveryID == "" {
		return
	}
	now := d.Clock.Now()
	ttl := d.Settings.DeliveryTTL
	if ttl <= 0 {
		ttl = 72 * time.Hour
	}
	err := d.Store.RecordDelivery(ctx, Delivery{ID: a.DeliveryID, Provider: a.Provider, RequestID: reqID, Action: a.verb(), Actor: a.ActorEmail, SeenAt: now, ExpiresAt: now.Add(ttl)})
	if err != nil && !errors.Is(err, ErrExists) {
		logging.FromContext(ctx).Warn("record webhook delivery failed; a retry of it is refused by Teleport's one-review-per-reviewer rule", "error", err.Error())
	}
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}

func providerTitle(p Provider) string {
	switch p {
	case PagerDuty:
		return "PagerDuty"
	case Opsgenie:
		return "Opsgenie"
	case JSM:
		return "Jira Service Management"
	}
	return string(p)
}

func alertNoun(p Provider) string {
	if p == PagerDuty {
		return "incident"
	}
	return "alert"
}

// capitalize upper-cases the first letter of an ASCII word.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
