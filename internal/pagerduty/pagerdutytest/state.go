package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

type user struct {
	id, email, name string
}

type policy struct {
	id, name string
}

type service struct {
	id, name, policyID string
}

type oncall struct {
	userID, policyID string
	level            int
}

type incident struct {
	id        string
	number    int
	title     string
	details   string
	key       string
	serviceID string
	urgency   string
	status    string
	assignees []string
	createdBy string
	createdAt time.Time
	// receivedAt is the wall-clock time the create call was accepted.
	receivedAt time.Time
	notes      []note
}

type note struct {
	id, content, userID string
	createdAt           time.Time
}

type extension struct {
	id, name, endpointURL, schemaID string
	serviceIDs                      []string
	config                          json.RawMessage
}

type schema struct {
	id, key, label string
}

// Incident is a snapshot of one sandbox incident.
type Incident struct {
	ID          string
	Number      int
	Title       string
	Details     string
	Key         string
	ServiceID   string
	Urgency     string
	Status      string
	AssigneeIDs []string
	// CreatedBy is the From header of the request that created it (empty for
	// incidents added with AddIncident).
	CreatedBy string
	// CreatedAt is the incident's creation time on the sandbox's clock (see
	// WithClock).
	CreatedAt time.Time
	// ReceivedAt is the real wall-clock time (time.Now, whatever WithClock
	// says) at which the sandbox accepted the create call, after any
	// WithLatency delay; benchmarks measure notification latency with it.
	// It is zero for incidents added with AddIncident.
	ReceivedAt time.Time
}

// Note is a snapshot of one incident note.
type Note struct {
	ID        string
	Content   string
	UserID    string
	CreatedAt time.Time
}

// Header is one custom header of a custom incident action.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Extension is a snapshot of one extension.
type Extension struct {
	ID          string
	Name        string
	EndpointURL string
	// SchemaKey is the key of its schema ("custom_webhook" for custom
	// incident actions).
	SchemaKey  string
	ServiceIDs []string
	// Headers are the custom headers of its config.
	Headers []Header
	Config  json.RawMessage
}

// IncidentOption sets a field of an incident added with AddIncident.
type IncidentOption func(*incident)

// WithKey sets the incident_key.
func WithKey(key string) IncidentOption { return func(in *incident) { in.key = key } }

// WithTitle sets the title.
func WithTitle(title string) IncidentOption { return func(in *incident) { in.title = title } }

// AddUser adds a user and returns it.
func (s *Server) AddUser(email, name string) core.PagerDutyUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &user{id: s.nextID("U"), email: email, name: name}
	s.users = append(s.users, u)
	return core.PagerDutyUser{ID: u.id, Email: u.email, Name: u.name}
}

// AddService adds a service with its own escalation policy and returns it.
func (s *Server) AddService(name string) core.PagerDutyService {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &policy{id: s.nextID("E"), name: name + " escalation policy"}
	s.policies = append(s.policies, p)
	svc := &service{id: s.nextID("S"), name: name, policyID: p.id}
	s.services = append(s.services, svc)
	return core.PagerDutyService{ID: svc.id, Name: svc.name, EscalationPolicyID: p.id}
}

// AddOnCall puts a user on call in an escalation policy at a level (1 is the
// first).
func (s *Server) AddOnCall(userID, policyID string, level int) {
	s.helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userByID(userID) == nil || s.policyByID(policyID) == nil {
		s.fatalf("pagerdutytest: AddOnCall: unknown user %q or escalation policy %q", userID, policyID)
	}
	s.oncalls = append(s.oncalls, oncall{userID: userID, policyID: policyID, level: level})
}

// AddIncident adds an incident in a service assigned to a user, with status
// triggered, acknowledged or resolved, as if something other than oncallgate
// had opened it.
func (s *Server) AddIncident(serviceID, assigneeUserID, status string, opts ...IncidentOption) Incident {
	s.helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serviceByID(serviceID) == nil || s.userByID(assigneeUserID) == nil {
		s.fatalf("pagerdutytest: AddIncident: unknown service %q or user %q", serviceID, assigneeUserID)
	}
	switch status {
	case "triggered", "acknowledged", "resolved":
	default:
		s.fatalf("pagerdutytest: AddIncident: bad status %q", status)
	}
	in := &incident{
		id:        s.nextID("I"),
		serviceID: serviceID,
		urgency:   "high",
		status:    status,
		assignees: []string{assigneeUserID},
		createdAt: s.clock.Now(),
	}
	in.number = len(s.incidents) + 1
	in.title = fmt.Sprintf("Incident %d", in.number)
	for _, o := range opts {
		o(in)
	}
	if in.key != "" && in.status != "resolved" && s.openByKey(serviceID, in.key) != nil {
		s.fatalf("pagerdutytest: AddIncident: an open incident with key %q already exists", in.key)
	}
	s.incidents = append(s.incidents, in)
	return in.snapshot()
}

