package teleporttest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/trace"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// dial connects the real Teleport client to srv as user.
func dial(t *testing.T, srv *teleporttest.Server, user string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clt, err := client.New(ctx, client.Config{
		Addrs:       []string{srv.Addr()},
		Credentials: []client.Credentials{client.LoadIdentityFileFromString(srv.IdentityFile(t, user, time.Hour))},
		DialTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = clt.Close() })
	return clt
}

func TestReviewRulesMatchTeleport(t *testing.T) {
	srv := teleporttest.Start(t)
	ctx := context.Background()
	id := srv.MustCreateRequest(t, teleporttest.NewRequest{User: "alice@example.com", Roles: []string{"dev"}})
	review := func(clt *client.Client, author string) error {
		_, err := clt.SubmitAccessReview(ctx, types.AccessReviewSubmission{RequestID: id, Review: types.AccessReview{
			Author: author, ProposedState: types.RequestState_APPROVED,
		}})
		return err
	}

	tests := []struct {
		name   string
		user   string
		author string
		check  func(error) bool
	}{
		{"a requester cannot review their own request", "alice@example.com", "", trace.IsAccessDenied},
		{"nobody reviews on behalf of another user", "bob", "carol", trace.IsAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := review(dial(t, srv, tt.user), tt.author); !tt.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if n := len(srv.Reviews(id)); n != 0 {
		t.Fatalf("%d reviews recorded by refused calls", n)
	}
	bob := dial(t, srv, "bob")
	if err := review(bob, ""); err != nil {
		t.Fatalf("first review: %v", err)
	}
	if revs := srv.Reviews(id); len(revs) != 1 || revs[0].Author != "bob" || revs[0].Delegator != "" {
		t.Fatalf("reviews %+v", revs)
	}
	if r, _ := srv.Request(id); !r.GetState().IsApproved() {
		t.Fatalf("state %s", r.GetState())
	}
	if err := review(dial(t, srv, "dave"), ""); !trace.IsAccessDenied(err) {
		t.Fatalf("review of an approved request: %v", err)
	}
}

func TestExpireDueFollowsTheClock(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	srv := teleporttest.Start(t, teleporttest.WithClock(clock))
	short := srv.MustCreateRequest(t, teleporttest.NewRequest{User: "alice@example.com", Roles: []string{"dev"}, TTL: 10 * time.Minute})
	long := srv.MustCreateRequest(t, teleporttest.NewRequest{User: "alice@example.com", Roles: []string{"dev"}, TTL: 2 * time.Hour})
	if r, _ := srv.Request(short); !r.GetCreationTime().Equal(clock.Now()) {
		t.Errorf("created %v, want the sandbox clock's %v", r.GetCreationTime(), clock.Now())
	}
	if gone := srv.ExpireDue(); len(gone) != 0 {
		t.Fatalf("expired too early: %v", gone)
	}
	clock.Advance(time.Hour)
	if gone := srv.ExpireDue(); len(gone) != 1 || gone[0] != short {
		t.Fatalf("expired %v, want [%s]", gone, short)
	}
	if _, ok := srv.Request(long); !ok {
		t.Error("the long request expired too")
	}
	if err := srv.SetState(short, core.StateApproved, ""); err == nil {
		t.Error("an expired request changed state")
	}
}

func TestInjectedFaultsKeepTheirKind(t *testing.T) {
	srv := teleporttest.Start(t)
	clt := dial(t, srv, "oncallgate")
	srv.FailNext("Ping", trace.ConnectionProblem(nil, "restarting"), 1)
	if _, err := clt.Ping(context.Background()); !trace.IsConnectionProblem(err) {
		t.Fatalf("got %v, want a connection problem", err)
	}
	if _, err := clt.Ping(context.Background()); err != nil {
		t.Fatalf("second ping: %v", err)
	}
	if n := srv.CallCount("Ping"); n != 2 {
		t.Errorf("%d pings recorded", n)
	}
}
