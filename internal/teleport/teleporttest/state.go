package teleporttest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gravitational/teleport/api/types"

	"github.com/oncallgate/oncallgate/internal/core"
)

// NewRequest describes an access request to create in the sandbox.
type NewRequest struct {
	User  string
	Roles []string
	// Resources are requested resource IDs as "/cluster/kind/name".
	Resources []string
	Reason    string
	// Annotations become the request's system annotations, as the
	// requester's role would set them.
	Annotations map[string][]string
	// TTL is how long the request stays pending (default DefaultRequestTTL).
	TTL time.Duration
}

// CreateRequest adds a pending request, tells watchers, and returns its ID.
func (s *Server) CreateRequest(r NewRequest) (string, error) {
	var ids []types.ResourceID
	for _, raw := range r.Resources {
		id, err := types.ResourceIDFromString(raw)
		if err != nil {
			return "", fmt.Errorf("resource %q: %w", raw, err)
		}
		ids = append(ids, id)
	}
	name := uuid.NewString()
	ar, err := types.NewAccessRequestWithResources(name, r.User, r.Roles, ids)
	if err != nil {
		return "", fmt.Errorf("build access request: %w", err)
	}
	req := ar.(*types.AccessRequestV3)
	ttl := r.TTL
	if ttl <= 0 {
		ttl = DefaultRequestTTL
	}
	now := s.cfg.clock.Now().UTC()
	req.SetCreationTime(now)
	req.SetExpiry(now.Add(ttl))
	req.SetAccessExpiry(now.Add(ttl))
	req.SetSessionTLL(now.Add(ttl))
	req.SetRequestReason(r.Reason)
	req.SetSystemAnnotations(cloneAnnotations(r.Annotations))
	req.SetThresholds([]types.AccessReviewThreshold{{Name: "default", Approve: 1, Deny: 1}})

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[name] = req
	s.emitPut(req)
	return name, nil
}

// MustCreateRequest is CreateRequest for tests.
func (s *Server) MustCreateRequest(tb testing.TB, r NewRequest) string {
	tb.Helper()
	id, err := s.CreateRequest(r)
	if err != nil {
		tb.Fatalf("create sandbox access request: %v", err)
	}
	return id
}

// SetState resolves a request directly (as an administrator would with
// tctl requests approve/deny), with reason as the resolve reason.
// core.StateExpired deletes the request, as Teleport does when it expires.
func (s *Server) SetState(id string, state core.State, reason string) error {
	if state == core.StateExpired {
		return s.Delete(id)
	}
	var rs types.RequestState
	switch state {
	case core.StatePending:
		rs = types.RequestState_PENDING
	case core.StateApproved:
		rs = types.RequestState_APPROVED
	case core.StateDenied:
		rs = types.RequestState_DENIED
	case core.StatePromoted:
		rs = types.RequestState_PROMOTED
	default:
		return fmt.Errorf("unknown request state %q", state)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[id]
	if !ok {
		return fmt.Errorf("access request %s: %w", id, core.ErrNotFound)
	}
	if err := req.SetState(rs); err != nil {
		return fmt.Errorf("set state of %s: %w", id, err)
	}
	req.SetResolveReason(reason)
	s.emitPut(req)
	return nil
}

// Delete removes a request (deleted by an administrator, or expired) and
// tells watchers.
func (s *Server) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[id]; !ok {
		return fmt.Errorf("access request %s: %w", id, core.ErrNotFound)
	}
	delete(s.requests, id)
	s.emitDelete(id)
	return nil
}

// Expire removes a request as Teleport does when its TTL runs out.
func (s *Server) Expire(id string) error { return s.Delete(id) }

// ExpireDue removes every request whose expiry is at or before the sandbox
// clock's now, and returns their IDs.
func (s *Server) ExpireDue() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.clock.Now()
	var gone []string
	for id, r := range s.requests {
		if !r.Expiry().After(now) {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		delete(s.requests, id)
		s.emitDelete(id)
	}
	return gone
}

// Request returns a copy of request id.
func (s *Server) Request(id string) (types.AccessRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return nil, false
	}
	return r.Copy(), true
}

// Reviews returns the reviews recorded on request id with the delegator
// each was submitted with; nil when the request is gone or has none.
func (s *Server) Reviews(id string) []Review {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return nil
	}
	var out []Review
	for i, rev := range r.GetReviews() {
		d := ""
		if i < len(s.delegates[id]) {
			d = s.delegates[id][i]
		}
		out = append(out, Review{
			Author:    rev.Author,
			Proposed:  core.State(rev.ProposedState.String()),
			Reason:    rev.Reason,
			Delegator: d,
			Created:   rev.Created,
		})
	}
	return out
}

func cloneAnnotations(in map[string][]string) map[string][]string {
	if in == nil {
		return nil
	}
	out := maps.Clone(in)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}
