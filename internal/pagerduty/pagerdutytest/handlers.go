package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

func (s *Server) routes() {
	s.route("GET /users", s.listUsers)
	s.route("GET /users/{id}", s.getUser)
	s.route("GET /services", s.listServices)
	s.route("GET /oncalls", s.listOnCalls)
	s.route("GET /incidents", s.listIncidents)
	s.route("POST /incidents", s.createIncident)
	s.route("GET /incidents/{id}", s.getIncident)
	s.route("PUT /incidents/{id}", s.updateIncident)
	s.route("GET /incidents/{id}/notes", s.listNotes)
	s.route("POST /incidents/{id}/notes", s.createNote)
	s.route("GET /extension_schemas", s.listSchemas)
	s.route("GET /extensions", s.listExtensions)
	s.route("POST /extensions", s.createExtension)
	s.route("GET /extensions/{id}", s.getExtension)
	s.route("PUT /extensions/{id}", s.updateExtension)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls++
		s.perRoute["unknown"]++
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, codeNotFound, "Not Found", fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
}

// multi returns the values of a list parameter, sent as name[] (PagerDuty's
// convention) or name.
func multi(q url.Values, name string) []string {
	return append(append([]string(nil), q[name+"[]"]...), q[name]...)
}

// page cuts items by the request's limit and offset and returns the page and
// PagerDuty's pagination fields; ok is false (and the answer sent) when the
// parameters are malformed.
func (s *Server) page(w http.ResponseWriter, r *http.Request, n int) (lo, hi int, meta map[string]any, ok bool) {
	q := r.URL.Query()
	limit, offset := defaultPageSize, 0
	if v := q.Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 {
			writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", "limit must be a positive integer")
			return 0, 0, nil, false
		}
		limit = l
	}
	if limit > s.maxPage {
		limit = s.maxPage
	}
	if v := q.Get("offset"); v != "" {
		o, err := strconv.Atoi(v)
		if err != nil || o < 0 {
			writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", "offset must be a non-negative integer")
			return 0, 0, nil, false
		}
		offset = o
	}
	lo = min(offset, n)
	hi = min(offset+limit, n)
	meta = map[string]any{"limit": limit, "offset": offset, "more": hi < n, "total": nil}
	if q.Get("total") == "true" {
		meta["total"] = n
	}
	return lo, hi, meta, true
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, field string, items []any) {
	lo, hi, meta, ok := s.page(w, r, len(items))
	if !ok {
		return
	}
	if items == nil {
		items = []any{}
	}
	meta[field] = items[lo:hi]
	writeJSON(w, http.StatusOK, meta)
}

// decode reads a JSON body into v; on failure it answers 400 and returns
// false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", "the body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

func notFound(w http.ResponseWriter, what, id string) {
	writeError(w, http.StatusNotFound, codeNotFound, "Not Found", fmt.Sprintf("no %s with id %q", what, id))
}

func ref(id, typ, summary string) map[string]any {
	return map[string]any{"id": id, "type": typ, "summary": summary}
}

// JSON renderings; callers hold s.mu.

func (s *Server) userJSON(u *user) map[string]any {
	return map[string]any{"id": u.id, "type": "user", "summary": u.name, "name": u.name, "email": u.email, "self": s.srv.URL + "/users/" + u.id}
}

func (s *Server) serviceJSON(svc *service) map[string]any {
	p := s.policyByID(svc.policyID)
	return map[string]any{
		"id": svc.id, "type": "service", "summary": svc.name, "name": svc.name, "status": "active",
		"self":              s.srv.URL + "/services/" + svc.id,
		"escalation_policy": ref(p.id, "escalation_policy_reference", p.name),
	}
}

func (s *Server) incidentJSON(in *incident) map[string]any {
	svc := s.serviceByID(in.serviceID)
	p := s.policyByID(svc.policyID)
	assignments := []any{}
	for _, id := range in.assignees {
		name := ""
		if u := s.userByID(id); u != nil {
			name = u.name
		}
		assignments = append(assignments, map[string]any{"at": in.createdAt.UTC().Format(time.RFC3339), "assignee": ref(id, "user_reference", name)})
	}
	var key any
	if in.key != "" {
		key = in.key
	}
	return map[string]any{
		"id": in.id, "type": "incident", "summary": fmt.Sprintf("[#%d] %s", in.number, in.title),
		"self":              s.srv.URL + "/incidents/" + in.id,
		"incident_number":   in.number,
		"title":             in.title,
		"status":            in.status,
		"urgency":           in.urgency,
		"incident_key":      key,
		"created_at":        in.createdAt.UTC().Format(time.RFC3339),
		"service":           ref(svc.id, "service_reference", svc.name),
		"escalation_policy": ref(p.id, "escalation_policy_reference", p.name),
		"assignments":       assignments,
		"body":              map[string]any{"type": "incident_body", "details": in.details},
	}
}

