package core

import (
	"context"
	"time"
)

// Clock tells the time; tests inject one they can move.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Teleport is what oncallgate needs from the Teleport cluster.
type Teleport interface {
	// ListPendingRequests returns every pending access request, following
	// pagination to the end.
	ListPendingRequests(ctx context.Context) ([]Request, error)
	// GetRequest returns one request; an error matching ErrNotFound when it
	// no longer exists (expired or deleted).
	GetRequest(ctx context.Context, id string) (Request, error)
	// SubmitReview submits a review as the plugin user, recording
	// sub.Delegator in the audit log. Returns ErrAlreadyReviewed when the
	// plugin already reviewed it, ErrReviewsUnsupported on Community Edition.
	SubmitReview(ctx context.Context, sub ReviewSubmission) error
}

// AlertMessage is what an alert says. Core builds it (texts in messages.go);
// notifiers only send it.
type AlertMessage struct {
	RequestID string
	DedupKey  string
	Title     string
	Body      string
	User      string
	Roles     []string
	Link      string
	Details   map[string]string
}

// AlertRef identifies an alert at a provider.
type AlertRef struct {
	// ID is the incident/alert ID; empty while an asynchronous creation is
	// pending, then PendingRef is set.
	ID         string
	PendingRef string
	// Resolved is true when the provider reports the alert resolved/closed.
	Resolved bool
}

// Notifier opens, annotates and resolves alerts at one provider.
type Notifier interface {
	// Provider names the provider this notifier talks to.
	Provider() Provider
	// Create opens the alert for msg at target. If an open alert with
	// msg.DedupKey already exists there, Create returns it instead of
	// making another. An unknown target yields an error matching ErrNotFound.
	Create(ctx context.Context, target Target, msg AlertMessage) (AlertRef, error)
	// Find looks up the open alert with dedupKey at target; ErrNotFound when
	// there is none open.
	Find(ctx context.Context, target Target, dedupKey string) (AlertRef, error)
	// Complete turns a pending asynchronous creation into an alert ID;
	// ErrAlertPending while the provider has not processed it yet.
	Complete(ctx context.Context, pendingRef string) (AlertRef, error)
	// Get returns the alert's current state.
	Get(ctx context.Context, alertID string) (AlertRef, error)
	// AddNote posts a note on the alert.
	AddNote(ctx context.Context, alertID, note string) error
	// Resolve posts note (when not empty) and resolves/closes the alert.
	// Resolving an already resolved alert succeeds.
	Resolve(ctx context.Context, alertID, note string) error
}

// PagerDutyUser is a PagerDuty user.
type PagerDutyUser struct {
	ID    string
	Email string
	Name  string
}

// PagerDutyService is a PagerDuty service and its escalation policy.
type PagerDutyService struct {
	ID                 string
	Name               string
	EscalationPolicyID string
}

// PagerDutyOnCall is one on-call entry of a user.
type PagerDutyOnCall struct {
	EscalationPolicyID string
	EscalationLevel    int
}

// PagerDutyIncident is an incident summary.
type PagerDutyIncident struct {
	ID        string
	Number    int
	Title     string
	ServiceID string
	Status    string
}

// PagerDutyDirectory answers the questions PagerDuty auto-approval asks.
type PagerDutyDirectory interface {
	// FindUserByEmail matches the email exactly after lower-casing both
	// sides; ErrNotFound when no user has it.
	FindUserByEmail(ctx context.Context, email string) (PagerDutyUser, error)
	// FindService matches the name exactly, case-insensitively; ErrNotFound
	// when no service has it.
	FindService(ctx context.Context, name string) (PagerDutyService, error)
	// ListOnCalls lists the user's on-call entries in the given escalation
	// policies (all pages).
	ListOnCalls(ctx context.Context, userID string, escalationPolicyIDs []string) ([]PagerDutyOnCall, error)
	// ListActiveIncidents lists triggered or acknowledged incidents assigned
	// to the user in the given services (all pages).
	ListActiveIncidents(ctx context.Context, userID string, serviceIDs []string) ([]PagerDutyIncident, error)
}

// ScheduleDirectory answers "who is on call in this schedule" for Opsgenie
// and JSM.
type ScheduleDirectory interface {
	// OnCallEmails returns the emails of the schedule's current on-call
	// responders; ErrNotFound for an unknown schedule. JSM returns an error
	// naming the account when an email is hidden by privacy settings; it
	// matches ErrEmailHidden (and ErrNotFound), and the visible emails come
	// with it.
	OnCallEmails(ctx context.Context, schedule string) ([]string, error)
}

// Store keeps the request/alert mappings, decisions and webhook deliveries.
type Store interface {
	// ClaimAlert creates the mapping for (requestID, target) in status
	// Claimed with a lease for owner until now+lease, or takes over an
	// existing Claimed mapping whose lease has expired (keeping its
	// AlertID/PendingRef). It returns ErrClaimed when a live claim is held by
	// someone else or the mapping is past the claim stage.
	ClaimAlert(ctx context.Context, requestID string, target Target, owner string, now time.Time, lease time.Duration) (Alert, error)
	// GetAlerts returns every mapping of a request.
	GetAlerts(ctx context.Context, requestID string) ([]Alert, error)
	// UpdateAlert writes a, conditional on the stored version equal to
	// a.Version; returns the stored alert with the incremented version, or
	// ErrConflict.
	UpdateAlert(ctx context.Context, a Alert) (Alert, error)
	// ListOpenAlerts pages through mappings in status Claimed or Open (sparse
	// index); pass the returned cursor back for the next page, "" when done.
	ListOpenAlerts(ctx context.Context, cursor string, limit int) (alerts []Alert, next string, err error)
	// GetRequestRecord returns the request's record; ErrNotFound when none.
	GetRequestRecord(ctx context.Context, requestID string) (RequestRecord, error)
	// PutRequestRecord writes rec, conditional on rec.Version (0 means "must
	// not exist"); returns the stored record or ErrConflict.
	PutRequestRecord(ctx context.Context, rec RequestRecord) (RequestRecord, error)
	// RecordDelivery stores a webhook delivery; ErrExists when seen before.
	RecordDelivery(ctx context.Context, d Delivery) error
	// DeliverySeen reports whether a delivery was recorded (and not expired).
	DeliverySeen(ctx context.Context, id string) (bool, error)
}

// PagerDutyUsers maps a PagerDuty user ID (a webhook's agent) to the user.
type PagerDutyUsers interface {
	GetUser(ctx context.Context, id string) (PagerDutyUser, error)
}

// IncidentKeys finds an alert's dedup key from its provider ID, for webhook
// payloads that carry only the ID.
type IncidentKeys interface {
	DedupKeyOf(ctx context.Context, alertID string) (string, error)
}
