package teleport

import (
	"context"
	"fmt"

	"github.com/coreos/go-semver/semver"
	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"

	"github.com/oncallgate/oncallgate/internal/core"
)

// ServerInfo is what the cluster says about itself.
type ServerInfo struct {
	Version     string
	ClusterName string
	// ReviewsSupported is true when the cluster takes access request
	// reviews from plugins (advanced access workflows: Teleport Enterprise
	// and Cloud); false on Community Edition.
	ReviewsSupported bool
}

// Ping asks the cluster for its version and features. It returns the info
// together with an error matching core.ErrInvalid when the server is older
// than MinServerVersion.
func (c *Client) Ping(ctx context.Context) (ServerInfo, error) {
	s, err := c.acquire(ctx)
	if err != nil {
		return ServerInfo{}, fmt.Errorf("ping teleport: %w", err)
	}
	defer c.release(s)
	info, err := c.ping(ctx, s)
	if err != nil {
		return ServerInfo{}, fmt.Errorf("ping teleport: %w", err)
	}
	return info, c.checkVersion(info)
}

func (c *Client) ping(ctx context.Context, s *session) (ServerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	rsp, err := s.clt.Ping(ctx)
	if err != nil {
		return ServerInfo{}, c.fail(s, err, "")
	}
	return ServerInfo{
		Version:          rsp.ServerVersion,
		ClusterName:      rsp.ClusterName,
		ReviewsSupported: rsp.ServerFeatures != nil && rsp.ServerFeatures.AdvancedAccessWorkflows,
	}, nil
}

func (c *Client) checkVersion(info ServerInfo) error {
	have, err := parseVersion(info.Version)
	if err != nil {
		return fmt.Errorf("teleport cluster %s reports version %q, which is not a version number: %w", info.ClusterName, info.Version, core.ErrInvalid)
	}
	want, _ := parseVersion(c.cfg.MinServerVersion) // checked by New
	if have.LessThan(*want) {
		return fmt.Errorf("teleport cluster %s runs version %s, older than %s, the oldest oncallgate supports; upgrade the cluster: %w",
			info.ClusterName, info.Version, c.cfg.MinServerVersion, core.ErrInvalid)
	}
	return nil
}

// parseVersion parses a version, ignoring pre-release and build parts, so
// that "17.0.0-dev" counts as 17.0.0.
func parseVersion(v string) (*semver.Version, error) {
	sv, err := semver.NewVersion(trimV(v))
	if err != nil {
		return nil, err
	}
	sv.PreRelease, sv.Metadata = "", ""
	return sv, nil
}

func trimV(v string) string {
	if len(v) > 0 && (v[0] == 'v' || v[0] == 'V') {
		return v[1:]
	}
	return v
}

// Permissions is what the plugin's identity may do, as far as can be told
// without changing anything.
type Permissions struct {
	// CanList: listing access requests succeeded (rule access_request:
	// list, read).
	CanList bool
	// CanReview: the cluster takes reviews from plugins. Teleport offers no
	// dry run for reviews and no call that says whether the caller's roles
	// carry review_requests for a given role, so the only proof is a
	// submitted review, which would change a real request. A role without
	// review_requests therefore still shows up as core.ErrPermission on the
	// first review; CanReview false means no review can ever succeed here
	// (Community Edition).
	CanReview bool
}

// CheckPermissions finds out what the identity may do, for the operator
// CLI. A denied list is reported as CanList false, not as an error.
func (c *Client) CheckPermissions(ctx context.Context) (Permissions, error) {
	s, err := c.acquire(ctx)
	if err != nil {
		return Permissions{}, fmt.Errorf("check teleport permissions: %w", err)
	}
	defer c.release(s)
	info, err := c.ping(ctx, s)
	if err != nil {
		return Permissions{}, fmt.Errorf("check teleport permissions: %w", err)
	}
	p := Permissions{CanReview: info.ReviewsSupported}

	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req := &proto.ListAccessRequestsRequest{Filter: &types.AccessRequestFilter{State: types.RequestState_PENDING}, Limit: 1}
	_, err = s.clt.ListAccessRequests(lctx, req)
	if trace.IsNotImplemented(err) {
		_, err = s.clt.ListAllAccessRequests(lctx, req) // falls back to the old streaming call
	}
	switch {
	case err == nil:
		p.CanList = true
	case trace.IsAccessDenied(err):
	default:
		return Permissions{}, fmt.Errorf("check teleport permissions: list access requests: %w", c.fail(s, err, hintList))
	}
	return p, nil
}
