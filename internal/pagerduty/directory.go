package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Incident statuses.
const (
	statusTriggered    = "triggered"
	statusAcknowledged = "acknowledged"
	statusResolved     = "resolved"
)

var openStatuses = []string{statusTriggered, statusAcknowledged}

// idPath returns prefix + "/" + id after checking that id is a plain
// PagerDuty ID, so that an ID taken from a webhook payload cannot change the
// path of the call.
func idPath(prefix, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%w: empty pagerduty id", core.ErrInvalid)
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", fmt.Errorf("%w: malformed pagerduty id %q", core.ErrInvalid, id)
		}
	}
	return prefix + "/" + id, nil
}

// FindUserByEmail implements core.PagerDutyDirectory: the user whose email
// equals email after lower-casing both; an error matching core.ErrNotFound
// when none does.
func (c *Client) FindUserByEmail(ctx context.Context, email string) (core.PagerDutyUser, error) {
	want := strings.ToLower(strings.TrimSpace(email))
	if want == "" {
		return core.PagerDutyUser{}, fmt.Errorf("find pagerduty user: %w: empty email", core.ErrInvalid)
	}
	q, err := values(pd.ListUsersOptions{Query: want})
	if err != nil {
		return core.PagerDutyUser{}, fmt.Errorf("find pagerduty user %s: %w", email, err)
	}
	var found *core.PagerDutyUser
	err = c.listAll(ctx, "/users", q, func(raw json.RawMessage) (pd.APIListObject, int, error) {
		var page pd.ListUsersResponse
		if err := json.Unmarshal(raw, &page); err != nil {
			return pd.APIListObject{}, 0, err
		}
		for _, u := range page.Users {
			if found == nil && strings.ToLower(strings.TrimSpace(u.Email)) == want {
				found = &core.PagerDutyUser{ID: u.ID, Email: u.Email, Name: u.Name}
			}
		}
		if found != nil {
			return pd.APIListObject{}, len(page.Users), nil // stop paging
		}
		return page.APIListObject, len(page.Users), nil
	})
	if err != nil {
		return core.PagerDutyUser{}, fmt.Errorf("find pagerduty user %s: %w", email, err)
	}
	if found == nil {
		return core.PagerDutyUser{}, &NotFoundError{What: "user with email", Name: email}
	}
	return *found, nil
}

