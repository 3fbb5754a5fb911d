package teleport_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gravitational/trace"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/teleport"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// pluginUser is the Teleport user of the plugin's identity in these tests.
const pluginUser = "oncallgate"

// testDialTimeout keeps refused connections short.
const testDialTimeout = 2 * time.Second

// source is an IdentitySource a test can rotate.
type source struct {
	mu       sync.Mutex
	identity string
	version  string
	calls    int
	fresh    int
	// renewed, when set, is handed out instead once the adapter asks for a
	// fresh identity.
	renewed, renewedVersion string
}

func (s *source) get(ctx context.Context) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if teleport.FreshIdentityRequested(ctx) {
		s.fresh++
		if s.renewed != "" {
			s.identity, s.version, s.renewed = s.renewed, s.renewedVersion, ""
		}
	}
	return s.identity, s.version, nil
}

func (s *source) set(identity, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identity, s.version = identity, version
}

func (s *source) freshRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fresh
}

func newClient(t *testing.T, addr string, src *source, clock core.Clock) *teleport.Client {
	t.Helper()
	if clock == nil {
		clock = core.SystemClock{}
	}
	c, err := teleport.New(teleport.Config{
		Address:      addr,
		Identity:     src.get,
		IdentityName: "secret oncallgate-test",
		Clock:        clock,
		DialTimeout:  testDialTimeout,
	})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// setup starts a sandbox and a client for the plugin user.
func setup(t *testing.T, opts ...teleporttest.Option) (*teleporttest.Server, *teleport.Client) {
	t.Helper()
	srv := teleporttest.Start(t, opts...)
	src := &source{identity: srv.IdentityFile(t, pluginUser, 12*time.Hour), version: "v1"}
	return srv, newClient(t, srv.Addr(), src, nil)
}

// ctxT is a test's context: bounded, and logging to the test's log.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return logging.WithLogger(ctx, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func create(t *testing.T, srv *teleporttest.Server, user string) string {
	t.Helper()
	return srv.MustCreateRequest(t, teleporttest.NewRequest{User: user, Roles: []string{"prod-admin"}, Reason: "deploy"})
}

func TestListPendingRequestsFollowsEveryPage(t *testing.T) {
	tests := []struct {
		name       string
		opts       []teleporttest.Option
		method     string
		wantCalls  int
		wantNoCall string
	}{
		{"paginated ListAccessRequests", []teleporttest.Option{teleporttest.WithPageSize(10)}, "ListAccessRequests", 3, "GetAccessRequestsV2"},
		{"fallback to streaming GetAccessRequests when ListAccessRequests is not implemented", []teleporttest.Option{teleporttest.WithPageSize(10), teleporttest.WithoutListAccessRequests()}, "GetAccessRequestsV2", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t, tt.opts...)
			want := map[string]bool{}
			for i := 0; i < 25; i++ {
				want[create(t, srv, "alice@example.com")] = true
			}
			for i := 0; i < 3; i++ {
				id := create(t, srv, "bob@example.com")
				if err := srv.SetState(id, core.StateApproved, "ok"); err != nil {
					t.Fatal(err)
				}
			}

			got, err := c.ListPendingRequests(ctxT(t))
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d pending requests, want %d", len(got), len(want))
			}
			for _, r := range got {
				if !want[r.ID] {
					t.Errorf("unexpected request %s (state %s)", r.ID, r.State)
				}
				if r.State != core.StatePending {
					t.Errorf("request %s state %s", r.ID, r.State)
				}
			}
			if n := srv.CallCount(tt.method); n != tt.wantCalls {
				t.Errorf("%s called %d times, want %d", tt.method, n, tt.wantCalls)
			}
			if tt.wantNoCall != "" && srv.CallCount(tt.wantNoCall) != 0 {
				t.Errorf("%s should not be called", tt.wantNoCall)
			}
		})
	}
}

