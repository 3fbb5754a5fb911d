package core

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/oncallgate/oncallgate/internal/logging"
)

// Verdict is an auto-approval rule's answer.
type Verdict struct {
	Approve bool
	// Reason is written in the review (when approved) and in the alert note.
	Reason string
}

// Approver applies one provider's on-call rule. It returns an error only
// when the answer could not be found out (provider down); "not on call",
// "unknown user" and the like are verdicts, recorded once.
type Approver interface {
	Decide(ctx context.Context, req Request, sources []string, policy ApprovalPolicy) (Verdict, error)
}

// IsEmail reports whether s is a bare email address.
func IsEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// autoApprove decides, once per request and provider, whether the requester
// is on call, records the decision, notes it on the provider's alerts, and
// submits the review when the rule fired (unless dry-run).
func (p *Poller) autoApprove(ctx context.Context, req Request, routing Routing, pr Provider, alerts []Alert, c *pollCounter) {
	ctx = logging.With(ctx, "provider", string(pr))
	policy := p.Policies[pr]
	rec, err := p.Store.GetRequestRecord(ctx, req.ID)
	if errors.Is(err, ErrNotFound) {
		rec = RequestRecord{RequestID: req.ID, User: req.User, Roles: req.Roles, State: req.State}
	} else if err != nil {
		c.fail(ctx, "read request record failed", err)
		return
	}
	if i := decisionIndex(rec, pr); i >= 0 {
		d := rec.Decisions[i]
		if d.Approve && !d.DryRun && !d.Submitted {
			p.submitApproval(ctx, req, rec, i, c) // an earlier run decided but could not submit
		}
		return
	}

	sources := excludeNotified(ctx, routing, pr)
	v, err := p.decide(ctx, req, pr, sources, policy)
	if err != nil {
		c.fail(ctx, "auto-approval check failed; retrying on the next run", err)
		return
	}
	d := Decision{RequestID: req.ID, Provider: pr, Approve: v.Approve, Reason: v.Reason, DryRun: policy.DryRun, DecidedAt: p.Clock.Now()}
	rec.Decisions = append(rec.Decisions, d)
	rec.UpdatedAt = d.DecidedAt
	rec, err = p.Store.PutRequestRecord(ctx, rec)
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
		return // another worker recorded a decision first
	}
	if err != nil {
		c.fail(ctx, "record auto-approval decision failed", err)
		return
	}
	logging.FromContext(ctx).Info("auto-approval decided", "approve", v.Approve, "dry_run", policy.DryRun, "reason", v.Reason)
	note := DecisionNote(d)
	for _, a := range alerts {
		if err := p.Notifiers[pr].AddNote(ctx, a.AlertID, note); err != nil {
			c.fail(ctx, "post decision note failed", err)
		}
	}
	if !v.Approve || policy.DryRun {
		c.add(func(r *PollResult) { r.NotApproved++ })
		return
	}
	p.submitApproval(ctx, req, rec, len(rec.Decisions)-1, c)
}

func (p *Poller) submitApproval(ctx context.Context, req Request, rec RequestRecord, i int, c *pollCounter) {
	d := rec.Decisions[i]
	err := p.Teleport.SubmitReview(ctx, ReviewSubmission{RequestID: req.ID, Proposed: StateApproved, Reason: d.Reason})
	switch {
	case errors.Is(err, ErrReviewsUnsupported):
		p.logCommunityOnce(ctx)
		return
	case err != nil && !errors.Is(err, ErrAlreadyReviewed):
		c.fail(ctx, "submit auto-approval review failed; retrying on the next run", err)
		return
	}
	rec.Decisions[i].Submitted = true
	rec.UpdatedAt = p.Clock.Now()
	if _, err := p.Store.PutRequestRecord(ctx, rec); err != nil && !errors.Is(err, ErrConflict) {
		c.fail(ctx, "record submitted review failed", err)
	}
	c.add(func(r *PollResult) { r.AutoApproved++ })
	logging.FromContext(ctx).Info("request auto-approved", "reason", d.Reason)
}

