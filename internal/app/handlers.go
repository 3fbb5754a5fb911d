package app

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/metrics"
	"github.com/oncallgate/oncallgate/internal/webhook"
)

// PollReport is the poller's answer to the Lambda runtime (visible in `sam
// local invoke` and the console's test tab).
type PollReport struct {
	OK         bool            `json:"ok"`
	Error      string          `json:"error,omitempty"`
	DurationMs int64           `json:"duration_ms"`
	Result     core.PollResult `json:"result"`
}

// ReconcileReport is the reconcile function's answer.
type ReconcileReport struct {
	OK         bool         `json:"ok"`
	Error      string       `json:"error,omitempty"`
	DurationMs int64        `json:"duration_ms"`
	Repairs    core.Repairs `json:"repairs"`
}

func ownerFrom(ctx context.Context, fn string) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return NewOwner(fn + "-" + lc.AwsRequestID)
	}
	return NewOwner(fn)
}

// HandlePoll is the poller function's handler for its EventBridge schedule.
//
// It never returns an error to Lambda: a retry of a scheduled event by Lambda
// would only repeat what the next scheduled run does anyway. Failures are
// logged, counted (PollSucceeded=0, Errors by kind) and reported in the
// answer.
func (a *App) HandlePoll(ctx context.Context, _ events.EventBridgeEvent) (PollReport, error) {
	ctx = a.Context(ctx)
	start := time.Now()
	rep := PollReport{}
	p, _, err := a.Poller(ctx, ownerFrom(ctx, "poller"))
	if err == nil {
		rep.Result, err = p.Run(ctx)
	}
	rep.DurationMs = time.Since(start).Milliseconds()
	a.recordPoll(ctx, rep.Result, err, rep.DurationMs)
	if err != nil {
		rep.Error = err.Error()
		logging.FromContext(ctx).Error("poll failed", "error", err.Error(), "error_kind", core.ErrorKind(err))
		return rep, nil
	}
	rep.OK = true
	r := rep.Result
	logging.FromContext(ctx).Info("poll finished", "pending", r.Pending, "alerts_created", r.AlertsCreated,
		"alerts_resolved", r.AlertsResolved, "notes", r.NotesPosted, "auto_approved", r.AutoApproved,
		"errors", r.Errors, "remaining", r.Remaining, "changes", r.Changes, "watch_restarts", r.WatchRestarts,
		"duration_ms", rep.DurationMs)
	return rep, nil
}

func (a *App) recordPoll(ctx context.Context, r core.PollResult, err error, ms int64) {
	ok := 0.0
	if err == nil {
		ok = 1
	}
	if r.Changes > 0 || r.WatchRestarts > 0 {
		a.Metrics.Counts(map[string]float64{metrics.WatchChanges: float64(r.Changes), metrics.WatchRestarts: float64(r.WatchRestarts)})
	}
	a.Metrics.Counts(map[string]float64{
		metrics.RequestsSeen:         float64(r.Pending),
		metrics.AlertsCreated:        float64(r.AlertsCreated),
		metrics.AlertsResolved:       float64(r.AlertsResolved),
		metrics.AutoApprovals:        float64(r.AutoApproved),
		metrics.AutoApprovalRefusals: float64(r.NotApproved),
		metrics.Backlog:              float64(r.Remaining),
		metrics.PollDurationMs:       float64(ms),
		metrics.PollSucceeded:        ok,
	})
	kinds := map[string]int{}
	for k, v := range r.ErrorsByKind {
		kinds[k] += v
	}
	if err != nil {
		kinds[core.ErrorKind(err)]++
	}
	a.Metrics.ErrorsByKind(kinds)
}

// HandleReconcile is the reconcile function's handler. Like HandlePoll it
// reports failures instead of asking Lambda to retry.
func (a *App) HandleReconcile(ctx context.Context, _ events.EventBridgeEvent) (ReconcileReport, error) {
	ctx = a.Context(ctx)
	start := time.Now()
	rep := ReconcileReport{}
	p, s, err := a.Poller(ctx, ownerFrom(ctx, "reconcile"))
	if err == nil {
		rc := &core.Reconciler{Poller: p, ReopenClosed: s.Config.Reconcile.ReopenClosed}
		rep.Repairs, err = rc.Run(ctx)
	}
	rep.DurationMs = time.Since(start).Milliseconds()
	r := rep.Repairs
	repaired := r.ResolvedMissed + r.ClaimsRecovered + r.Reopened + r.PendingCompleted + r.Created
	a.Metrics.Counts(map[string]float64{
		metrics.Repairs:        float64(repaired),
		metrics.AlertsCreated:  float64(r.Created),
		metrics.AlertsResolved: float64(r.ResolvedMissed),
		metrics.Backlog:        float64(r.Remaining),
		metrics.PollDurationMs: float64(rep.DurationMs),
	})
	if err != nil {
		rep.Error = err.Error()
		a.Metrics.ErrorsByKind(map[string]int{core.ErrorKind(err): 1})
		logging.FromContext(ctx).Error("reconcile failed", "error", err.Error(), "error_kind", core.ErrorKind(err))
		return rep, nil
	}
	rep.OK = true
	logging.FromContext(ctx).Info("reconcile finished", "checked", r.Checked, "resolved_missed", r.ResolvedMissed,
		"claims_recovered", r.ClaimsRecovered, "adopted", r.Adopted, "closed_externally", r.ClosedExternally,
		"reopened", r.Reopened, "pending_completed", r.PendingCompleted, "created", r.Created,
		"errors", r.Errors, "remaining", r.Remaining, "duration_ms", rep.DurationMs)
	return rep, nil
}

// WebhookHandler is the webhook function's HTTP handler (served through the
// Lambda function URL by lambdaurl, or on localhost by the CLI).
func (a *App) WebhookHandler() http.Handler {
	h := &webhook.Handler{
		Clock: a.clock,
		Load: func(ctx context.Context) (webhook.Deps, error) {
			s, err := a.Services(ctx)
			if err != nil {
				return webhook.Deps{}, err
			}
			cfg := s.Config
			d := &core.Decider{
				Teleport:     s.Teleport,
				Store:        a.Store,
				Notifiers:    s.Notifiers,
				Schedules:    s.Schedules,
				IncidentKeys: map[core.Provider]core.IncidentKeys{},
				Settings:     cfg.Webhook.Settings(),
				Clock:        a.clock,
			}
			if s.PagerDuty != nil {
				d.PagerDuty, d.PagerDutyUsers = s.PagerDuty, s.PagerDuty
				d.IncidentKeys[core.PagerDuty] = s.PagerDuty
			}
			return webhook.Deps{Decider: d, Secrets: webhook.Secrets{
				PagerDuty:        cfg.Secrets.PagerDutyWebhookSecret,
				PagerDutySigning: cfg.Secrets.PagerDutySigningSecrets,
				Opsgenie:         cfg.Secrets.OpsgenieWebhookSecret,
				JSM:              cfg.Secrets.JSMWebhookSecret,
			}}, nil
		},
		Observe: func(p core.Provider, status string, _ core.Refusal) {
			switch status {
			case core.OutcomeAccepted:
				a.Metrics.Counts(map[string]float64{metrics.WebhookDecisions: 1})
			case core.OutcomeRefused:
				a.Metrics.Counts(map[string]float64{metrics.WebhookRefusals: 1})
			case "error":
				a.Metrics.ErrorsByKind(map[string]int{"webhook": 1})
			}
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(a.Context(r.Context())))
	})
}