func TestRequestConvertsEveryField(t *testing.T) {
	srv, c := setup(t)
	id := srv.MustCreateRequest(t, teleporttest.NewRequest{
		User:        "alice@example.com",
		Roles:       []string{"prod-admin", "db"},
		Resources:   []string{"/sandbox.example.com/node/web-1"},
		Reason:      "deploy hotfix",
		Annotations: map[string][]string{"pagerduty_notify_service": {"Teleport Notifications"}},
		TTL:         2 * time.Hour,
	})
	ar, _ := srv.Request(id)
	ctx := ctxT(t)
	if err := c.SubmitReview(ctx, core.ReviewSubmission{RequestID: id, Proposed: core.StateDenied, Reason: "not now"}); err != nil {
		t.Fatalf("review: %v", err)
	}

	got, err := c.GetRequest(ctx, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.ID != id || got.User != "alice@example.com" || strings.Join(sorted(got.Roles), ",") != "db,prod-admin" || got.Reason != "deploy hotfix" {
		t.Errorf("identity fields: %+v", got)
	}
	if strings.Join(got.Resources, ",") != "/sandbox.example.com/node/web-1" {
		t.Errorf("resources %v", got.Resources)
	}
	if !got.Created.Equal(ar.GetCreationTime()) || !got.Expires.Equal(ar.Expiry()) || got.Expires.Sub(got.Created) != 2*time.Hour {
		t.Errorf("created %v expires %v", got.Created, got.Expires)
	}
	if got.State != core.StateDenied || got.ResolveReason != "not now" {
		t.Errorf("state %s resolve reason %q", got.State, got.ResolveReason)
	}
	if v := got.Annotations["pagerduty_notify_service"]; len(v) != 1 || v[0] != "Teleport Notifications" {
		t.Errorf("annotations %v", got.Annotations)
	}
	if len(got.Reviews) != 1 || got.Reviews[0].Author != pluginUser || got.Reviews[0].Proposed != core.StateDenied ||
		got.Reviews[0].Reason != "not now" || got.Reviews[0].Created.IsZero() {
		t.Errorf("reviews %+v", got.Reviews)
	}
}

func TestSubmitReview(t *testing.T) {
	t.Run("records the delegator and reason and approves the request", func(t *testing.T) {
		srv, c := setup(t)
		id := create(t, srv, "alice@example.com")
		err := c.SubmitReview(ctxT(t), core.ReviewSubmission{RequestID: id, Proposed: core.StateApproved, Reason: "looks fine", Delegator: "pagerduty:carol@example.com"})
		if err != nil {
			t.Fatalf("review: %v", err)
		}
		revs := srv.Reviews(id)
		if len(revs) != 1 {
			t.Fatalf("reviews: %+v", revs)
		}
		r := revs[0]
		if r.Author != pluginUser || r.Delegator != "pagerduty:carol@example.com" || r.Proposed != core.StateApproved {
			t.Errorf("review %+v", r)
		}
		if r.Reason != "looks fine (on behalf of pagerduty:carol@example.com)" {
			t.Errorf("reason %q should name the delegator", r.Reason)
		}
		ar, _ := srv.Request(id)
		if !ar.GetState().IsApproved() {
			t.Errorf("request state %s, want APPROVED", ar.GetState())
		}
	})

	t.Run("keeps a reason that already names the person", func(t *testing.T) {
		srv, c := setup(t)
		id := create(t, srv, "alice@example.com")
		reason := "Approved by Carol@example.com via PagerDuty incident action"
		if err := c.SubmitReview(ctxT(t), core.ReviewSubmission{RequestID: id, Proposed: core.StateApproved, Reason: reason, Delegator: "pagerduty:carol@example.com"}); err != nil {
			t.Fatal(err)
		}
		if got := srv.Reviews(id)[0].Reason; got != reason {
			t.Errorf("reason %q, want unchanged %q", got, reason)
		}
	})

	t.Run("a second review by the plugin is already reviewed", func(t *testing.T) {
		srv, c := setup(t)
		id := create(t, srv, "alice@example.com")
		ctx := ctxT(t)
		sub := core.ReviewSubmission{RequestID: id, Proposed: core.StateApproved, Reason: "on call"}
		if err := c.SubmitReview(ctx, sub); err != nil {
			t.Fatal(err)
		}
		err := c.SubmitReview(ctx, sub)
		if !errors.Is(err, core.ErrAlreadyReviewed) {
			t.Fatalf("got %v, want ErrAlreadyReviewed", err)
		}
		if n := len(srv.Reviews(id)); n != 1 {
			t.Errorf("%d reviews recorded", n)
		}
	})

	errCases := []struct {
		name    string
		opts    []teleporttest.Option
		prepare func(t *testing.T, srv *teleporttest.Server, id string)
		want    error
		notWant error
		text    string
	}{
		{name: "community edition refuses reviews", opts: []teleporttest.Option{teleporttest.Community()},
			want: core.ErrReviewsUnsupported, notWant: core.ErrPermission, text: "Community Edition"},
		{name: "a role without review_requests is a permission error",
			prepare: func(t *testing.T, srv *teleporttest.Server, _ string) {
				srv.SetAccess(pluginUser, teleporttest.Access{List: true})
			},
			want: core.ErrPermission, notWant: core.ErrReviewsUnsupported, text: "review_requests"},
		{name: "a resolved request takes no review",
			prepare: func(t *testing.T, srv *teleporttest.Server, id string) {
				if err := srv.SetState(id, core.StateDenied, "admin said no"); err != nil {
					t.Fatal(err)
				}
			},
			want: core.ErrInvalid, notWant: core.ErrAlreadyReviewed, text: "no longer pending"},
		{name: "a deleted request is not found",
			prepare: func(t *testing.T, srv *teleporttest.Server, id string) {
				if err := srv.Delete(id); err != nil {
					t.Fatal(err)
				}
			},
			want: core.ErrNotFound},
		{name: "an unavailable server is transient",
			prepare: func(t *testing.T, srv *teleporttest.Server, _ string) {
				srv.FailNext("SubmitAccessReview", trace.ConnectionProblem(nil, "auth server restarting"), 1)
			},
			want: core.ErrTransient},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t, tt.opts...)
			id := create(t, srv, "alice@example.com")
			if tt.prepare != nil {
				tt.prepare(t, srv, id)
			}
			err := c.SubmitReview(ctxT(t), core.ReviewSubmission{RequestID: id, Proposed: core.StateApproved, Reason: "x"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Errorf("error %v should not match %v", err, tt.notWant)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q should mention %q", err, tt.text)
			}
			if ar, ok := srv.Request(id); ok && tt.want != core.ErrInvalid && !ar.GetState().IsPending() {
				t.Errorf("request changed to %s", ar.GetState())
			}
		})
	}

	t.Run("a proposal other than approve or deny is invalid before any call", func(t *testing.T) {
		srv, c := setup(t)
		id := create(t, srv, "alice@example.com")
		err := c.SubmitReview(ctxT(t), core.ReviewSubmission{RequestID: id, Proposed: core.StatePromoted})
		if !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
		if n := srv.CallCount("SubmitAccessReview"); n != 0 {
			t.Errorf("%d review calls", n)
		}
	})
}

