// Package teleporttest is a sandbox Teleport auth server for tests and for
// the operator CLI's sandbox mode. It speaks the real gRPC API of
// github.com/gravitational/teleport/api over mutual TLS with certificates it
// makes itself, so oncallgate's production Teleport adapter talks to it
// unchanged: same client, same identity-file loading, same error kinds on
// the wire.
//
// It implements only what oncallgate uses (Ping, ListAccessRequests,
// GetAccessRequestsV2, SubmitAccessReview, WatchEvents), keeps its state in
// memory, and enforces what Teleport enforces there: the caller is the user
// in its client certificate, a user reviews a request at most once, only
// pending requests take reviews, a requester cannot review their own
// request, Community Edition refuses reviews. It must not be used as a
// stand-in for the adapter: tests go through the real client.
package teleporttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gravitational/teleport/api/client/proto"
	"github.com/gravitational/teleport/api/types"
	"github.com/gravitational/teleport/api/utils/grpc/interceptors"
	"github.com/gravitational/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Defaults of a sandbox started without options.
const (
	DefaultClusterName = "sandbox.example.com"
	DefaultVersion     = "17.4.2"
	DefaultPageSize    = 50
	// DefaultRequestTTL is how long a request created without a TTL stays
	// pending before ExpireDue removes it.
	DefaultRequestTTL = time.Hour
)

// watcherBuffer is how many events a watcher may fall behind before the
// sandbox drops it, as Teleport closes watchers that do not keep up.
const watcherBuffer = 256

// config is what Options set.
type config struct {
	clusterName string
	version     string
	community   bool
	pageSize    int
	noList      bool
	listenAddr  string
	clock       core.Clock
}

// Option configures a sandbox.
type Option func(*config)

// WithClusterName sets the cluster name Ping reports and the certificates carry.
func WithClusterName(name string) Option { return func(c *config) { c.clusterName = name } }

// WithVersion sets the server version Ping reports (default DefaultVersion).
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// Community makes the sandbox behave like Teleport Community Edition: Ping
// reports no advanced access workflows and every review is refused with
// access denied.
func Community() Option { return func(c *config) { c.community = true } }

// WithPageSize sets the largest page ListAccessRequests returns.
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// WithoutListAccessRequests makes ListAccessRequests answer "not implemented",
// as auth servers older than the paginated API do, so clients fall back to
// the streaming GetAccessRequestsV2.
func WithoutListAccessRequests() Option { return func(c *config) { c.noList = true } }

// WithListenAddr sets the listen address (default 127.0.0.1:0).
func WithListenAddr(addr string) Option { return func(c *config) { c.listenAddr = addr } }

// WithClock sets the clock that stamps request creation, expiry and review
// times (default the system clock). Certificates always use the real time,
// since TLS checks them against it.
func WithClock(clock core.Clock) Option { return func(c *config) { c.clock = clock } }

// Access is what a user may do in the sandbox. Users without an explicit
// Access may do everything.
type Access struct {
	// List allows listing, reading and watching access requests (the
	// access_request list/read rule).
	List bool
	// Review allows submitting reviews (review_requests in the user's role).
	Review bool
}

// Call is one RPC the sandbox served, after the client certificate was
// verified.
type Call struct {
	// Method is the short RPC name, e.g. "ListAccessRequests".
	Method string
	// User is the common name of the caller's client certificate.
	User string
	// Conn identifies the connection (the client's address).
	Conn string
}

// Review is a review the sandbox recorded.
type Review struct {
	Author   string
	Proposed core.State
	Reason   string
	// Delegator is the value of the DelegatorMetadata gRPC metadata the
	// client sent with the review ("" when none).
	Delegator string
	Created   time.Time
}

// DelegatorMetadata is the gRPC metadata key the sandbox reads a review's
// delegator from. The teleport/api client does not transmit
// utils.WithDelegator for reviews, so oncallgate's adapter sends it under
// this key; Teleport itself ignores the key and audits the review's author
// and reason.
const DelegatorMetadata = "delegator"

// Server is a running sandbox. All methods are safe for concurrent use.
type Server struct {
	cfg  config
	ca   *authority
	grpc *grpc.Server
	lis  net.Listener
	done chan error

	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex
	requests  map[string]*types.AccessRequestV3
	delegates map[string][]string // request ID → delegator of each review
	access    map[string]Access
	faults    map[string][]error
	calls     []Call
	watchers  map[int]chan *proto.Event
	nextWatch int
}

// Start starts a sandbox on 127.0.0.1 for the test and stops it when the
// test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := New(opts...)
	if err != nil {
		tb.Fatalf("start teleport sandbox: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("stop teleport sandbox: %v", err)
		}
	})
	return s
}

