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

// AlertDedupKey is the dedup key of the alert for one (request, target).
// PagerDuty incident keys are unique per service, so every service uses the
// request's DedupKey. Opsgenie/JSM aliases are unique per account: when a
// request notifies several responders of one provider (shared is true),
// each alert's alias adds the target; a single one keeps the plain key.
func AlertDedupKey(requestID string, t Target, shared bool) string {
	if t.Provider == PagerDuty || !shared {
		return DedupKey(requestID)
	}
	return DedupKey(requestID) + "/" + strings.TrimPrefix(t.Key(), string(t.Provider)+"#")
}

// dedupKeyCandidates lists the keys an alert of (request, target) may
// carry, for lookups where the request's routing is no longer known.
func dedupKeyCandidates(requestID string, t Target) []string {
	if t.Provider == PagerDuty {
		return []string{DedupKey(requestID)}
	}
	return []string{DedupKey(requestID), AlertDedupKey(requestID, t, true)}
}

// RequestIDFromDedupKey is the inverse of DedupKey and AlertDedupKey; ok is
// false when key was not made by them.
func RequestIDFromDedupKey(key string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(key, "teleport-access-request/")
	id, _, _ = strings.Cut(rest, "/")
	return id, ok && id != ""
}