func TestForeignIdentityIsRefusedClearly(t *testing.T) {
	srv := teleporttest.Start(t)
	foreign := srv.ForeignIdentityFile(t)
	c := newClient(t, srv.Addr(), &source{identity: foreign, version: "v7"}, nil)

	_, err := c.ListPendingRequests(ctxT(t))
	if !errors.Is(err, teleport.ErrUntrustedIdentity) || !errors.Is(err, core.ErrPermission) {
		t.Fatalf("got %v, want an untrusted identity permission error", err)
	}
	msg := err.Error()
	for _, want := range []string{"the identity in secret oncallgate-test (version v7) was not signed by this cluster's CA", srv.Addr()} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q should contain %q", msg, want)
		}
	}
	assertNoIdentityMaterial(t, msg, foreign)
	if len(srv.Calls()) != 0 {
		t.Errorf("the sandbox served %d calls to a foreign identity", len(srv.Calls()))
	}
}

func TestUnusableIdentityIsInvalidWithoutItsContent(t *testing.T) {
	srv := teleporttest.Start(t)
	good := srv.IdentityFile(t, pluginUser, time.Hour)
	// Keep the key, drop everything after it: a truncated secret.
	truncated := good[:strings.Index(good, "-----END")]
	c := newClient(t, srv.Addr(), &source{identity: truncated, version: "v2"}, nil)
	_, err := c.ListPendingRequests(ctxT(t))
	if !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	assertNoIdentityMaterial(t, err.Error(), good)
}