func (s *Server) noteJSON(n note) map[string]any {
	name := ""
	if u := s.userByID(n.userID); u != nil {
		name = u.name
	}
	return map[string]any{"id": n.id, "user": ref(n.userID, "user_reference", name), "content": n.content, "created_at": n.createdAt.UTC().Format(time.RFC3339)}
}

func (s *Server) extensionJSON(e *extension) map[string]any {
	objs := []any{}
	for _, id := range e.serviceIDs {
		name := ""
		if svc := s.serviceByID(id); svc != nil {
			name = svc.name
		}
		objs = append(objs, ref(id, "service_reference", name))
	}
	sc := s.schemaByID(e.schemaID)
	return map[string]any{
		"id": e.id, "type": "extension", "summary": e.name, "name": e.name, "endpoint_url": e.endpointURL,
		"self":              s.srv.URL + "/extensions/" + e.id,
		"extension_schema":  ref(sc.id, "extension_schema_reference", sc.label),
		"extension_objects": objs,
		"config":            e.config,
	}
}

// Users.

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ *user) {
	query := strings.ToLower(r.URL.Query().Get("query"))
	s.mu.Lock()
	var items []any
	for _, u := range s.users {
		if query == "" || strings.Contains(strings.ToLower(u.email), query) || strings.Contains(strings.ToLower(u.name), query) {
			items = append(items, s.userJSON(u))
		}
	}
	s.mu.Unlock()
	s.list(w, r, "users", items)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, _ *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByID(r.PathValue("id"))
	if u == nil {
		notFound(w, "user", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.userJSON(u)})
}

// Services.

func (s *Server) listServices(w http.ResponseWriter, r *http.Request, _ *user) {
	query := strings.ToLower(r.URL.Query().Get("query"))
	s.mu.Lock()
	var items []any
	for _, svc := range s.services {
		if query == "" || strings.Contains(strings.ToLower(svc.name), query) {
			items = append(items, s.serviceJSON(svc))
		}
	}
	s.mu.Unlock()
	s.list(w, r, "services", items)
}

// On-calls.

func (s *Server) listOnCalls(w http.ResponseWriter, r *http.Request, _ *user) {
	q := r.URL.Query()
	userIDs, policyIDs := multi(q, "user_ids"), multi(q, "escalation_policy_ids")
	s.mu.Lock()
	var items []any
	for _, oc := range s.oncalls {
		if len(userIDs) > 0 && !slices.Contains(userIDs, oc.userID) || len(policyIDs) > 0 && !slices.Contains(policyIDs, oc.policyID) {
			continue
		}
		u, p := s.userByID(oc.userID), s.policyByID(oc.policyID)
		items = append(items, map[string]any{
			"user":              ref(u.id, "user_reference", u.name),
			"escalation_policy": ref(p.id, "escalation_policy_reference", p.name),
			"escalation_level":  oc.level,
			"schedule":          nil,
			"start":             nil,
			"end":               nil,
		})
	}
	s.mu.Unlock()
	s.list(w, r, "oncalls", items)
}

// Incidents.

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, _ *user) {
	q := r.URL.Query()
	statuses, serviceIDs, userIDs := multi(q, "statuses"), multi(q, "service_ids"), multi(q, "user_ids")
	key := q.Get("incident_key")
	for _, st := range statuses {
		if st != "triggered" && st != "acknowledged" && st != "resolved" {
			writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", fmt.Sprintf("unknown status %q", st))
			return
		}
	}
	s.mu.Lock()
	var items []any
	for _, in := range s.incidents {
		switch {
		case len(statuses) > 0 && !slices.Contains(statuses, in.status),
			len(serviceIDs) > 0 && !slices.Contains(serviceIDs, in.serviceID),
			key != "" && in.key != key,
			len(userIDs) > 0 && !slices.ContainsFunc(in.assignees, func(id string) bool { return slices.Contains(userIDs, id) }):
			continue
		}
		items = append(items, s.incidentJSON(in))
	}
	s.mu.Unlock()
	s.list(w, r, "incidents", items)
}

type refIn struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

