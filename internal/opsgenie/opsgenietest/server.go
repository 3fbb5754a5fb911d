// Package opsgenietest is a stateful Opsgenie API sandbox for tests: a real
// HTTP server on 127.0.0.1 that enforces what the Opsgenie REST API enforces
// and that oncallgate relies on. It checks the GenieKey, processes alert
// creations asynchronously (202 with a request ID; the alert appears at
// /v2/alerts/requests/{id} only after a number of status polls or an explicit
// ProcessPending), deduplicates by alias, keeps notes and closes, serves
// schedules with on-call recipients and teams, validates payload limits with
// 422, and fails on demand (429, 5xx, hang).
//
// It is test-only support code: it must never be imported by a Lambda
// function, and it keeps everything in memory for one test.
package opsgenietest

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
	"time"
)

// DefaultAPIKey is the GenieKey the sandbox accepts unless WithAPIKey says
// otherwise.
const DefaultAPIKey = "sandbox-genie-key"

// Payload limits Opsgenie enforces, in characters.
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxTags        = 20
	MaxTagLength   = 50
	MaxNote        = 25000
	MaxUserSource  = 100
)

// Responder is an alert responder as sent.
type Responder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// Note is one note on an alert.
type Note struct {
	User      string
	Source    string
	Note      string
	CreatedAt time.Time
}

// Alert is an alert as the sandbox holds it.
type Alert struct {
	ID          string
	TinyID      string
	Alias       string
	Message     string
	Description string
	Responders  []Responder
	Tags        []string
	Details     map[string]string
	Actions     []string
	Priority    string
	Source      string
	User        string
	// Status is "open" or "closed".
	Status string
	// Count is how many creates landed on this alert (alias dedup).
	Count     int
	ClosedBy  string
	CreatedAt time.Time
	notes     []Note
}

// Fault is a failure the sandbox answers with instead of serving a request.
type Fault struct {
	// Status is the HTTP status to answer (429, 500, 403...).
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Hang holds the request open until the client gives up.
	Hang bool
	// Only, when set, limits the fault to requests whose path contains it.
	Only string
}

// On limits the fault to requests whose path contains part, e.g.
// ServerError().On("/requests/") fails only request-status polls.
func (f Fault) On(part string) Fault {
	f.Only = part
	return f
}

// RateLimited is a 429 with retryAfter as Retry-After ("" for none).
func RateLimited(retryAfter string) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// ServerError is a 500.
func ServerError() Fault { return Fault{Status: http.StatusInternalServerError} }

// Hang never answers.
func Hang() Fault { return Fault{Hang: true} }

// Status answers with code.
func Status(code int) Fault { return Fault{Status: code} }

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the only GenieKey accepted.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithProcessAfterPolls makes alert creations visible only when their
// request status has been polled n times (the n-th poll sees the alert).
// 0, the default, processes at once; a negative n waits for ProcessPending.
func WithProcessAfterPolls(n int) Option { return func(s *Server) { s.processAfter = n } }

// WithAnyResponder accepts responders that were never added; by default a
// create naming an unknown schedule, team, user or escalation fails
// asynchronously (isSuccess=false, "... does not exist").
func WithAnyResponder() Option { return func(s *Server) { s.anyResponder = true } }

type entity struct {
	ID   string
	Name string
	// OnCall lists on-call usernames (schedules only).
	OnCall []string
}

type asyncRequest struct {
	id        string
	action    string
	polls     int
	processed bool
	success   bool
	status    string
	alertID   string
	alias     string
	create    *createBody
}

type createBody struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Responders  []Responder       `json:"responders"`
	Tags        []string          `json:"tags"`
	Details     map[string]string `json:"details"`
	Actions     []string          `json:"actions"`
	Priority    string            `json:"priority"`
	Source      string            `json:"source"`
	User        string            `json:"user"`
	Note        string            `json:"note"`
}

type actionBody struct {
	User   string `json:"user"`
	Source string `json:"source"`
	Note   string `json:"note"`
}

// Server is the sandbox. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to configure clients with (set by Start).
	URL string

	apiKey       string
	processAfter int
	anyResponder bool
	handler      http.Handler
	done         chan struct{}
	closeOnce    sync.Once
	calls        atomic.Int64
	createPosts  atomic.Int64
	respSeq      atomic.Int64

	mu          sync.Mutex
	seq         int
	alerts      []*Alert
	requests    map[string]*asyncRequest
	reqOrder    []string
	schedules   map[string]*entity
	teams       map[string]*entity
	users       map[string]*entity
	escalations map[string]*entity
	faults      []Fault
}

