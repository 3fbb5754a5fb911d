// Package jsmtest is a stateful Jira Service Management Operations sandbox
// for tests, on 127.0.0.1: the integration alert API under
// /jsm/ops/integration/v2/alerts (opsgenietest's alert logic mounted there,
// GenieKey auth), the Ops REST API under /jsm/ops/api/{cloudId}/v1 (Basic
// auth; schedules listed page by page, on-calls as Atlassian account IDs),
// and Jira's user API under /ex/jira/{cloudId}/rest/api/3/user, which shows
// or hides each account's email like the profile privacy setting does.
//
// It is test-only support code and must never be imported by a Lambda
// function.
package jsmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
)

// Sandbox credentials, unless options say otherwise.
const (
	DefaultCloudID   = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	DefaultEmail     = "oncallgate-bot@example.com"
	DefaultAPIToken  = "sandbox-atlassian-api-token"
	DefaultAPIKey    = opsgenietest.DefaultAPIKey
	defaultPageLimit = 100
)

// Option configures a Server.
type Option func(*config)

type config struct {
	cloudID, email, token string
	pageLimit             int
	alertOpts             []opsgenietest.Option
}

// WithCloudID sets the cloud ID the Ops REST and user APIs answer for.
func WithCloudID(id string) Option { return func(c *config) { c.cloudID = id } }

// WithCredentials sets the only email and API token accepted (Basic auth).
func WithCredentials(email, token string) Option {
	return func(c *config) { c.email, c.token = email, token }
}

// WithPageLimit caps the schedule list page size, to exercise paging.
func WithPageLimit(n int) Option { return func(c *config) { c.pageLimit = n } }

// WithAlertOptions passes options to the mounted Opsgenie alert sandbox
// (API key, processing delay, responder checks).
func WithAlertOptions(opts ...opsgenietest.Option) Option {
	return func(c *config) { c.alertOpts = append(c.alertOpts, opts...) }
}

type schedule struct {
	id, name string
	onCall   []string
}

type account struct {
	id, email string
	visible   bool
}

// Server is the sandbox. The embedded opsgenietest.Server holds the alerts
// (Alerts, AlertByAlias, Notes, Close, ProcessPending, AddTeam...); its
// FailNext applies to the alert API only, Server.FailNext to every API.
type Server struct {
	*opsgenietest.Server
	// URL is the base URL to configure clients with.
	URL string
	// CloudID is the cloud ID the sandbox answers for.
	CloudID string

	cfg       config
	restCalls atomic.Int64
	done      chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	schedules []*schedule
	accounts  map[string]*account
	faults    []opsgenietest.Fault
}

// Start starts a sandbox and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{cloudID: DefaultCloudID, email: DefaultEmail, token: DefaultAPIToken, pageLimit: defaultPageLimit}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		Server:   opsgenietest.New(cfg.alertOpts...),
		CloudID:  cfg.cloudID,
		cfg:      cfg,
		done:     make(chan struct{}),
		accounts: map[string]*account{},
	}
	mux := http.NewServeMux()
	mux.Handle("/jsm/ops/integration/", http.StripPrefix("/jsm/ops/integration", s.Server))
	mux.HandleFunc("GET /jsm/ops/api/{cloudId}/v1/schedules", s.rest(s.listSchedules))
	mux.HandleFunc("GET /jsm/ops/api/{cloudId}/v1/schedules/{id}/on-calls", s.rest(s.onCalls))
	mux.HandleFunc("GET /ex/jira/{cloudId}/rest/api/3/user", s.rest(s.user))
	ts := httptest.NewServer(s.faulty(mux))
	s.URL = ts.URL
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		s.closeOnce.Do(func() { close(s.done) })
		s.Server.Shutdown()
	})
	return s
}

