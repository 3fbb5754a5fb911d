// Package pagerdutytest is a stateful PagerDuty REST API v2 sandbox for
// tests and benchmarks: an HTTP server on 127.0.0.1 that holds users,
// services with their escalation policies, on-call entries, incidents with
// notes, and extensions, and enforces what PagerDuty enforces: token
// authentication, the v2 Accept header, a From header naming an existing user
// on every write, one open incident per incident_key and service, the
// three-custom-actions-per-service limit, limit/offset pagination with a
// small maximum page size, and the query filters oncallgate uses. Faults (429
// with and without rate-limit headers, 500, a request that never answers) can
// be injected for the next calls; a per-minute rate limit with PagerDuty's
// rate-limit headers, and a random answer latency, can be configured.
//
// It is test-only support code: it must never be imported by a Lambda
// function, never listen beyond 127.0.0.1, and it copies no text from
// PagerDuty or other projects (its error messages are its own words in
// PagerDuty's error shape).
package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Defaults of a started Server.
const (
	// DefaultAPIKey is the key the sandbox accepts unless WithAPIKey says
	// otherwise.
	DefaultAPIKey = "sandbox-pagerduty-key"
	// DefaultMaxPageSize is the largest page a list endpoint returns; it is
	// small so that tests cross page boundaries.
	DefaultMaxPageSize = 3
	// defaultPageSize is PagerDuty's page size when limit is not given.
	defaultPageSize = 25
	// maxCustomActions is PagerDuty's limit of custom incident actions per
	// service.
	maxCustomActions = 3
	// acceptV2 is the media type of REST API v2.
	acceptV2 = "application/vnd.pagerduty+json;version=2"
)

// PagerDuty error codes used in answers.
const (
	codeInvalidInput = 2001
	codeAuthFailed   = 2006
	codeRateLimited  = 2020
	codeNotFound     = 2100
	codeInternal     = 2000
)

// FaultKind is a failure the sandbox can inject.
type FaultKind int

const (
	// RateLimited answers 429 with ratelimit-limit, ratelimit-remaining and
	// ratelimit-reset (Fault.Reset, in whole seconds) headers.
	RateLimited FaultKind = iota + 1
	// RateLimitedNoHeaders answers 429 without any rate-limit header.
	RateLimitedNoHeaders
	// ServerError answers 500.
	ServerError
	// Hang never answers: the request blocks until the client gives up or
	// the server closes.
	Hang
)

// Fault is one injected failure. Method and PathPrefix, when set, restrict
// it to matching requests; the others pass untouched.
type Fault struct {
	Kind FaultKind
	// Reset is the ratelimit-reset value sent with RateLimited (rounded up to
	// whole seconds; at least one).
	Reset      time.Duration
	Method     string
	PathPrefix string
}

type faultRule struct {
	Fault
	left int
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the API key the sandbox accepts.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithMaxPageSize sets the largest page list endpoints return.
func WithMaxPageSize(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxPage = n
		}
	}
}

// WithClock sets the clock that dates incidents and notes.
func WithClock(c core.Clock) Option { return func(s *Server) { s.clock = c } }

// WithRateLimit makes the sandbox count requests in fixed one-minute windows
// (real time, the first starting with the first request) and answer 429 once
// more than perMinute arrive within one, as PagerDuty does per API key. Every
// answer then carries ratelimit-limit (perMinute), ratelimit-remaining (what
// is left of the window's budget) and ratelimit-reset (whole seconds until
// the window ends, at least one). Requests answered by an injected fault are
// outside the windows: they are not counted and carry only the fault's own
// headers.
func WithRateLimit(perMinute int) Option { return func(s *Server) { s.rateLimit = perMinute } }

// WithLatency delays every request by a random time, uniform in [lo, hi],
// before handling it, like the way to PagerDuty and back. The delay ends
// early, without an answer, when the client gives up or the server closes.
// hi below lo means lo.
func WithLatency(lo, hi time.Duration) Option {
	return func(s *Server) { s.latencyLo, s.latencyHi = lo, max(lo, hi) }
}

