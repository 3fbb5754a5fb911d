package core

import (
	"strings"
	"time"
)

// ApprovalPolicy are the auto-approval safety settings of one provider.
type ApprovalPolicy struct {
	// Enabled turns auto-approval on (default true).
	Enabled bool
	// RequireActiveIncident (PagerDuty) also requires a triggered or
	// acknowledged incident assigned to the requester in one of the services,
	// as the seed describes (default true).
	RequireActiveIncident bool
	// MaxEscalationLevel (PagerDuty) counts only on-call entries at or below
	// this escalation level; 0 means any level.
	MaxEscalationLevel int
	// AllowedRoles, when not empty, lists the only roles that may ever be
	// auto-approved: a request for any other role is left to a person.
	AllowedRoles []string
	// DryRun decides and records but never submits the review.
	DryRun bool
}

// RolesAllowed reports whether every requested role is allowed, and the
// first one that is not.
func (p ApprovalPolicy) RolesAllowed(roles []string) (ok bool, denied string) {
	if len(p.AllowedRoles) == 0 {
		return true, ""
	}
	for _, r := range roles {
		allowed := false
		for _, a := range p.AllowedRoles {
			if strings.EqualFold(r, a) {
				allowed = true
				break
			}
		}
		if !allowed {
			return false, r
		}
	}
	return true, ""
}

// PollSettings bound the poller's work.
type PollSettings struct {
	// Concurrency is how many requests are worked on at once (default 8).
	Concurrency int
	// ClaimLease is how long a claim protects an alert creation before
	// another worker may take it over (default 2m).
	ClaimLease time.Duration
	// DeadlineMargin: no new work starts when less than this remains before
	// the invocation deadline (default 10s).
	DeadlineMargin time.Duration
	// WatchWindow, when above zero, keeps a Teleport watcher open after the
	// listing pass for this long, ending DeadlineMargin before the
	// invocation's deadline at the latest (default 0: off).
	WatchWindow time.Duration
}
