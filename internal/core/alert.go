package core

import "time"

// AlertStatus is the life cycle of one (request, target) mapping.
type AlertStatus string

// Mapping states. A mapping is "open" in the sense of the store's sparse
// index while it is Claimed or Open.
const (
	// AlertClaimed: a worker holds the lease and is creating the alert. The
	// alert may already exist at the provider if that worker crashed.
	AlertClaimed AlertStatus = "claimed"
	// AlertOpen: the alert exists (AlertID set, or PendingRef set while an
	// asynchronous creation completes).
	AlertOpen AlertStatus = "open"
	// AlertResolved: the alert was resolved/closed, by us or by a person.
	AlertResolved AlertStatus = "resolved"
)

// Alert maps one access request to its alert in one target. It is the unit
// of exactly-once creation: one item per (RequestID, Target.Key()).
type Alert struct {
	RequestID string
	Target    Target
	Status    AlertStatus

	// AlertID is the provider's incident/alert ID; empty while claimed, or
	// while an asynchronous creation is pending (then PendingRef is set).
	AlertID string
	// PendingRef is the provider's asynchronous request ID (Opsgenie, JSM).
	PendingRef string

	// LeaseOwner and LeaseUntil guard a claim: another worker may take the
	// claim over only after LeaseUntil.
	LeaseOwner string
	LeaseUntil time.Time

	// NotedReviews counts the request's reviews already posted as notes.
	// Teleport's review list only grows, so a count is enough.
	NotedReviews int
	// ClosedExternally records that a person resolved the alert in the
	// provider while the request was still pending.
	ClosedExternally bool

	CreatedAt  time.Time
	UpdatedAt  time.Time
	ResolvedAt time.Time
	// ExpiresAt, when set, is when the store may delete the item (TTL).
	ExpiresAt time.Time

	// Version is the optimistic-lock counter; Store.UpdateAlert succeeds only
	// if the stored version equals it, then increments it.
	Version int64
}

// Decision records one automatic approval decision for one provider, taken at
// most once per request and provider.
type Decision struct {
	RequestID string
	Provider  Provider
	// Approve is true when the rule fired.
	Approve bool
	// Reason says why, in words a responder reads in the incident note.
	Reason string
	// DryRun decisions are recorded and noted but never submitted.
	DryRun bool
	// Submitted is true once the review reached Teleport.
	Submitted bool
	DecidedAt time.Time
}

// RequestRecord is what the store keeps about a request itself (the META
// item): who asked, what was seen, and the decisions taken.
type RequestRecord struct {
	RequestID string
	User      string
	Roles     []string
	// State is the last state oncallgate saw.
	State     State
	Decisions []Decision
	UpdatedAt time.Time
	ExpiresAt time.Time
	Version   int64
}

// Delivery is a webhook delivery remembered for deduplication.
type Delivery struct {
	ID        string
	Provider  Provider
	RequestID string
	Action    string
	Actor     string
	SeenAt    time.Time
	ExpiresAt time.Time
}
