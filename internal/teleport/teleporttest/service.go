package teleporttest

import (
	"context"
	"strings"

	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"
	"google.golang.org/grpc/metadata"
)

// service implements the RPCs oncallgate uses; every other RPC answers
// "not implemented" through the embedded server.
type service struct {
	proto.UnimplementedAuthServiceServer
	s *Server
}

func (v *service) Ping(ctx context.Context, _ *proto.PingRequest) (*proto.PingResponse, error) {
	return &proto.PingResponse{
		ClusterName:   v.s.cfg.clusterName,
		ServerVersion: v.s.cfg.version,
		ServerFeatures: &proto.Features{
			AdvancedAccessWorkflows: !v.s.cfg.community,
			AccessControls:          !v.s.cfg.community,
		},
	}, nil
}

func (v *service) ListAccessRequests(ctx context.Context, req *proto.ListAccessRequestsRequest) (*proto.ListAccessRequestsResponse, error) {
	if v.s.cfg.noList {
		return nil, trace.NotImplemented("ListAccessRequests is not implemented by this auth server")
	}
	user, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit := v.s.cfg.pageSize
	if req.Limit > 0 && int(req.Limit) < limit {
		limit = int(req.Limit)
	}
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.accessOf(user).List {
		return nil, trace.AccessDenied("access denied to perform action %q on %q", "list", types.KindAccessRequest)
	}
	all := s.matching(req.Filter)
	var page []*types.AccessRequestV3
	next := ""
	for _, r := range all {
		if req.StartKey != "" && sortKey(r) < req.StartKey {
			continue
		}
		if len(page) == limit {
			next = sortKey(r)
			break
		}
		page = append(page, r)
	}
	return &proto.ListAccessRequestsResponse{AccessRequests: page, NextKey: next}, nil
}

func (v *service) GetAccessRequestsV2(filter *types.AccessRequestFilter, stream proto.AuthService_GetAccessRequestsV2Server) error {
	user, _, err := caller(stream.Context())
	if err != nil {
		return err
	}
	s := v.s
	s.mu.Lock()
	if !s.accessOf(user).List {
		s.mu.Unlock()
		return trace.AccessDenied("access denied to perform action %q on %q", "list", types.KindAccessRequest)
	}
	all := s.matching(filter)
	s.mu.Unlock()
	for _, r := range all {
		if err := stream.Send(r); err != nil {
			return trace.Wrap(err)
		}
	}
	return nil
}

func (v *service) SubmitAccessReview(ctx context.Context, sub *types.AccessReviewSubmission) (*types.AccessRequestV3, error) {
	user, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	delegator := ""
	if vals := metadata.ValueFromIncomingContext(ctx, DelegatorMetadata); len(vals) > 0 {
		delegator = vals[0]
	}
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()

	// Community Edition ignores review_requests in roles, so nobody may
	// review; Teleport answers access denied.
	if s.cfg.community || !s.accessOf(user).Review {
		return nil, trace.AccessDenied("user %q cannot submit reviews", user)
	}
	rev := sub.Review
	if rev.Author == "" {
		rev.Author = user
	}
	if rev.Author != user {
		return nil, trace.AccessDenied("user %q cannot submit reviews on behalf of %q", user, rev.Author)
	}
	req, ok := s.requests[sub.RequestID]
	if !ok {
		return nil, trace.NotFound("no access request matching %q", sub.RequestID)
	}
	if req.GetUser() == user {
		return nil, trace.AccessDenied("user %q cannot review their own access request %q", user, sub.RequestID)
	}
	if !rev.ProposedState.IsApproved() && !rev.ProposedState.IsDenied() {
		return nil, trace.BadParameter("review must propose APPROVED or DENIED, got %s", rev.ProposedState)
	}
	for _, existing := range req.GetReviews() {
		if existing.Author == rev.Author {
			return nil, trace.AccessDenied("user %q has already reviewed this request", rev.Author)
		}
	}
	if len(rev.Annotations) != 0 {
		return nil, trace.NotImplemented("review annotations are not supported; omit them")
	}
	if !req.GetState().IsPending() {
		return nil, trace.AccessDenied("the access request is already %s", strings.ToLower(req.GetState().String()))
	}
	if rev.Created.IsZero() {
		rev.Created = s.cfg.clock.Now().UTC()
	}
	rev.ThresholdIndexes = []uint32{0}
	req.SetReviews(append(req.GetReviews(), rev))
	s.delegates[req.GetName()] = append(s.delegates[req.GetName()], delegator)
	// Threshold 1: the first review decides.
	if err := req.SetState(rev.ProposedState); err != nil {
		return nil, trace.Wrap(err)
	}
	req.SetResolveReason(rev.Reason)
	s.emitPut(req)
	return req.Copy().(*types.AccessRequestV3), nil
}

func (v *service) WatchEvents(w *proto.Watch, stream proto.AuthService_WatchEventsServer) error {
	user, _, err := caller(stream.Context())
	if err != nil {
		return err
	}
	var kinds []types.WatchKind
	for _, k := range w.Kinds {
		if k.Kind == types.KindAccessRequest {
			kinds = append(kinds, k)
			continue
		}
		if !w.AllowPartialSuccess {
			return trace.BadParameter("the sandbox cannot watch kind %q", k.Kind)
		}
	}
	if len(kinds) == 0 {
		return trace.BadParameter("nothing to watch")
	}
	s := v.s
	s.mu.Lock()
	if !s.accessOf(user).List {
		s.mu.Unlock()
		return trace.AccessDenied("access denied to perform action %q on %q", "read", types.KindAccessRequest)
	}
	ch := make(chan *proto.Event, watcherBuffer)
	id := s.nextWatch
	s.nextWatch++
	s.watchers[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, id)
		s.mu.Unlock()
	}()

	init, err := client.EventToGRPC(types.Event{Type: types.OpInit, Resource: types.NewWatchStatus(kinds)})
	if err != nil {
		return trace.Wrap(err)
	}
	if err := stream.Send(init); err != nil {
		return trace.Wrap(err)
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return trace.ConnectionProblem(nil, "watcher closed by the auth server")
			}
			if err := stream.Send(ev); err != nil {
				return trace.Wrap(err)
			}
		}
	}
}

// emitPut tells every watcher about req's new state; s.mu must be held.
func (s *Server) emitPut(req *types.AccessRequestV3) {
	s.broadcast(func() (*proto.Event, error) {
		return client.EventToGRPC(types.Event{Type: types.OpPut, Resource: req.Copy()})
	})
}

// emitDelete tells every watcher that request id is gone; s.mu must be held.
func (s *Server) emitDelete(id string) {
	s.broadcast(func() (*proto.Event, error) {
		return client.EventToGRPC(types.Event{Type: types.OpDelete, Resource: &types.ResourceHeader{
			Kind:     types.KindAccessRequest,
			Version:  types.V3,
			Metadata: types.Metadata{Name: id},
		}})
	})
}

// broadcast queues an event of its own (streams marshal concurrently) for
// every watcher and drops watchers that fell too far behind; s.mu must be
// held.
func (s *Server) broadcast(event func() (*proto.Event, error)) {
	for id, ch := range s.watchers {
		ev, err := event()
		if err != nil {
			continue // cannot happen for access requests and headers
		}
		select {
		case ch <- ev:
		default:
			close(ch)
			delete(s.watchers, id)
		}
	}
}