// FailNext answers the next n requests to any of the APIs with f.
func (s *Server) FailNext(n int, f opsgenietest.Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// Calls returns how many requests reached the Ops REST and user APIs.
func (s *Server) Calls() int64 { return s.restCalls.Load() }

// AlertCalls returns how many requests reached the alert API.
func (s *Server) AlertCalls() int64 { return s.Server.Calls() }

// AddSchedule adds a schedule with accountIDs on call and returns its ID.
// The schedule is also a valid alert responder.
func (s *Server) AddSchedule(name string, accountIDs ...string) string {
	id := s.Server.AddSchedule(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules = append(s.schedules, &schedule{id: id, name: name, onCall: slices.Clone(accountIDs)})
	return id
}

// RemoveSchedule deletes a schedule from the Ops REST API.
func (s *Server) RemoveSchedule(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules = slices.DeleteFunc(s.schedules, func(sc *schedule) bool { return strings.EqualFold(sc.name, name) })
}

// SetOnCall replaces who is on call; it panics for an unknown schedule,
// which is a mistake in the test.
func (s *Server) SetOnCall(name string, accountIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.schedules {
		if strings.EqualFold(sc.name, name) {
			sc.onCall = slices.Clone(accountIDs)
			return
		}
	}
	panic(fmt.Sprintf("jsmtest: SetOnCall: schedule %q was never added", name))
}

// AddAccount adds an Atlassian account; visible says whether its email is
// shown to the API user (the profile's email visibility).
func (s *Server) AddAccount(accountID, email string, visible bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[accountID] = &account{id: accountID, email: email, visible: visible}
}

// SetEmailVisible changes an account's email visibility.
func (s *Server) SetEmailVisible(accountID string, visible bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[accountID]; ok {
		a.visible = visible
	}
}

// faulty applies queued faults before any routing.
func (s *Server) faulty(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		var f *opsgenietest.Fault
		for i, q := range s.faults {
			if q.Only == "" || strings.Contains(r.URL.Path, q.Only) {
				f = &q
				s.faults = slices.Delete(s.faults, i, i+1)
				break
			}
		}
		s.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/jsm/ops/integration/") {
			s.restCalls.Add(1)
		}
		if f.Hang {
			select {
			case <-r.Context().Done():
			case <-s.done:
			}
			return
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeJSON(w, f.Status, map[string]any{"code": f.Status, "message": http.StatusText(f.Status)})
	})
}

// rest wraps the Ops REST and user API handlers: counting, Basic auth and
// the cloud ID.
func (s *Server) rest(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.restCalls.Add(1)
		email, token, ok := r.BasicAuth()
		if !ok || email != s.cfg.email || token != s.cfg.token {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
			return
		}
		if r.PathValue("cloudId") != s.cfg.cloudID {
			writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Cloud ID not found"})
			return
		}
		h(w, r)
	}
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	size, err := strconv.Atoi(q.Get("size"))
	if err != nil || size <= 0 {
		size = 25
	}
	size = min(size, s.cfg.pageLimit)
	s.mu.Lock()
	defer s.mu.Unlock()
	values := []map[string]any{}
	for i := offset; i < len(s.schedules) && i < offset+size; i++ {
		sc := s.schedules[i]
		values = append(values, map[string]any{"id": sc.id, "name": sc.name, "timezone": "UTC", "enabled": true})
	}
	links := map[string]any{}
	if offset+size < len(s.schedules) {
		links["next"] = fmt.Sprintf("/v1/schedules?offset=%d&size=%d", offset+size, size)
	}
	writeJSON(w, http.StatusOK, map[string]any{"values": values, "links": links})
}

func (s *Server) onCalls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	for _, sc := range s.schedules {
		if sc.id != id {
			continue
		}
		if r.URL.Query().Get("flat") == "true" {
			writeJSON(w, http.StatusOK, map[string]any{"onCallUsers": append([]string{}, sc.onCall...)})
			return
		}
		parts := []map[string]any{}
		for _, acc := range sc.onCall {
			parts = append(parts, map[string]any{"id": acc, "type": "user"})
		}
		writeJSON(w, http.StatusOK, map[string]any{"onCallParticipants": parts})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Schedule not found"})
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[r.URL.Query().Get("accountId")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{
			"errorMessages": []string{"Specified user does not exist or you do not have required permissions"},
			"errors":        map[string]any{},
		})
		return
	}
	u := map[string]any{
		"self":        s.URL + "/ex/jira/" + s.cfg.cloudID + "/rest/api/3/user?accountId=" + a.id,
		"accountId":   a.id,
		"accountType": "atlassian",
		"displayName": strings.Split(a.email, "@")[0],
		"active":      true,
	}
	if a.visible {
		u["emailAddress"] = a.email
	}
	writeJSON(w, http.StatusOK, u)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
