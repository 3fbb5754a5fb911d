package teleport

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/teleport/api/utils"
	"github.com/gravitational/trace"
	"google.golang.org/grpc/metadata"

	"github.com/oncallgate/oncallgate/internal/core"
)

// listPageSize is the page size asked of ListAccessRequests; the server may
// answer smaller pages, and the client follows NextKey to the end.
const listPageSize = 200

// delegatorMetadata is the gRPC metadata key the delegator travels under
// with a review. The teleport/api client carries utils.WithDelegator only
// for SetAccessRequestState, not for reviews; Teleport ignores this key, so
// the delegator also goes into the review reason (see reviewReason), which
// Teleport stores with the review and writes to its audit log.
const delegatorMetadata = "delegator"

// ListPendingRequests returns every pending access request, following
// pagination to the end. Against auth servers without the paginated
// ListAccessRequests the client falls back to the streaming
// GetAccessRequests.
func (c *Client) ListPendingRequests(ctx context.Context) ([]core.Request, error) {
	reqs, err := c.list(ctx, types.AccessRequestFilter{State: types.RequestState_PENDING})
	if err != nil {
		return nil, fmt.Errorf("list pending access requests: %w", err)
	}
	out := make([]core.Request, 0, len(reqs))
	for _, r := range reqs {
		// Old servers may ignore the state filter; keep only pending ones.
		if r.GetState().IsPending() {
			out = append(out, toCore(r))
		}
	}
	return out, nil
}

// GetRequest returns one request; core.ErrNotFound when it no longer
// exists (expired or deleted).
func (c *Client) GetRequest(ctx context.Context, id string) (core.Request, error) {
	reqs, err := c.list(ctx, types.AccessRequestFilter{ID: id})
	if err != nil {
		return core.Request{}, fmt.Errorf("get access request %s: %w", id, err)
	}
	for _, r := range reqs {
		if r.GetName() == id {
			return toCore(r), nil
		}
	}
	return core.Request{}, fmt.Errorf("get access request %s: it no longer exists (expired or deleted): %w", id, core.ErrNotFound)
}

func (c *Client) list(ctx context.Context, filter types.AccessRequestFilter) ([]*types.AccessRequestV3, error) {
	s, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.release(s)
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	reqs, err := s.clt.ListAllAccessRequests(ctx, &proto.ListAccessRequestsRequest{Filter: &filter, Limit: listPageSize})
	if err != nil {
		return nil, c.fail(s, err, hintList)
	}
	return reqs, nil
}

// SubmitReview submits a review as the plugin user. The delegator is set
// with utils.WithDelegator, sent as gRPC metadata, and named in the reason
// unless the reason already names the person. It returns
// core.ErrAlreadyReviewed when the plugin user reviewed the request before
// and core.ErrReviewsUnsupported when the cluster takes no reviews
// (Community Edition).
func (c *Client) SubmitReview(ctx context.Context, sub core.ReviewSubmission) error {
	var proposed types.RequestState
	switch sub.Proposed {
	case core.StateApproved:
		proposed = types.RequestState_APPROVED
	case core.StateDenied:
		proposed = types.RequestState_DENIED
	default:
		return fmt.Errorf("submit review for request %s: proposed state %q is neither APPROVED nor DENIED: %w", sub.RequestID, sub.Proposed, core.ErrInvalid)
	}
	s, err := c.acquire(ctx)
	if err != nil {
		return fmt.Errorf("submit review for request %s: %w", sub.RequestID, err)
	}
	defer c.release(s)

	rctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if sub.Delegator != "" {
		rctx = utils.WithDelegator(rctx, sub.Delegator)
		rctx = metadata.AppendToOutgoingContext(rctx, delegatorMetadata, metadataValue(sub.Delegator))
	}
	_, err = s.clt.SubmitAccessReview(rctx, types.AccessReviewSubmission{
		RequestID: sub.RequestID,
		Review: types.AccessReview{
			// Author stays empty: Teleport fills in the caller, the
			// plugin user of the identity.
			ProposedState: proposed,
			Reason:        reviewReason(sub.Reason, sub.Delegator),
			Created:       c.cfg.Clock.Now().UTC(),
		},
	})
	if err == nil {
		return nil
	}
	return fmt.Errorf("submit %s review for request %s: %w", strings.ToLower(proposed.String()), sub.RequestID, c.reviewError(ctx, s, err))
}

// reviewError classifies a failed review. Teleport answers access denied
// both for "already reviewed" and for "may not review"; on a denial the
// cluster's features tell Community Edition (no reviews at all) from a role
// without review_requests.
func (c *Client) reviewError(ctx context.Context, s *session, err error) error {
	if !trace.IsAccessDenied(err) {
		return c.fail(s, err, hintReview)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, alreadyReviewedText):
		return &kindError{kind: core.ErrAlreadyReviewed, err: err}
	case strings.Contains(msg, "already approved"), strings.Contains(msg, "already denied"), strings.Contains(msg, "already promoted"):
		return &kindError{kind: core.ErrInvalid, hint: "the request is no longer pending", err: err}
	}
	info, perr := c.ping(ctx, s)
	if perr == nil && !info.ReviewsSupported {
		return &kindError{kind: core.ErrReviewsUnsupported, hint: "this cluster does not offer advanced access workflows (Teleport Community Edition)", err: err}
	}
	return c.fail(s, err, hintReview)
}

// reviewReason makes sure the review Teleport stores names who acted:
// delegator is appended unless reason already names its person (the part
// after "provider:").
func reviewReason(reason, delegator string) string {
	if delegator == "" {
		return reason
	}
	who := delegator
	if _, after, ok := strings.Cut(delegator, ":"); ok && after != "" {
		who = after
	}
	if strings.Contains(strings.ToLower(reason), strings.ToLower(who)) {
		return reason
	}
	if reason == "" {
		return "on behalf of " + delegator
	}
	return reason + " (on behalf of " + delegator + ")"
}

// metadataValue makes s acceptable as a gRPC metadata value (printable
// ASCII), escaping anything else.
func metadataValue(s string) string {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// toCore converts a Teleport access request into oncallgate's view.
func toCore(r types.AccessRequest) core.Request {
	out := core.Request{
		ID:            r.GetName(),
		User:          r.GetUser(),
		Roles:         slices.Clone(r.GetRoles()),
		Reason:        r.GetRequestReason(),
		Created:       r.GetCreationTime(),
		Expires:       r.Expiry(),
		State:         toState(r.GetState()),
		ResolveReason: r.GetResolveReason(),
		Annotations:   cloneAnnotations(r.GetSystemAnnotations()),
	}
	if out.Expires.IsZero() {
		out.Expires = r.GetAccessExpiry()
	}
	for _, id := range r.GetRequestedResourceIDs() {
		out.Resources = append(out.Resources, types.ResourceIDToString(id))
	}
	for _, rev := range r.GetReviews() {
		out.Reviews = append(out.Reviews, core.Review{
			Author:   rev.Author,
			Proposed: toState(rev.ProposedState),
			Reason:   rev.Reason,
			Created:  rev.Created,
		})
	}
	return out
}

func toState(s types.RequestState) core.State {
	switch s {
	case types.RequestState_PENDING:
		return core.StatePending
	case types.RequestState_APPROVED:
		return core.StateApproved
	case types.RequestState_DENIED:
		return core.StateDenied
	case types.RequestState_PROMOTED:
		return core.StatePromoted
	case types.RequestState_NONE:
		return ""
	}
	return core.State(s.String())
}

func cloneAnnotations(in map[string][]string) map[string][]string {
	if len(in) == 0 {
		return nil
	}
	out := maps.Clone(in)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}