// New builds a sandbox without starting it; serve it with ServeHTTP (mount
// it under another path with http.StripPrefix) and call Shutdown when done.
func New(opts ...Option) *Server {
	s := &Server{
		apiKey:      DefaultAPIKey,
		done:        make(chan struct{}),
		requests:    map[string]*asyncRequest{},
		schedules:   map[string]*entity{},
		teams:       map[string]*entity{},
		users:       map[string]*entity{},
		escalations: map[string]*entity{},
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/alerts", s.createAlert)
	mux.HandleFunc("GET /v2/alerts/requests/{id}", s.requestStatus)
	mux.HandleFunc("GET /v2/alerts/{identifier}", s.getAlert)
	mux.HandleFunc("POST /v2/alerts/{identifier}/notes", s.addNote)
	mux.HandleFunc("POST /v2/alerts/{identifier}/close", s.closeAlert)
	mux.HandleFunc("GET /v2/schedules/{identifier}/on-calls", s.onCalls)
	mux.HandleFunc("GET /v2/teams/{identifier}", s.getTeam)
	s.handler = mux
	return s
}

// Start starts a sandbox on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	ts := httptest.NewServer(s)
	s.URL = ts.URL
	t.Cleanup(ts.Close)
	t.Cleanup(s.Shutdown) // runs first: releases hanging requests
	return s
}

// Shutdown releases requests held by a Hang fault.
func (s *Server) Shutdown() { s.closeOnce.Do(func() { close(s.done) }) }

// ServeHTTP serves the Opsgenie API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	if r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == "/v2/alerts" {
		s.createPosts.Add(1)
	}
	if f, ok := s.nextFault(r.URL.Path); ok {
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
		s.writeError(w, f.Status, http.StatusText(f.Status), nil)
		return
	}
	if r.Header.Get("Authorization") != "GenieKey "+s.apiKey || s.apiKey == "" {
		s.writeError(w, http.StatusUnauthorized, "Could not authenticate", nil)
		return
	}
	s.handler.ServeHTTP(w, r)
}

func (s *Server) nextFault(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Only == "" || strings.Contains(path, f.Only) {
			s.faults = slices.Delete(s.faults, i, i+1)
			return f, true
		}
	}
	return Fault{}, false
}

// FailNext answers the next n requests with f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// Calls returns how many requests reached the sandbox.
func (s *Server) Calls() int64 { return s.calls.Load() }

// CreateCalls returns how many alert creations (POST /v2/alerts) reached
// the sandbox, failed ones included, and how many of them it accepted (202):
// tests that must not rely on alias dedup to hide duplicates check both.
func (s *Server) CreateCalls() (posted, accepted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if r.create != nil {
			accepted++
		}
	}
	return int(s.createPosts.Load()), accepted
}

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq, s.seq)
}

// AddSchedule adds a schedule with emails on call and returns its ID.
func (s *Server) AddSchedule(name string, emails ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &entity{ID: s.nextID(), Name: name, OnCall: slices.Clone(emails)}
	s.schedules[strings.ToLower(name)] = e
	return e.ID
}

// SetOnCall replaces who is on call in schedule. It panics for a schedule
// never added: that is a mistake in the test.
func (s *Server) SetOnCall(schedule string, emails ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.schedules[strings.ToLower(schedule)]
	if !ok {
		panic(fmt.Sprintf("opsgenietest: SetOnCall: schedule %q was never added", schedule))
	}
	e.OnCall = slices.Clone(emails)
}

// AddTeam adds a team and returns its ID.
func (s *Server) AddTeam(name string) string { return s.add(s.teams, name) }

// AddUser adds a user (username = email) and returns its ID.
func (s *Server) AddUser(username string) string { return s.add(s.users, username) }

// AddEscalation adds an escalation and returns its ID.
func (s *Server) AddEscalation(name string) string { return s.add(s.escalations, name) }

func (s *Server) add(m map[string]*entity, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &entity{ID: s.nextID(), Name: name}
	m[strings.ToLower(name)] = e
	return e.ID
}

// ProcessPending processes every alert creation not processed yet.
func (s *Server) ProcessPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.reqOrder {
		if r := s.requests[id]; !r.processed {
			s.process(r)
		}
	}
}

// Alerts returns copies of every alert, oldest first.
func (s *Server) Alerts() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Alert, 0, len(s.alerts))
	for _, a := range s.alerts {
		out = append(out, a.clone())
	}
	return out
}