func (s *Server) createIncident(w http.ResponseWriter, r *http.Request, _ *user) {
	var body struct {
		Incident *struct {
			Type        string `json:"type"`
			Title       string `json:"title"`
			Service     *refIn `json:"service"`
			Urgency     string `json:"urgency"`
			IncidentKey string `json:"incident_key"`
			Body        *struct {
				Type    string `json:"type"`
				Details string `json:"details"`
			} `json:"body"`
		} `json:"incident"`
	}
	if !decode(w, r, &body) {
		return
	}
	in := body.Incident
	var problems []string
	switch {
	case in == nil:
		problems = append(problems, "the body must be an object with an incident field")
	default:
		if in.Type != "incident" {
			problems = append(problems, `incident.type must be "incident"`)
		}
		if strings.TrimSpace(in.Title) == "" {
			problems = append(problems, "incident.title is required")
		}
		if in.Service == nil || in.Service.ID == "" || in.Service.Type != "service_reference" {
			problems = append(problems, "incident.service must be a service_reference with an id")
		}
		if in.Urgency != "" && in.Urgency != "high" && in.Urgency != "low" {
			problems = append(problems, `incident.urgency must be "high" or "low"`)
		}
		if in.Body != nil && in.Body.Type != "incident_body" {
			problems = append(problems, `incident.body.type must be "incident_body"`)
		}
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", problems...)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.serviceByID(in.Service.ID)
	if svc == nil {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", fmt.Sprintf("service %q does not exist", in.Service.ID))
		return
	}
	if in.IncidentKey != "" && s.openByKey(svc.id, in.IncidentKey) != nil {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Incident key conflict",
			fmt.Sprintf("an incident with key %q is still open in this service", in.IncidentKey))
		return
	}
	inc := &incident{
		id:         s.nextID("I"),
		number:     len(s.incidents) + 1,
		title:      in.Title,
		key:        in.IncidentKey,
		serviceID:  svc.id,
		urgency:    in.Urgency,
		status:     "triggered",
		createdBy:  r.Header.Get("From"),
		createdAt:  s.clock.Now(),
		receivedAt: time.Now(),
	}
	if inc.urgency == "" {
		inc.urgency = "high"
	}
	if in.Body != nil {
		inc.details = in.Body.Details
	}
	// Like PagerDuty, assign the incident to whoever is on call at the
	// first level of the service's escalation policy.
	for _, oc := range s.oncalls {
		if oc.policyID == svc.policyID && oc.level == 1 && !slices.Contains(inc.assignees, oc.userID) {
			inc.assignees = append(inc.assignees, oc.userID)
		}
	}
	s.incidents = append(s.incidents, inc)
	writeJSON(w, http.StatusCreated, map[string]any{"incident": s.incidentJSON(inc)})
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request, _ *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.incidentByID(r.PathValue("id"))
	if in == nil {
		notFound(w, "incident", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": s.incidentJSON(in)})
}

// updateIncident changes an incident's status. Resolving an incident that
// is already resolved is refused with 400: clients must not depend on
// PagerDuty treating it as a no-op.
func (s *Server) updateIncident(w http.ResponseWriter, r *http.Request, _ *user) {
	var body struct {
		Incident *struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"incident"`
	}
	if !decode(w, r, &body) {
		return
	}
	u := body.Incident
	if u == nil || (u.Type != "incident" && u.Type != "incident_reference") {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", `the body must hold an incident of type "incident" or "incident_reference"`)
		return
	}
	if u.Status != "" && u.Status != "acknowledged" && u.Status != "resolved" {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", fmt.Sprintf("status %q cannot be set", u.Status))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.incidentByID(r.PathValue("id"))
	if in == nil {
		notFound(w, "incident", r.PathValue("id"))
		return
	}
	if u.Status != "" {
		if in.status == "resolved" {
			writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", "the incident is resolved already")
			return
		}
		in.status = u.Status
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": s.incidentJSON(in)})
}

func (s *Server) listNotes(w http.ResponseWriter, r *http.Request, _ *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.incidentByID(r.PathValue("id"))
	if in == nil {
		notFound(w, "incident", r.PathValue("id"))
		return
	}
	notes := []any{}
	for _, n := range in.notes {
		notes = append(notes, s.noteJSON(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"notes": notes})
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request, from *user) {
	var body struct {
		Note *struct {
			Content string `json:"content"`
		} `json:"note"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Note == nil || strings.TrimSpace(body.Note.Content) == "" {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", "note.content is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.incidentByID(r.PathValue("id"))
	if in == nil {
		notFound(w, "incident", r.PathValue("id"))
		return
	}
	n := note{id: s.nextID("N"), content: body.Note.Content, userID: from.id, createdAt: s.clock.Now()}
	in.notes = append(in.notes, n)
	writeJSON(w, http.StatusCreated, map[string]any{"note": s.noteJSON(n)})
}

// Extensions.

func (s *Server) listSchemas(w http.ResponseWriter, r *http.Request, _ *user) {
	s.mu.Lock()
	var items []any
	for _, sc := range s.schemas {
		items = append(items, map[string]any{"id": sc.id, "type": "extension_schema", "summary": sc.label, "key": sc.key, "label": sc.label, "send_types": []string{}})
	}
	s.mu.Unlock()
	s.list(w, r, "extension_schemas", items)
}

func (s *Server) listExtensions(w http.ResponseWriter, r *http.Request, _ *user) {
	q := r.URL.Query()
	objectID, schemaID, query := q.Get("extension_object_id"), q.Get("extension_schema_id"), strings.ToLower(q.Get("query"))
	s.mu.Lock()
	var items []any
	for _, e := range s.extensions {
		switch {
		case objectID != "" && !slices.Contains(e.serviceIDs, objectID),
			schemaID != "" && e.schemaID != schemaID,
			query != "" && !strings.Contains(strings.ToLower(e.name), query):
			continue
		}
		items = append(items, s.extensionJSON(e))
	}
	s.mu.Unlock()
	s.list(w, r, "extensions", items)
}

func (s *Server) getExtension(w http.ResponseWriter, r *http.Request, _ *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.extensionByID(r.PathValue("id"))
	if e == nil {
		notFound(w, "extension", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"extension": s.extensionJSON(e)})
}

type extensionIn struct {
	Name             string          `json:"name"`
	EndpointURL      string          `json:"endpoint_url"`
	ExtensionSchema  *refIn          `json:"extension_schema"`
	ExtensionObjects []refIn         `json:"extension_objects"`
	Config           json.RawMessage `json:"config"`
}

// checkExtension validates an extension body against the current state and
// returns what is wrong; callers hold s.mu. self is the extension being
// updated (nil on create).
func (s *Server) checkExtension(in *extensionIn, self *extension) []string {
	var problems []string
	if in == nil {
		return []string{"the body must be an object with an extension field"}
	}
	if strings.TrimSpace(in.Name) == "" {
		problems = append(problems, "extension.name is required")
	}
	if u, err := url.Parse(in.EndpointURL); err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") {
		problems = append(problems, "extension.endpoint_url must be an absolute http(s) URL")
	}
	var sc *schema
	if in.ExtensionSchema == nil || in.ExtensionSchema.Type != "extension_schema_reference" {
		problems = append(problems, "extension.extension_schema must be an extension_schema_reference")
	} else if sc = s.schemaByID(in.ExtensionSchema.ID); sc == nil {
		problems = append(problems, fmt.Sprintf("extension schema %q does not exist", in.ExtensionSchema.ID))
	}
	if len(in.ExtensionObjects) == 0 {
		problems = append(problems, "extension.extension_objects needs at least one service")
	}
	for _, o := range in.ExtensionObjects {
		if o.Type != "service_reference" || s.serviceByID(o.ID) == nil {
			problems = append(problems, fmt.Sprintf("extension object %q is not an existing service_reference", o.ID))
			continue
		}
		if sc == nil || sc.key != "custom_webhook" {
			continue
		}
		n := 0
		for _, e := range s.extensions {
			if e != self && e.schemaID == sc.id && slices.Contains(e.serviceIDs, o.ID) {
				n++
			}
		}
		if n >= maxCustomActions {
			problems = append(problems, fmt.Sprintf("service %q already has %d custom incident actions, the most allowed", o.ID, maxCustomActions))
		}
	}
	if len(in.Config) > 0 && string(in.Config) != "null" {
		var obj map[string]any
		if json.Unmarshal(in.Config, &obj) != nil {
			problems = append(problems, "extension.config must be an object")
		}
	}
	return problems
}

func (s *Server) createExtension(w http.ResponseWriter, r *http.Request, _ *user) {
	var body struct {
		Extension *extensionIn `json:"extension"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if problems := s.checkExtension(body.Extension, nil); len(problems) > 0 {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", problems...)
		return
	}
	in := body.Extension
	e := &extension{id: s.nextID("X"), name: in.Name, endpointURL: in.EndpointURL, schemaID: in.ExtensionSchema.ID, config: in.Config}
	for _, o := range in.ExtensionObjects {
		e.serviceIDs = append(e.serviceIDs, o.ID)
	}
	s.extensions = append(s.extensions, e)
	writeJSON(w, http.StatusCreated, map[string]any{"extension": s.extensionJSON(e)})
}

func (s *Server) updateExtension(w http.ResponseWriter, r *http.Request, _ *user) {
	var body struct {
		Extension *extensionIn `json:"extension"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.extensionByID(r.PathValue("id"))
	if e == nil {
		notFound(w, "extension", r.PathValue("id"))
		return
	}
	if problems := s.checkExtension(body.Extension, e); len(problems) > 0 {
		writeError(w, http.StatusBadRequest, codeInvalidInput, "Invalid Input Provided", problems...)
		return
	}
	in := body.Extension
	e.name, e.endpointURL, e.schemaID, e.config = in.Name, in.EndpointURL, in.ExtensionSchema.ID, in.Config
	e.serviceIDs = nil
	for _, o := range in.ExtensionObjects {
		e.serviceIDs = append(e.serviceIDs, o.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"extension": s.extensionJSON(e)})
}