// Server is a running sandbox. All methods are safe for concurrent use.
type Server struct {
	t         testing.TB // nil outside a test (New)
	srv       *httptest.Server
	mux       *http.ServeMux
	closing   chan struct{}
	closeOnce sync.Once

	apiKey    string
	maxPage   int
	clock     core.Clock
	rateLimit int
	latencyLo time.Duration
	latencyHi time.Duration

	mu         sync.Mutex
	seq        map[string]int
	users      []*user
	policies   []*policy
	services   []*service
	oncalls    []oncall
	incidents  []*incident
	extensions []*extension
	schemas    []schema
	faults     []*faultRule
	calls      int64
	perRoute   map[string]int
	rlStart    time.Time
	rlCount    int
	limited    int // 429s sent
}

// Start starts a sandbox on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := start(t, opts)
	if err != nil {
		t.Fatalf("pagerdutytest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a sandbox on 127.0.0.1 outside a test, for the operator CLI's
// sandbox mode; Close stops it. Misuse that would fail a test (AddOnCall
// with an unknown user, ...) panics instead.
func New(opts ...Option) (*Server, error) {
	return start(nil, opts)
}

func start(t testing.TB, opts []Option) (*Server, error) {
	s := &Server{
		t:        t,
		mux:      http.NewServeMux(),
		closing:  make(chan struct{}),
		apiKey:   DefaultAPIKey,
		maxPage:  DefaultMaxPageSize,
		clock:    core.SystemClock{},
		seq:      map[string]int{},
		perRoute: map[string]int{},
		schemas: []schema{
			{id: "PGENWH2", key: "generic_v2_webhook", label: "Generic V2 Webhook"},
			{id: "PCUSTWH", key: "custom_webhook", label: "Custom Incident Action"},
		},
	}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener = ln
	s.srv.Start()
	return s, nil
}

// Close stops the sandbox, releasing hung requests first. It may be called
// more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing) // release hung requests first, or Close waits on them
		s.srv.Close()
	})
}

// helper marks the caller as a test helper when the sandbox belongs to a
// test.
func (s *Server) helper() {
	if s.t != nil {
		s.t.Helper()
	}
}

// fatalf fails the test that owns the sandbox, or panics outside a test:
// either way the caller misused the sandbox.
func (s *Server) fatalf(format string, args ...any) {
	if s.t != nil {
		s.t.Helper()
		s.t.Fatalf(format, args...)
	}
	panic(fmt.Sprintf(format, args...))
}

// URL is the API root to configure the client with.
func (s *Server) URL() string { return s.srv.URL }

// APIKey is the key the sandbox accepts.
func (s *Server) APIKey() string { return s.apiKey }

// FailNext makes the next n requests matching f (all requests when f has no
// Method or PathPrefix) fail as f.Kind says. Rules queue in order.
func (s *Server) FailNext(n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{Fault: f, left: n})
}

// Calls returns how many requests reached the sandbox, failed ones included.
func (s *Server) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// CallCount returns how many requests reached one endpoint, named by its
// route pattern: "GET /services", "POST /incidents", "PUT /incidents/{id}",
// "POST /incidents/{id}/notes", ...
func (s *Server) CallCount(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perRoute[route]
}

// RateLimitedCount returns how many 429 answers the sandbox sent, injected
// ones included.
func (s *Server) RateLimitedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// CallCounts returns the per-endpoint counts (see CallCount).
func (s *Server) CallCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.perRoute))
	for k, v := range s.perRoute {
		out[k] = v
	}
	return out
}

// ResetCalls sets every call count, and the count of 429s sent, back to
// zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = 0
	s.perRoute = map[string]int{}
	s.limited = 0
}

// serve answers every request: after the configured latency, through the
// routes. The wait holds no lock, so other requests and the test's own
// calls go on meanwhile.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.latencyHi > 0 {
		t := time.NewTimer(s.latencyLo + rand.N(s.latencyHi-s.latencyLo+1))
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client is gone
		case <-s.closing:
			drop(w)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// drop closes the request's connection without an answer; merely returning
// would send an empty 200, which a client could take for success.
func drop(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
	}
}