// assertNoIdentityMaterial fails when msg contains PEM markers or any
// 24-character piece of the identity's key or certificate lines.
func assertNoIdentityMaterial(t *testing.T, msg, identity string) {
	t.Helper()
	if strings.Contains(msg, "-----BEGIN") || strings.Contains(msg, "PRIVATE KEY") {
		t.Fatalf("error text carries PEM material: %q", msg)
	}
	for _, line := range strings.Split(identity, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-----") || len(line) < 24 {
			continue
		}
		for i := 0; i+24 <= len(line); i += 12 {
			if piece := line[i : i+24]; !strings.Contains(piece, " ") && strings.Contains(msg, piece) {
				t.Fatalf("error text carries identity material %q: %q", piece, msg)
			}
		}
	}
}

func TestRotatedIdentityIsPickedUpWithoutANewClient(t *testing.T) {
	srv := teleporttest.Start(t)
	src := &source{identity: srv.IdentityFile(t, "plugin-a", 12*time.Hour), version: "v1"}
	c := newClient(t, srv.Addr(), src, nil)
	ctx := ctxT(t)

	for i := 0; i < 3; i++ {
		if _, err := c.ListPendingRequests(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Fatalf("three calls with one identity used %d connections, want 1 (reuse)", n)
	}

	first := create(t, srv, "alice@example.com")
	if err := c.SubmitReview(ctx, core.ReviewSubmission{RequestID: first, Proposed: core.StateApproved}); err != nil {
		t.Fatal(err)
	}
	src.set(srv.IdentityFile(t, "plugin-b", 12*time.Hour), "v2")
	second := create(t, srv, "alice@example.com")
	if err := c.SubmitReview(ctx, core.ReviewSubmission{RequestID: second, Proposed: core.StateApproved}); err != nil {
		t.Fatal(err)
	}

	if a := srv.Reviews(first)[0].Author; a != "plugin-a" {
		t.Errorf("first review by %s, want plugin-a", a)
	}
	if a := srv.Reviews(second)[0].Author; a != "plugin-b" {
		t.Errorf("second review by %s, want plugin-b (the rotated identity)", a)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2 (one per identity)", n)
	}
}

func TestCertificateNearExpiryAsksForAFreshIdentity(t *testing.T) {
	srv := teleporttest.Start(t)
	clock := testenv.NewClock(time.Now())
	src := &source{
		identity:       srv.IdentityFile(t, "plugin-old", 30*time.Minute), // within the default 1h RenewBefore
		version:        "v1",
		renewed:        srv.IdentityFile(t, "plugin-renewed", 12*time.Hour),
		renewedVersion: "v2",
	}
	c := newClient(t, srv.Addr(), src, clock)
	ctx := ctxT(t)

	if _, err := c.ListPendingRequests(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListPendingRequests(ctx); err != nil {
		t.Fatal(err)
	}
	if src.freshRequests() != 1 {
		t.Fatalf("%d fresh requests after the second call, want 1", src.freshRequests())
	}
	calls := srv.Calls()
	if got := calls[len(calls)-1].User; got != "plugin-renewed" {
		t.Errorf("second call made as %s, want plugin-renewed", got)
	}

	clock.Advance(10 * time.Minute)
	if _, err := c.ListPendingRequests(ctx); err != nil {
		t.Fatal(err)
	}
	if src.freshRequests() != 1 {
		t.Errorf("a certificate far from expiry asked for a fresh identity (%d requests)", src.freshRequests())
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestExpiredIdentityIsAPermissionError(t *testing.T) {
	srv := teleporttest.Start(t)
	clock := testenv.NewClock(time.Now().Add(2 * time.Hour))
	c := newClient(t, srv.Addr(), &source{identity: srv.IdentityFile(t, pluginUser, time.Hour), version: "v3"}, clock)
	_, err := c.ListPendingRequests(ctxT(t))
	if !errors.Is(err, core.ErrPermission) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want an expired-identity permission error", err)
	}
	if len(srv.Calls()) != 0 {
		t.Errorf("an expired identity was used")
	}
}

func TestGetRequestOfDeletedRequestIsNotFound(t *testing.T) {
	tests := []struct {
		name   string
		remove func(srv *teleporttest.Server, id string) error
	}{
		{"deleted", (*teleporttest.Server).Delete},
		{"expired", (*teleporttest.Server).Expire},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t)
			id := create(t, srv, "alice@example.com")
			ctx := ctxT(t)
			if _, err := c.GetRequest(ctx, id); err != nil {
				t.Fatalf("get before removal: %v", err)
			}
			if err := tt.remove(srv, id); err != nil {
				t.Fatal(err)
			}
			_, err := c.GetRequest(ctx, id)
			if !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("got %v, want ErrNotFound", err)
			}
		})
	}
}