// GetUser returns the user with PagerDuty ID id (for instance the agent of a
// webhook); an error matching core.ErrNotFound when there is none.
func (c *Client) GetUser(ctx context.Context, id string) (core.PagerDutyUser, error) {
	path, err := idPath("/users", id)
	if err != nil {
		return core.PagerDutyUser{}, fmt.Errorf("get pagerduty user: %w", err)
	}
	var out struct {
		User pd.User `json:"user"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return core.PagerDutyUser{}, fmt.Errorf("get pagerduty user %s: %w", id, err)
	}
	return core.PagerDutyUser{ID: out.User.ID, Email: out.User.Email, Name: out.User.Name}, nil
}

// FindService implements core.PagerDutyDirectory: the service named name,
// compared case-insensitively and exactly (PagerDuty's query also matches
// parts of names). Found services are cached for the Client's life (one cold
// start); unknown names for Config.NotFoundTTL. An unknown name yields a
// *NotFoundError, which matches core.ErrNotFound.
func (c *Client) FindService(ctx context.Context, name string) (core.PagerDutyService, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if key == "" {
		return core.PagerDutyService{}, fmt.Errorf("find pagerduty service: %w: empty name", core.ErrInvalid)
	}
	now := c.cfg.Clock.Now()
	// One lookup per name at a time: the concurrent first callers of a
	// burst wait for it instead of each asking PagerDuty.
	for {
		c.mu.Lock()
		e, ok := c.services[key]
		if ok && e.found {
			c.mu.Unlock()
			return e.svc, nil
		}
		if ok && now.Before(e.expires) {
			c.mu.Unlock()
			return core.PagerDutyService{}, &NotFoundError{What: "service", Name: name}
		}
		wait, busy := c.lookups[key]
		if !busy {
			done := make(chan struct{})
			c.lookups[key] = done
			c.mu.Unlock()
			defer func() {
				c.mu.Lock()
				delete(c.lookups, key)
				c.mu.Unlock()
				close(done)
			}()
			break
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return core.PagerDutyService{}, fmt.Errorf("find pagerduty service %q: %w", name, ctx.Err())
		}
	}

	q, err := values(pd.ListServiceOptions{Query: strings.TrimSpace(name)})
	if err != nil {
		return core.PagerDutyService{}, fmt.Errorf("find pagerduty service %q: %w", name, err)
	}
	var found *core.PagerDutyService
	err = c.listAll(ctx, "/services", q, func(raw json.RawMessage) (pd.APIListObject, int, error) {
		var page pd.ListServiceResponse
		if err := json.Unmarshal(raw, &page); err != nil {
			return pd.APIListObject{}, 0, err
		}
		for _, s := range page.Services {
			if found == nil && strings.ToLower(strings.TrimSpace(s.Name)) == key {
				found = &core.PagerDutyService{ID: s.ID, Name: s.Name, EscalationPolicyID: s.EscalationPolicy.ID}
			}
		}
		if found != nil {
			return pd.APIListObject{}, len(page.Services), nil
		}
		return page.APIListObject, len(page.Services), nil
	})
	if err != nil {
		return core.PagerDutyService{}, fmt.Errorf("find pagerduty service %q: %w", name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if found == nil {
		c.services[key] = serviceEntry{expires: now.Add(c.cfg.NotFoundTTL)}
		return core.PagerDutyService{}, &NotFoundError{What: "service", Name: name}
	}
	c.services[key] = serviceEntry{svc: *found, found: true}
	return *found, nil
}

// ListOnCalls implements core.PagerDutyDirectory: the user's on-call entries
// in the given escalation policies, all pages, each with its escalation
// level. No policies means no entries (and no call).
func (c *Client) ListOnCalls(ctx context.Context, userID string, escalationPolicyIDs []string) ([]core.PagerDutyOnCall, error) {
	if len(escalationPolicyIDs) == 0 {
		return nil, nil
	}
	if userID == "" {
		return nil, fmt.Errorf("list pagerduty on-calls: %w: empty user id", core.ErrInvalid)
	}
	q, err := values(pd.ListOnCallOptions{UserIDs: []string{userID}, EscalationPolicyIDs: escalationPolicyIDs})
	if err != nil {
		return nil, fmt.Errorf("list pagerduty on-calls of user %s: %w", userID, err)
	}
	var out []core.PagerDutyOnCall
	err = c.listAll(ctx, "/oncalls", q, func(raw json.RawMessage) (pd.APIListObject, int, error) {
		var page pd.ListOnCallsResponse
		if err := json.Unmarshal(raw, &page); err != nil {
			return pd.APIListObject{}, 0, err
		}
		for _, oc := range page.OnCalls {
			// The filter is PagerDuty's; checking again costs nothing and
			// keeps a lenient server from widening auto-approval.
			if oc.User.ID != "" && oc.User.ID != userID {
				continue
			}
			out = append(out, core.PagerDutyOnCall{EscalationPolicyID: oc.EscalationPolicy.ID, EscalationLevel: int(oc.EscalationLevel)})
		}
		return page.APIListObject, len(page.OnCalls), nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pagerduty on-calls of user %s: %w", userID, err)
	}
	return out, nil
}

// ListActiveIncidents implements core.PagerDutyDirectory: triggered or
// acknowledged incidents assigned to the user in the given services, all
// pages. No services means no incidents (and no call).
func (c *Client) ListActiveIncidents(ctx context.Context, userID string, serviceIDs []string) ([]core.PagerDutyIncident, error) {
	if len(serviceIDs) == 0 {
		return nil, nil
	}
	if userID == "" {
		return nil, fmt.Errorf("list active pagerduty incidents: %w: empty user id", core.ErrInvalid)
	}
	incidents, err := c.listIncidents(ctx, pd.ListIncidentsOptions{UserIDs: []string{userID}, ServiceIDs: serviceIDs, Statuses: openStatuses})
	if err != nil {
		return nil, fmt.Errorf("list active pagerduty incidents of user %s: %w", userID, err)
	}
	out := make([]core.PagerDutyIncident, 0, len(incidents))
	for _, in := range incidents {
		out = append(out, core.PagerDutyIncident{ID: in.ID, Number: int(in.IncidentNumber), Title: in.Title, ServiceID: in.Service.ID, Status: in.Status})
	}
	return out, nil
}

// listIncidents pages through GET /incidents with opts.
func (c *Client) listIncidents(ctx context.Context, opts pd.ListIncidentsOptions) ([]pd.Incident, error) {
	q, err := values(opts)
	if err != nil {
		return nil, err
	}
	var out []pd.Incident
	err = c.listAll(ctx, "/incidents", q, func(raw json.RawMessage) (pd.APIListObject, int, error) {
		var page pd.ListIncidentsResponse
		if err := json.Unmarshal(raw, &page); err != nil {
			return pd.APIListObject{}, 0, err
		}
		out = append(out, page.Incidents...)
		return page.APIListObject, len(page.Incidents), nil
	})
	return out, err
}