// AlertByAlias returns the newest alert with alias.
func (s *Server) AlertByAlias(alias string) (Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.alerts) - 1; i >= 0; i-- {
		if s.alerts[i].Alias == alias {
			return s.alerts[i].clone(), true
		}
	}
	return Alert{}, false
}

// Notes returns the notes of an alert, oldest first.
func (s *Server) Notes(alertID string) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byID(alertID); a != nil {
		return slices.Clone(a.notes)
	}
	return nil
}

// Close closes an alert as a person would in the Opsgenie UI; false when
// there is no such alert.
func (s *Server) Close(alertID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID(alertID)
	if a == nil {
		return false
	}
	a.Status, a.ClosedBy = "closed", "person@example.com"
	return true
}

func (a *Alert) clone() Alert {
	c := *a
	c.Responders = slices.Clone(a.Responders)
	c.Tags = slices.Clone(a.Tags)
	c.Actions = slices.Clone(a.Actions)
	c.notes = slices.Clone(a.notes)
	if a.Details != nil {
		c.Details = make(map[string]string, len(a.Details))
		for k, v := range a.Details {
			c.Details[k] = v
		}
	}
	return c
}

func (s *Server) byID(id string) *Alert {
	for _, a := range s.alerts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// find resolves an alert identifier of type id, alias or tiny.
func (s *Server) find(identifier, typ string) *Alert {
	for i := len(s.alerts) - 1; i >= 0; i-- {
		a := s.alerts[i]
		switch typ {
		case "", "id":
			if a.ID == identifier {
				return a
			}
		case "alias":
			if a.Alias == identifier {
				return a
			}
		case "tiny":
			if a.TinyID == identifier {
				return a
			}
		}
	}
	return nil
}

func (s *Server) createAlert(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		s.writeError(w, http.StatusBadRequest, "Could not parse request body: "+err.Error(), nil)
		return
	}
	if errs := validateCreate(b); len(errs) > 0 {
		s.writeError(w, http.StatusUnprocessableEntity, "Request body is not processable. Please check the errors.", errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req := &asyncRequest{id: "req-" + s.nextID(), action: "Create", alias: b.Alias, create: &b}
	s.requests[req.id] = req
	s.reqOrder = append(s.reqOrder, req.id)
	if s.processAfter == 0 {
		s.process(req)
	}
	s.writeAccepted(w, req.id)
}

func validateCreate(b createBody) map[string]string {
	errs := map[string]string{}
	switch n := len([]rune(b.Message)); {
	case strings.TrimSpace(b.Message) == "":
		errs["message"] = "Message can not be empty."
	case n > MaxMessage:
		errs["message"] = fmt.Sprintf("Message can not be longer than %d characters.", MaxMessage)
	}
	if len([]rune(b.Alias)) > MaxAlias {
		errs["alias"] = fmt.Sprintf("Alias can not be longer than %d characters.", MaxAlias)
	}
	if len([]rune(b.Description)) > MaxDescription {
		errs["description"] = fmt.Sprintf("Description can not be longer than %d characters.", MaxDescription)
	}
	if len(b.Tags) > MaxTags {
		errs["tags"] = fmt.Sprintf("Tags can not have more than %d items.", MaxTags)
	}
	for _, t := range b.Tags {
		if len([]rune(t)) > MaxTagLength {
			errs["tags"] = fmt.Sprintf("A tag can not be longer than %d characters.", MaxTagLength)
		}
	}
	switch b.Priority {
	case "", "P1", "P2", "P3", "P4", "P5":
	default:
		errs["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]."
	}
	if len([]rune(b.User)) > MaxUserSource {
		errs["user"] = fmt.Sprintf("User can not be longer than %d characters.", MaxUserSource)
	}
	if len([]rune(b.Source)) > MaxUserSource {
		errs["source"] = fmt.Sprintf("Source can not be longer than %d characters.", MaxUserSource)
	}
	for i, rs := range b.Responders {
		key := "responders[" + strconv.Itoa(i) + "]"
		switch rs.Type {
		case "team", "user", "escalation", "schedule":
		default:
			errs[key] = "Responder type should be one of [team, user, escalation, schedule]."
			continue
		}
		if rs.ID == "" && rs.Name == "" && rs.Username == "" {
			errs[key] = "Responder should have an id, name or username."
		}
		if rs.Type == "user" && rs.Name != "" && rs.ID == "" && rs.Username == "" {
			errs[key] = "User responder should have an id or username."
		}
	}
	return errs
}

// process applies a creation: alias dedup onto an open alert, or a new one.
// Callers hold s.mu.
func (s *Server) process(req *asyncRequest) {
	req.processed = true
	b := req.create
	if missing := s.missingResponder(b.Responders); missing != "" {
		req.success, req.status = false, missing+" does not exist"
		return
	}
	if b.Alias != "" {
		for _, a := range s.alerts {
			if a.Alias == b.Alias && a.Status == "open" {
				a.Count++
				req.success, req.status, req.alertID = true, "Alert deduplicated", a.ID
				return
			}
		}
	}
	s.seq++
	a := &Alert{
		ID:          fmt.Sprintf("%08x-1111-4222-8333-%012x-%d", s.seq, s.seq, 1700000000000+s.seq),
		TinyID:      strconv.Itoa(s.seq),
		Alias:       b.Alias,
		Message:     b.Message,
		Description: b.Description,
		Responders:  b.Responders,
		Tags:        b.Tags,
		Details:     b.Details,
		Actions:     b.Actions,
		Priority:    b.Priority,
		Source:      b.Source,
		User:        b.User,
		Status:      "open",
		Count:       1,
		CreatedAt:   time.Now().UTC(),
	}
	if a.Priority == "" {
		a.Priority = "P3"
	}
	if a.Alias == "" {
		a.Alias = a.ID
	}
	if b.Note != "" {
		a.notes = append(a.notes, Note{User: b.User, Source: b.Source, Note: b.Note, CreatedAt: a.CreatedAt})
	}
	s.alerts = append(s.alerts, a)
	req.success, req.status, req.alertID = true, "Created alert", a.ID
}

// missingResponder names the first responder that does not exist, or "".
func (s *Server) missingResponder(rs []Responder) string {
	if s.anyResponder {
		return ""
	}
	for _, r := range rs {
		var m map[string]*entity
		switch r.Type {
		case "schedule":
			m = s.schedules
		case "team":
			m = s.teams
		case "user":
			m = s.users
		case "escalation":
			m = s.escalations
		}
		key := r.Name
		if r.Username != "" {
			key = r.Username
		}
		if !known(m, r.ID, key) {
			what := key
			if r.ID != "" {
				what = r.ID
			}
			return fmt.Sprintf("%s%s [%s]", strings.ToUpper(r.Type[:1]), r.Type[1:], what)
		}
	}
	return ""
}

func known(m map[string]*entity, id, name string) bool {
	if id != "" {
		for _, e := range m {
			if e.ID == id {
				return true
			}
		}
		return false
	}
	_, ok := m[strings.ToLower(name)]
	return ok
}

func (s *Server) requestStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[r.PathValue("id")]
	if !ok {
		w.Header().Set("X-Opsgenie-Errortype", "RequestNotProcessed")
		s.writeError(w, http.StatusNotFound, "Request not found. It might not be processed yet.", nil)
		return
	}
	if !req.processed {
		req.polls++
		if s.processAfter > 0 && req.polls >= s.processAfter {
			s.process(req)
		}
	}
	if !req.processed {
		w.Header().Set("X-Opsgenie-Errortype", "RequestNotProcessed")
		s.writeError(w, http.StatusNotFound, "Request not found. It might not be processed yet.", nil)
		return
	}
	s.writeData(w, http.StatusOK, map[string]any{
		"success":     true,
		"action":      req.action,
		"processedAt": time.Now().UTC().Format(time.RFC3339Nano),
		"isSuccess":   req.success,
		"status":      req.status,
		"alertId":     req.alertID,
		"alias":       req.alias,
	})
}

func alertJSON(a *Alert) map[string]any {
	return map[string]any{
		"id":        a.ID,
		"tinyId":    a.TinyID,
		"alias":     a.Alias,
		"message":   a.Message,
		"status":    a.Status,
		"count":     a.Count,
		"tags":      a.Tags,
		"priority":  a.Priority,
		"source":    a.Source,
		"owner":     "",
		"createdAt": a.CreatedAt.Format(time.RFC3339Nano),
		"details":   a.Details,
	}
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.find(r.PathValue("identifier"), r.URL.Query().Get("identifierType"))
	if a == nil {
		s.writeError(w, http.StatusNotFound, "Alert does not exist", nil)
		return
	}
	s.writeData(w, http.StatusOK, alertJSON(a))
}

func (s *Server) decodeAction(w http.ResponseWriter, r *http.Request) (actionBody, bool) {
	var b actionBody
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			s.writeError(w, http.StatusBadRequest, "Could not parse request body: "+err.Error(), nil)
			return b, false
		}
	}
	errs := map[string]string{}
	if len([]rune(b.Note)) > MaxNote {
		errs["note"] = fmt.Sprintf("Note can not be longer than %d characters.", MaxNote)
	}
	if len([]rune(b.User)) > MaxUserSource {
		errs["user"] = fmt.Sprintf("User can not be longer than %d characters.", MaxUserSource)
	}
	if len([]rune(b.Source)) > MaxUserSource {
		errs["source"] = fmt.Sprintf("Source can not be longer than %d characters.", MaxUserSource)
	}
	if len(errs) > 0 {
		s.writeError(w, http.StatusUnprocessableEntity, "Request body is not processable. Please check the errors.", errs)
		return b, false
	}
	return b, true
}

