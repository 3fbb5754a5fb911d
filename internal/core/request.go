package core

import (
	"strings"
	"time"
)

// State is an access request's state as oncallgate sees it. Teleport's
// NONE/PENDING/APPROVED/DENIED/PROMOTED, plus Expired for a request that is
// gone from Teleport (expired or deleted).
type State string

// Request states.
const (
	StatePending  State = "PENDING"
	StateApproved State = "APPROVED"
	StateDenied   State = "DENIED"
	StatePromoted State = "PROMOTED"
	StateExpired  State = "EXPIRED"
)

// Resolved reports whether the request has left the pending state for good.
func (s State) Resolved() bool { return s != StatePending && s != "" }

// Verb is the word used in resolution notes: "approved", "denied", ...
func (s State) Verb() string { return strings.ToLower(string(s)) }

// Review is one review recorded on an access request.
type Review struct {
	Author   string
	Proposed State // StateApproved or StateDenied
	Reason   string
	Created  time.Time
}

// Request is an access request as oncallgate sees it. Annotations are the
// request's system annotations (set by the requester's role); their keys are
// matched case-insensitively by ParseRouting.
type Request struct {
	ID            string
	User          string
	Roles         []string
	Resources     []string
	Reason        string
	Created       time.Time
	Expires       time.Time
	State         State
	ResolveReason string
	Reviews       []Review
	Annotations   map[string][]string
}

// ReviewSubmission is a review oncallgate submits to Teleport, as its own
// plugin user, on behalf of Delegator (recorded in Teleport's audit log).
type ReviewSubmission struct {
	RequestID string
	Proposed  State // StateApproved or StateDenied
	Reason    string
	// Delegator names who acted, e.g. "pagerduty:alice@example.com". Empty
	// for oncallgate's own decisions.
	Delegator string
}

// DedupKey is the provider-side deduplication key of a request's alerts:
// PagerDuty incident_key, Opsgenie/JSM alias.
func DedupKey(requestID string) string { return "teleport-access-request/" + requestID }

// RequestIDFromDedupKey is the inverse of DedupKey; ok is false when key was
// not made by DedupKey.
func RequestIDFromDedupKey(key string) (id string, ok bool) {
	id, ok = strings.CutPrefix(key, "teleport-access-request/")
	return id, ok && id != ""
}