type event struct {
	req     core.Request
	deleted bool
}

func startWatch(t *testing.T, srv *teleporttest.Server, c *teleport.Client) (<-chan event, <-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan event, 64)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, nil, func(r core.Request, deleted bool) { events <- event{r, deleted} })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Watchers() == 0 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("watcher never opened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(cancel)
	return events, done, cancel
}

func next(t *testing.T, events <-chan event) event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
	}
	return event{}
}

func TestWatchReceivesPutsAndDeletes(t *testing.T) {
	srv, c := setup(t)
	events, done, cancel := startWatch(t, srv, c)

	id := create(t, srv, "alice@example.com")
	if ev := next(t, events); ev.deleted || ev.req.ID != id || ev.req.State != core.StatePending || ev.req.User != "alice@example.com" {
		t.Errorf("create: %+v", ev)
	}
	if err := srv.SetState(id, core.StateApproved, "ok"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.deleted || ev.req.State != core.StateApproved || ev.req.ResolveReason != "ok" {
		t.Errorf("approve: %+v", ev)
	}
	if err := srv.Delete(id); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); !ev.deleted || ev.req.ID != id || ev.req.State != core.StateExpired {
		t.Errorf("delete: %+v", ev)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch ended with %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not return after cancel")
	}
}

func TestWatchReportsABrokenWatcherAsTransient(t *testing.T) {
	srv, c := setup(t)
	_, done, _ := startWatch(t, srv, c)
	srv.DropWatchers()
	select {
	case err := <-done:
		if !errors.Is(err, core.ErrTransient) {
			t.Errorf("got %v, want transient", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end")
	}
}

func TestWatchKeepsItsConnectionAcrossRotation(t *testing.T) {
	srv := teleporttest.Start(t)
	src := &source{identity: srv.IdentityFile(t, "plugin-a", 12*time.Hour), version: "v1"}
	c := newClient(t, srv.Addr(), src, nil)
	events, _, _ := startWatch(t, srv, c)

	src.set(srv.IdentityFile(t, "plugin-b", 12*time.Hour), "v2")
	if _, err := c.ListPendingRequests(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	id := create(t, srv, "alice@example.com")
	if ev := next(t, events); ev.req.ID != id {
		t.Errorf("event %+v", ev)
	}
}

func TestPingChecksTheServerVersion(t *testing.T) {
	tests := []struct {
		name        string
		opts        []teleporttest.Option
		wantErr     error
		wantText    string
		wantReviews bool
	}{
		{name: "enterprise 17", opts: []teleporttest.Option{teleporttest.WithVersion("17.4.2")}, wantReviews: true},
		{name: "development build of the minimum", opts: []teleporttest.Option{teleporttest.WithVersion("15.0.0-dev")}, wantReviews: true},
		{name: "community edition", opts: []teleporttest.Option{teleporttest.Community()}},
		{name: "too old", opts: []teleporttest.Option{teleporttest.WithVersion("14.3.3")}, wantErr: core.ErrInvalid, wantText: "runs version 14.3.3, older than 15.0.0", wantReviews: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t, tt.opts...)
			info, err := c.Ping(ctxT(t))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q should contain %q", err, tt.wantText)
			}
			if info.ClusterName != srv.ClusterName() || info.Version == "" || info.ReviewsSupported != tt.wantReviews {
				t.Errorf("info %+v", info)
			}
		})
	}
}