func (s *Server) addNote(w http.ResponseWriter, r *http.Request) {
	b, ok := s.decodeAction(w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(b.Note) == "" {
		s.writeError(w, http.StatusUnprocessableEntity, "Request body is not processable. Please check the errors.", map[string]string{"note": "Note can not be empty."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.find(r.PathValue("identifier"), r.URL.Query().Get("identifierType"))
	if a == nil {
		s.writeError(w, http.StatusNotFound, "Alert does not exist", nil)
		return
	}
	a.notes = append(a.notes, Note{User: b.User, Source: b.Source, Note: b.Note, CreatedAt: time.Now().UTC()})
	s.writeAccepted(w, s.recordAction("AddNote", a))
}

func (s *Server) closeAlert(w http.ResponseWriter, r *http.Request) {
	b, ok := s.decodeAction(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.find(r.PathValue("identifier"), r.URL.Query().Get("identifierType"))
	if a == nil {
		s.writeError(w, http.StatusNotFound, "Alert does not exist", nil)
		return
	}
	if a.Status != "closed" {
		a.Status, a.ClosedBy = "closed", b.User
		if b.Note != "" {
			a.notes = append(a.notes, Note{User: b.User, Source: b.Source, Note: b.Note, CreatedAt: time.Now().UTC()})
		}
	}
	s.writeAccepted(w, s.recordAction("Close", a))
}

// recordAction records an action request processed at once. Callers hold s.mu.
func (s *Server) recordAction(action string, a *Alert) string {
	req := &asyncRequest{id: "req-" + s.nextID(), action: action, processed: true, success: true,
		status: action + " request processed", alertID: a.ID, alias: a.Alias}
	s.requests[req.id] = req
	s.reqOrder = append(s.reqOrder, req.id)
	return req.id
}

func (s *Server) lookup(m map[string]*entity, identifier, typ string) *entity {
	if typ == "id" {
		for _, e := range m {
			if e.ID == identifier {
				return e
			}
		}
		return nil
	}
	return m[strings.ToLower(identifier)]
}

func (s *Server) onCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ := q.Get("scheduleIdentifierType")
	if typ == "" {
		typ = "id"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("identifier")
	e := s.lookup(s.schedules, id, typ)
	if e == nil {
		s.writeError(w, http.StatusNotFound, fmt.Sprintf("No schedule exists with %s [%s]", typ, id), nil)
		return
	}
	data := map[string]any{"_parent": map[string]any{"id": e.ID, "name": e.Name, "enabled": true}}
	if q.Get("flat") == "true" {
		data["onCallRecipients"] = append([]string{}, e.OnCall...)
	} else {
		parts := []map[string]any{}
		for _, u := range e.OnCall {
			parts = append(parts, map[string]any{"name": u, "type": "user"})
		}
		data["onCallParticipants"] = parts
	}
	s.writeData(w, http.StatusOK, data)
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request) {
	typ := r.URL.Query().Get("identifierType")
	if typ == "" {
		typ = "id"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(s.teams, r.PathValue("identifier"), typ)
	if e == nil {
		s.writeError(w, http.StatusNotFound, "No team exists with "+typ+" ["+r.PathValue("identifier")+"]", nil)
		return
	}
	s.writeData(w, http.StatusOK, map[string]any{"id": e.ID, "name": e.Name})
}

func (s *Server) responseRequestID() string {
	return fmt.Sprintf("resp-%d", s.respSeq.Add(1))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) writeData(w http.ResponseWriter, code int, data any) {
	writeJSON(w, code, map[string]any{"data": data, "took": 0.003, "requestId": s.responseRequestID()})
}

func (s *Server) writeAccepted(w http.ResponseWriter, requestID string) {
	writeJSON(w, http.StatusAccepted, map[string]any{"result": "Request will be processed", "took": 0.002, "requestId": requestID})
}

func (s *Server) writeError(w http.ResponseWriter, code int, msg string, errs map[string]string) {
	body := map[string]any{"message": msg, "took": 0.001, "requestId": s.responseRequestID()}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, code, body)
}