// Resolve resolves an incident as a responder would in the web app.
func (s *Server) Resolve(incidentID string) { s.setStatus(incidentID, "resolved") }

// Acknowledge acknowledges an incident as a responder would.
func (s *Server) Acknowledge(incidentID string) { s.setStatus(incidentID, "acknowledged") }

func (s *Server) setStatus(incidentID, status string) {
	s.helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.incidentByID(incidentID)
	if in == nil {
		s.fatalf("pagerdutytest: unknown incident %q", incidentID)
	}
	in.status = status
}

// Incidents returns every incident, oldest first.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, 0, len(s.incidents))
	for _, in := range s.incidents {
		out = append(out, in.snapshot())
	}
	return out
}

// IncidentByKey returns the newest incident with incident_key key.
func (s *Server) IncidentByKey(key string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.incidents) - 1; i >= 0; i-- {
		if s.incidents[i].key == key {
			return s.incidents[i].snapshot(), true
		}
	}
	return Incident{}, false
}

// Notes returns an incident's notes, oldest first.
func (s *Server) Notes(incidentID string) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.incidentByID(incidentID)
	if in == nil {
		return nil
	}
	out := make([]Note, 0, len(in.notes))
	for _, n := range in.notes {
		out = append(out, Note{ID: n.id, Content: n.content, UserID: n.userID, CreatedAt: n.createdAt})
	}
	return out
}

// Extensions returns every extension, oldest first.
func (s *Server) Extensions() []Extension {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Extension, 0, len(s.extensions))
	for _, e := range s.extensions {
		x := Extension{
			ID:          e.id,
			Name:        e.name,
			EndpointURL: e.endpointURL,
			ServiceIDs:  append([]string(nil), e.serviceIDs...),
			Config:      append(json.RawMessage(nil), e.config...),
		}
		if sc := s.schemaByID(e.schemaID); sc != nil {
			x.SchemaKey = sc.key
		}
		var cfg struct {
			Headers []Header `json:"headers"`
		}
		if json.Unmarshal(e.config, &cfg) == nil {
			x.Headers = cfg.Headers
		}
		out = append(out, x)
	}
	return out
}

func (in *incident) snapshot() Incident {
	return Incident{
		ID:          in.id,
		Number:      in.number,
		Title:       in.title,
		Details:     in.details,
		Key:         in.key,
		ServiceID:   in.serviceID,
		Urgency:     in.urgency,
		Status:      in.status,
		AssigneeIDs: append([]string(nil), in.assignees...),
		CreatedBy:   in.createdBy,
		CreatedAt:   in.createdAt,
		ReceivedAt:  in.receivedAt,
	}
}

func (in *incident) open() bool { return in.status == "triggered" || in.status == "acknowledged" }

// Lookups; callers hold s.mu.

func (s *Server) userByID(id string) *user {
	for _, u := range s.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (s *Server) userByEmail(email string) *user {
	for _, u := range s.users {
		if strings.EqualFold(u.email, email) {
			return u
		}
	}
	return nil
}

func (s *Server) policyByID(id string) *policy {
	for _, p := range s.policies {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (s *Server) serviceByID(id string) *service {
	for _, svc := range s.services {
		if svc.id == id {
			return svc
		}
	}
	return nil
}

func (s *Server) incidentByID(id string) *incident {
	for _, in := range s.incidents {
		if in.id == id {
			return in
		}
	}
	return nil
}

func (s *Server) extensionByID(id string) *extension {
	for _, e := range s.extensions {
		if e.id == id {
			return e
		}
	}
	return nil
}

func (s *Server) schemaByID(id string) *schema {
	for i := range s.schemas {
		if s.schemas[i].id == id {
			return &s.schemas[i]
		}
	}
	return nil
}

func (s *Server) openByKey(serviceID, key string) *incident {
	for _, in := range s.incidents {
		if in.serviceID == serviceID && in.key == key && in.open() {
			return in
		}
	}
	return nil
}