// New starts a sandbox; Close stops it.
func New(opts ...Option) (*Server, error) {
	cfg := config{
		clusterName: DefaultClusterName,
		version:     DefaultVersion,
		pageSize:    DefaultPageSize,
		listenAddr:  "127.0.0.1:0",
		clock:       core.SystemClock{},
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.pageSize < 1 {
		return nil, fmt.Errorf("page size must be at least 1, got %d", cfg.pageSize)
	}
	ca, err := newAuthority(cfg.clusterName)
	if err != nil {
		return nil, err
	}
	tlsConf, err := ca.serverTLS()
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.listenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.listenAddr, err)
	}
	s := &Server{
		cfg:       cfg,
		ca:        ca,
		lis:       lis,
		done:      make(chan error, 1),
		requests:  map[string]*types.AccessRequestV3{},
		delegates: map[string][]string{},
		access:    map[string]Access{},
		faults:    map[string][]error{},
		watchers:  map[int]chan *proto.Event{},
	}
	// The error interceptors come first (outermost) so that every error,
	// injected faults included, crosses the wire as Teleport sends it and
	// the client turns it back into the same trace kind.
	s.grpc = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsConf)),
		grpc.ChainUnaryInterceptor(interceptors.GRPCServerUnaryErrorInterceptor, s.unaryAuth),
		grpc.ChainStreamInterceptor(interceptors.GRPCServerStreamErrorInterceptor, s.streamAuth),
	)
	proto.RegisterAuthServiceServer(s.grpc, &service{s: s})
	go func() { s.done <- s.grpc.Serve(lis) }()
	return s, nil
}

// Addr is the host:port the sandbox listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// ClusterName is the cluster name Ping reports.
func (s *Server) ClusterName() string { return s.cfg.clusterName }

// Close stops the server, ending open watchers.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.grpc.Stop()
		if err := <-s.done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// Identity returns the content of an identity file for user, signed by this
// sandbox's CA and valid for ttl.
func (s *Server) Identity(user string, ttl time.Duration) (string, error) {
	return s.ca.identity(user, ttl)
}

// IdentityFile is Identity for tests.
func (s *Server) IdentityFile(tb testing.TB, user string, ttl time.Duration) string {
	tb.Helper()
	id, err := s.Identity(user, ttl)
	if err != nil {
		tb.Fatalf("issue sandbox identity for %s: %v", user, err)
	}
	return id
}

// ForeignIdentityFile returns an identity file for user "oncallgate" issued
// by another cluster's CA: this sandbox refuses it, and it does not trust
// this sandbox's server certificate either.
func (s *Server) ForeignIdentityFile(tb testing.TB) string {
	tb.Helper()
	other, err := newAuthority("foreign.example.com")
	if err != nil {
		tb.Fatalf("make foreign CA: %v", err)
	}
	id, err := other.identity("oncallgate", time.Hour)
	if err != nil {
		tb.Fatalf("issue foreign identity: %v", err)
	}
	return id
}

// SetAccess restricts what user may do.
func (s *Server) SetAccess(user string, a Access) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access[user] = a
}

// FailNext makes the next n calls of method (short name, e.g.
// "ListAccessRequests") fail with err, which should be a trace error
// (trace.ConnectionProblem, trace.AccessDenied, ...) so that it crosses the
// wire with its kind.
func (s *Server) FailNext(method string, err error, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.faults[method] = append(s.faults[method], err)
	}
}

// Calls returns the RPCs served so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount counts the served calls of method.
func (s *Server) CallCount(method string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Method == method {
			n++
		}
	}
	return n
}

// Connections counts the distinct client connections that made RPCs.
func (s *Server) Connections() int {
	seen := map[string]bool{}
	for _, c := range s.Calls() {
		seen[c.Conn] = true
	}
	return len(seen)
}

// Watchers counts the open watch streams that received their init event
// or are about to: a test waits for it before changing state it expects a
// watcher to see.
func (s *Server) Watchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}

// DropWatchers ends every open watch stream with a connection error, as
// when an auth server restarts.
func (s *Server) DropWatchers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.watchers {
		close(ch)
		delete(s.watchers, id)
	}
}

// caller returns the user of the verified client certificate.
func caller(ctx context.Context) (user, conn string, err error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", "", trace.AccessDenied("no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", "", trace.AccessDenied("a client certificate signed by the cluster CA is required")
	}
	return info.State.VerifiedChains[0][0].Subject.CommonName, p.Addr.String(), nil
}

func shortMethod(full string) string {
	return full[strings.LastIndex(full, "/")+1:]
}

// admit authenticates a call, records it and returns an injected fault.
func (s *Server) admit(ctx context.Context, fullMethod string) error {
	user, conn, err := caller(ctx)
	if err != nil {
		return err
	}
	method := shortMethod(fullMethod)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, User: user, Conn: conn})
	if f := s.faults[method]; len(f) > 0 {
		s.faults[method] = f[1:]
		return f[0]
	}
	return nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.admit(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.admit(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// accessOf returns user's access; s.mu must be held.
func (s *Server) accessOf(user string) Access {
	if a, ok := s.access[user]; ok {
		return a
	}
	return Access{List: true, Review: true}
}

// sortKey orders requests by creation time, then ID; it doubles as the
// pagination key, so a page boundary survives the deletion of the request
// it points at.
func sortKey(r *types.AccessRequestV3) string {
	return fmt.Sprintf("%020d/%s", r.GetCreationTime().UnixNano(), r.GetName())
}

// matching returns copies of the requests filter matches, in sortKey
// order; s.mu must be held.
func (s *Server) matching(filter *types.AccessRequestFilter) []*types.AccessRequestV3 {
	var out []*types.AccessRequestV3
	for _, r := range s.requests {
		if filter == nil || filter.Match(r) {
			out = append(out, r.Copy().(*types.AccessRequestV3))
		}
	}
	sort.Slice(out, func(i, j int) bool { return sortKey(out[i]) < sortKey(out[j]) })
	return out
}