// route registers h for pattern behind the checks every PagerDuty endpoint
// makes: counting, injected faults, rate limit, token, Accept, and for
// writes the JSON body type and the From user.
func (s *Server) route(pattern string, h func(w http.ResponseWriter, r *http.Request, from *user)) {
	write := strings.HasPrefix(pattern, "POST ") || strings.HasPrefix(pattern, "PUT ")
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		fault, window := s.admit(pattern, r)
		if fault != nil {
			s.fail(w, r, fault)
			return
		}
		if window != nil {
			w.Header().Set("ratelimit-limit", strconv.Itoa(s.rateLimit))
			w.Header().Set("ratelimit-remaining", strconv.Itoa(window.remaining))
			w.Header().Set("ratelimit-reset", strconv.Itoa(window.resetSeconds))
			if window.limited {
				writeError(w, http.StatusTooManyRequests, codeRateLimited, "Too many requests; slow down")
				return
			}
		}
		if r.Header.Get("Authorization") != "Token token="+s.apiKey {
			writeError(w, http.StatusUnauthorized, codeAuthFailed, "Authentication failed: missing or unknown API token")
			return
		}
		if !strings.EqualFold(strings.ReplaceAll(r.Header.Get("Accept"), " ", ""), acceptV2) {
			writeError(w, http.StatusNotAcceptable, codeInvalidInput, "Unsupported Accept header", "send Accept: "+acceptV2)
			return
		}
		var from *user
		if write {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", "the request body must be JSON (Content-Type: application/json)")
				return
			}
			email := strings.TrimSpace(r.Header.Get("From"))
			if email == "" {
				writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", "a From header with the email of a user of this account is required")
				return
			}
			s.mu.Lock()
			from = s.userByEmail(email)
			s.mu.Unlock()
			if from == nil {
				writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", fmt.Sprintf("the From header %q is not the email of a user of this account", email))
				return
			}
		}
		h(w, r, from)
	})
}

// rateWindow is where a request stands in the rate-limit window.
type rateWindow struct {
	remaining    int
	resetSeconds int
	limited      bool // over the budget: answer 429
}

// admit counts the request and decides whether a fault answers it instead,
// and where it stands in the rate-limit window (nil without a rate limit).
func (s *Server) admit(pattern string, r *http.Request) (*Fault, *rateWindow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.perRoute[pattern]++
	for i, f := range s.faults {
		if f.Method != "" && f.Method != r.Method || f.PathPrefix != "" && !strings.HasPrefix(r.URL.Path, f.PathPrefix) {
			continue
		}
		f.left--
		if f.left <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		if f.Kind == RateLimited || f.Kind == RateLimitedNoHeaders {
			s.limited++
		}
		ff := f.Fault
		return &ff, nil
	}
	if s.rateLimit <= 0 {
		return nil, nil
	}
	now := time.Now()
	if now.Sub(s.rlStart) >= time.Minute {
		s.rlStart, s.rlCount = now, 0
	}
	s.rlCount++
	left := time.Minute - now.Sub(s.rlStart)
	win := &rateWindow{
		remaining:    max(0, s.rateLimit-s.rlCount),
		resetSeconds: max(1, int((left+time.Second-1)/time.Second)),
		limited:      s.rlCount > s.rateLimit,
	}
	if win.limited {
		s.limited++
	}
	return nil, win
}

// fail answers a request with an injected fault.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, f *Fault) {
	switch f.Kind {
	case RateLimited:
		secs := int((f.Reset + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("ratelimit-limit", "960")
		w.Header().Set("ratelimit-remaining", "0")
		w.Header().Set("ratelimit-reset", fmt.Sprint(secs))
		writeError(w, http.StatusTooManyRequests, codeRateLimited, "Too many requests; slow down")
	case RateLimitedNoHeaders:
		writeError(w, http.StatusTooManyRequests, codeRateLimited, "Too many requests; slow down")
	case ServerError:
		writeError(w, http.StatusInternalServerError, codeInternal, "Internal error (injected)")
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	default:
		writeError(w, http.StatusInternalServerError, codeInternal, fmt.Sprintf("unknown injected fault %d", f.Kind))
	}
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers PagerDuty's error shape.
func writeError(w http.ResponseWriter, status, code int, message string, details ...string) {
	body := map[string]any{"message": message, "code": code}
	if len(details) > 0 {
		body["errors"] = details
	}
	writeJSON(w, status, map[string]any{"error": body})
}

// nextID returns a PagerDuty-looking ID: "P", a kind letter, a number.
func (s *Server) nextID(kind string) string {
	s.seq[kind]++
	return fmt.Sprintf("P%s%05d", kind, s.seq[kind])
}