func TestCheckPermissions(t *testing.T) {
	tests := []struct {
		name   string
		opts   []teleporttest.Option
		access *teleporttest.Access
		want   teleport.Permissions
	}{
		{name: "full plugin role on enterprise", want: teleport.Permissions{CanList: true, CanReview: true}},
		{name: "no access_request rule", access: &teleporttest.Access{}, want: teleport.Permissions{CanReview: true}},
		{name: "community edition", opts: []teleporttest.Option{teleporttest.Community()}, want: teleport.Permissions{CanList: true}},
		{name: "old server without ListAccessRequests", opts: []teleporttest.Option{teleporttest.WithoutListAccessRequests()}, want: teleport.Permissions{CanList: true, CanReview: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t, tt.opts...)
			if tt.access != nil {
				srv.SetAccess(pluginUser, *tt.access)
			}
			got, err := c.CheckPermissions(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestListFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(srv *teleporttest.Server)
		want    error
		text    string
	}{
		{"denied names the missing rule", func(srv *teleporttest.Server) {
			srv.SetAccess(pluginUser, teleporttest.Access{Review: true})
		}, core.ErrPermission, "the plugin role needs rule access_request: list, read"},
		{"connection problem is transient", func(srv *teleporttest.Server) {
			srv.FailNext("ListAccessRequests", trace.ConnectionProblem(nil, "auth server restarting"), 1)
		}, core.ErrTransient, "auth server restarting"},
		{"rate limit is transient", func(srv *teleporttest.Server) {
			srv.FailNext("ListAccessRequests", trace.LimitExceeded("slow down"), 1)
		}, core.ErrTransient, "slow down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t)
			tt.prepare(srv)
			_, err := c.ListPendingRequests(ctxT(t))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	srv := teleporttest.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c := newClient(t, addr, &source{identity: srv.IdentityFile(t, pluginUser, time.Hour), version: "v1"}, nil)
	_, err = c.ListPendingRequests(ctxT(t))
	if !errors.Is(err, core.ErrTransient) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v, want a transient error naming %s", err, addr)
	}
}

func TestConcurrentCallsDuringRotation(t *testing.T) {
	srv := teleporttest.Start(t)
	identities := []string{srv.IdentityFile(t, "plugin-a", 12*time.Hour), srv.IdentityFile(t, "plugin-b", 12*time.Hour)}
	src := &source{identity: identities[0], version: "v0"}
	c := newClient(t, srv.Addr(), src, nil)
	for i := 0; i < 5; i++ {
		create(t, srv, "alice@example.com")
	}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				if g == 0 && i == 2 {
					src.set(identities[1], "v1")
				}
				got, err := c.ListPendingRequests(ctx)
				if err == nil && len(got) != 5 {
					err = errors.New("wrong count")
				}
				if err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	users := map[string]bool{}
	for _, call := range srv.Calls() {
		users[call.User] = true
	}
	var names []string
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "plugin-a,plugin-b" {
		t.Errorf("calls made as %v", names)
	}
}

func TestClosedClientRefusesCalls(t *testing.T) {
	srv, c := setup(t)
	if _, err := c.ListPendingRequests(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListPendingRequests(ctxT(t)); err == nil {
		t.Fatal("a closed client listed requests")
	}
	_ = srv
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	src := &source{}
	tests := []struct {
		name string
		cfg  teleport.Config
	}{
		{"no address", teleport.Config{Identity: src.get}},
		{"no identity", teleport.Config{Address: "127.0.0.1:3025"}},
		{"bad minimum version", teleport.Config{Address: "127.0.0.1:3025", Identity: src.get, MinServerVersion: "fifteen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := teleport.New(tt.cfg); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}