// decide applies the provider-independent safety checks, then the
// provider's on-call rule.
func (p *Poller) decide(ctx context.Context, req Request, pr Provider, sources []string, policy ApprovalPolicy) (Verdict, error) {
	if len(sources) == 0 {
		return Verdict{Reason: "no on-call service or schedule left to check after excluding the ones notified"}, nil
	}
	if ok, role := policy.RolesAllowed(req.Roles); !ok {
		return Verdict{Reason: fmt.Sprintf("role %s may not be auto-approved (allowed_roles setting)", role)}, nil
	}
	if !IsEmail(req.User) {
		return Verdict{Reason: fmt.Sprintf("requester %q is not an email address, so it cannot be matched to a %s user", req.User, pr)}, nil
	}
	return p.Approvers[pr].Decide(ctx, req, sources, policy)
}

// excludeNotified drops on-call sources that are also notify targets: the
// notification itself would satisfy the rule (an incident in that very
// service, assigned to whoever is on call there).
func excludeNotified(ctx context.Context, routing Routing, pr Provider) []string {
	notified := map[string]bool{}
	for _, t := range routing.NotifyFor(pr) {
		notified[strings.ToLower(t.Name)] = true
	}
	var out []string
	for _, s := range routing.OnCall[pr] {
		if notified[strings.ToLower(s)] {
			logging.FromContext(ctx).Warn("on-call source is also a notify target and is excluded from auto-approval: the notification itself would satisfy the rule", "source", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

func decisionIndex(rec RequestRecord, pr Provider) int {
	for i, d := range rec.Decisions {
		if d.Provider == pr {
			return i
		}
	}
	return -1
}

// DecisionNote is the alert note recording an auto-approval decision.
func DecisionNote(d Decision) string {
	switch {
	case d.Approve && d.DryRun:
		return "Auto-approval (dry run, no review submitted): would approve. " + d.Reason
	case d.Approve:
		return "Auto-approval: approved. " + d.Reason
	case d.DryRun:
		return "Auto-approval (dry run): not approved. " + d.Reason
	}
	return "Auto-approval: not approved. " + d.Reason
}

// PagerDutyApprover is the seed's rule: the requester is on call in the
// escalation policy of one of the services and, unless the policy says
// otherwise, has a triggered or acknowledged incident assigned in one of
// those services.
type PagerDutyApprover struct {
	Directory PagerDutyDirectory
}

// Decide implements Approver.
func (a PagerDutyApprover) Decide(ctx context.Context, req Request, services []string, policy ApprovalPolicy) (Verdict, error) {
	user, err := a.Directory.FindUserByEmail(ctx, req.User)
	if errors.Is(err, ErrNotFound) {
		return Verdict{Reason: fmt.Sprintf("no PagerDuty user has the email %s", req.User)}, nil
	}
	if err != nil {
		return Verdict{}, fmt.Errorf("find pagerduty user %s: %w", req.User, err)
	}
	var known []PagerDutyService
	for _, name := range services {
		svc, err := a.Directory.FindService(ctx, name)
		if errors.Is(err, ErrNotFound) {
			logging.FromContext(ctx).Warn("pagerduty service in pagerduty_services not found; ignoring it", "service", name)
			continue
		}
		if err != nil {
			return Verdict{}, fmt.Errorf("find pagerduty service %q: %w", name, err)
		}
		known = append(known, svc)
	}
	if len(known) == 0 {
		return Verdict{Reason: fmt.Sprintf("none of the services %s exists in PagerDuty", strings.Join(services, ", "))}, nil
	}
	policies := make([]string, 0, len(known))
	for _, s := range known {
		policies = append(policies, s.EscalationPolicyID)
	}
	oncalls, err := a.Directory.ListOnCalls(ctx, user.ID, policies)
	if err != nil {
		return Verdict{}, fmt.Errorf("list on-calls of %s: %w", req.User, err)
	}
	onPolicy := map[string]bool{}
	for _, oc := range oncalls {
		if policy.MaxEscalationLevel > 0 && oc.EscalationLevel > policy.MaxEscalationLevel {
			continue
		}
		onPolicy[oc.EscalationPolicyID] = true
	}
	var onServices []PagerDutyService
	for _, s := range known {
		if onPolicy[s.EscalationPolicyID] {
			onServices = append(onServices, s)
		}
	}
	if len(onServices) == 0 {
		what := "any escalation level"
		if policy.MaxEscalationLevel > 0 {
			what = fmt.Sprintf("escalation level %d or lower", policy.MaxEscalationLevel)
		}
		return Verdict{Reason: fmt.Sprintf("%s is not on call at %s in %s", req.User, what, serviceNames(known))}, nil
	}
	var incidents []string
	if policy.RequireActiveIncident {
		ids := make([]string, 0, len(onServices))
		for _, s := range onServices {
			ids = append(ids, s.ID)
		}
		active, err := a.Directory.ListActiveIncidents(ctx, user.ID, ids)
		if err != nil {
			return Verdict{}, fmt.Errorf("list active incidents of %s: %w", req.User, err)
		}
		if len(active) == 0 {
			return Verdict{Reason: fmt.Sprintf("%s is on call in %s but has no triggered or acknowledged incident assigned there", req.User, serviceNames(onServices))}, nil
		}
		for _, in := range active {
			incidents = append(incidents, fmt.Sprintf("#%d %s (%s)", in.Number, in.Title, in.ID))
		}
	}
	return Verdict{Approve: true, Reason: OnCallReason(req.User, "service(s)", namesOf(onServices), incidents)}, nil
}

func namesOf(ss []PagerDutyService) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

func serviceNames(ss []PagerDutyService) string { return strings.Join(namesOf(ss), ", ") }

// ScheduleApprover is RFD 109's rule for Opsgenie and JSM: the requester is
// on call in any of the schedules (emails compared case-insensitively).
type ScheduleApprover struct {
	Directory ScheduleDirectory
}

// Decide implements Approver. An unknown schedule is logged and skipped.
// A schedule whose on-call list hides some responder's email (JSM privacy
// settings) still counts the emails it shows; when the requester is not
// among them the reason says why oncallgate could not tell.
func (a ScheduleApprover) Decide(ctx context.Context, req Request, schedules []string, _ ApprovalPolicy) (Verdict, error) {
	var missing, hidden []string
	for _, s := range schedules {
		emails, err := a.Directory.OnCallEmails(ctx, s)
		if err == nil || errors.Is(err, ErrEmailHidden) {
			for _, e := range emails {
				if strings.EqualFold(strings.TrimSpace(e), req.User) {
					return Verdict{Approve: true, Reason: OnCallReason(req.User, "schedule(s)", []string{s}, nil)}, nil
				}
			}
		}
		switch {
		case errors.Is(err, ErrEmailHidden):
			logging.FromContext(ctx).Warn("on-call responder's email is not visible; they cannot be matched", "schedule", s, "error", err.Error())
			hidden = append(hidden, err.Error())
		case errors.Is(err, ErrNotFound):
			logging.FromContext(ctx).Warn("on-call schedule not found; ignoring it", "schedule", s, "error", err.Error())
			missing = append(missing, s)
		case err != nil:
			return Verdict{}, fmt.Errorf("list on-call of schedule %q: %w", s, err)
		}
	}
	if len(hidden) > 0 {
		return Verdict{Reason: fmt.Sprintf("could not tell whether %s is on call in %s: %s",
			req.User, strings.Join(schedules, ", "), strings.Join(hidden, "; "))}, nil
	}
	if len(missing) == len(schedules) {
		return Verdict{Reason: fmt.Sprintf("none of the schedules %s was found", strings.Join(schedules, ", "))}, nil
	}
	return Verdict{Reason: fmt.Sprintf("%s is not on call in %s", req.User, strings.Join(schedules, ", "))}, nil
}
