package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
)

// Create implements core.Notifier: it opens an incident in the service named
// target.Name with msg's title, body and dedup key as incident_key. When
// PagerDuty refuses it because an open incident with that key already exists
// in the service, Create returns that incident instead. An unknown service
// yields an error matching core.ErrNotFound.
func (c *Client) Create(ctx context.Context, target core.Target, msg core.AlertMessage) (core.AlertRef, error) {
	if target.Provider != core.PagerDuty {
		return core.AlertRef{}, fmt.Errorf("create pagerduty incident for request %s in %s: %w", msg.RequestID, target, ErrWrongProvider)
	}
	svc, err := c.FindService(ctx, target.Name)
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("create pagerduty incident for request %s: %w", msg.RequestID, err)
	}
	opts := &pd.CreateIncidentOptions{
		// go-pagerduty deprecates Type because its own methods set it; this
		// package sends the body itself, and the API requires it.
		//lint:ignore SA1019 the body is sent by Client.do, not go-pagerduty
		Type:        "incident",
		Title:       msg.Title,
		Service:     &pd.APIReference{ID: svc.ID, Type: "service_reference"},
		Urgency:     c.cfg.Urgency,
		IncidentKey: msg.DedupKey,
		Body:        &pd.APIDetails{Type: "incident_body", Details: msg.Body},
	}
	var out struct {
		Incident pd.Incident `json:"incident"`
	}
	err = c.do(ctx, http.MethodPost, "/incidents", nil, map[string]any{"incident": opts}, &out)
	if err == nil {
		return refOf(out.Incident), nil
	}
	ae, isAPI := asAPIError(err)
	if !isAPI || ae.Status != http.StatusBadRequest || msg.DedupKey == "" {
		return core.AlertRef{}, fmt.Errorf("create pagerduty incident for request %s in service %q: %w", msg.RequestID, svc.Name, err)
	}
	// 400 is how PagerDuty refuses a second open incident with the same
	// incident_key. Rather than trust the wording of its message, look for
	// the open incident: if it exists, it is ours.
	ref, ferr := c.findOpen(ctx, svc.ID, msg.DedupKey)
	switch {
	case ferr == nil:
		logging.FromContext(ctx).Info("pagerduty incident with this key already open; using it",
			"alert_id", ref.ID, "service", svc.Name, "request_id", msg.RequestID)
		return ref, nil
	case errors.Is(ferr, core.ErrNotFound):
		return core.AlertRef{}, fmt.Errorf("create pagerduty incident for request %s in service %q: %w", msg.RequestID, svc.Name, err)
	default:
		return core.AlertRef{}, fmt.Errorf("create pagerduty incident for request %s in service %q: refused (%v), then looking up the open incident with its key: %w", msg.RequestID, svc.Name, err, ferr)
	}
}

// Find implements core.Notifier: the open (triggered or acknowledged)
// incident with incident_key dedupKey in the service named target.Name;
// core.ErrNotFound when there is none.
func (c *Client) Find(ctx context.Context, target core.Target, dedupKey string) (core.AlertRef, error) {
	if target.Provider != core.PagerDuty {
		return core.AlertRef{}, fmt.Errorf("find pagerduty incident %s in %s: %w", dedupKey, target, ErrWrongProvider)
	}
	svc, err := c.FindService(ctx, target.Name)
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("find pagerduty incident %s: %w", dedupKey, err)
	}
	ref, err := c.findOpen(ctx, svc.ID, dedupKey)
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("find pagerduty incident %s in service %q: %w", dedupKey, svc.Name, err)
	}
	return ref, nil
}

// findOpen looks up the open incident with incident_key key in a service.
func (c *Client) findOpen(ctx context.Context, serviceID, key string) (core.AlertRef, error) {
	if key == "" {
		return core.AlertRef{}, fmt.Errorf("%w: empty incident key", core.ErrInvalid)
	}
	incidents, err := c.listIncidents(ctx, pd.ListIncidentsOptions{IncidentKey: key, ServiceIDs: []string{serviceID}, Statuses: openStatuses})
	if err != nil {
		return core.AlertRef{}, err
	}
	for _, in := range incidents {
		// Filters are PagerDuty's; re-check the ones identity depends on.
		if in.IncidentKey == key && in.Status != statusResolved {
			return refOf(in), nil
		}
	}
	return core.AlertRef{}, fmt.Errorf("%w: no open incident with key %q", core.ErrNotFound, key)
}

// Complete implements core.Notifier. PagerDuty creates incidents
// synchronously, so it always returns ErrNoPendingCreation (core.ErrInvalid).
func (c *Client) Complete(_ context.Context, pendingRef string) (core.AlertRef, error) {
	return core.AlertRef{}, fmt.Errorf("complete pagerduty creation %q: %w", pendingRef, ErrNoPendingCreation)
}

// Get implements core.Notifier: the incident's current state; an error
// matching core.ErrNotFound when PagerDuty does not know the ID.
func (c *Client) Get(ctx context.Context, alertID string) (core.AlertRef, error) {
	path, err := idPath("/incidents", alertID)
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("get pagerduty incident: %w", err)
	}
	var out struct {
		Incident pd.Incident `json:"incident"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return core.AlertRef{}, fmt.Errorf("get pagerduty incident %s: %w", alertID, err)
	}
	return refOf(out.Incident), nil
}

// DedupKeyOf implements core.IncidentKeys: it returns the incident_key of an
// incident, for webhook payloads that name only the incident ID.
func (c *Client) DedupKeyOf(ctx context.Context, alertID string) (string, error) {
	path, err := idPath("/incidents", alertID)
	if err != nil {
		return "", fmt.Errorf("get pagerduty incident key: %w", err)
	}
	var out struct {
		Incident pd.Incident `json:"incident"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return "", fmt.Errorf("get pagerduty incident %s: %w", alertID, err)
	}
	return out.Incident.IncidentKey, nil
}

// AddNote implements core.Notifier: it posts note on the incident as the
// From user.
func (c *Client) AddNote(ctx context.Context, alertID, note string) error {
	path, err := idPath("/incidents", alertID)
	if err != nil {
		return fmt.Errorf("add note to pagerduty incident: %w", err)
	}
	body := map[string]any{"note": map[string]string{"content": note}}
	if err := c.do(ctx, http.MethodPost, path+"/notes", nil, body, nil); err != nil {
		return fmt.Errorf("add note to pagerduty incident %s: %w", alertID, err)
	}
	return nil
}

// Resolve implements core.Notifier: it posts note (when not empty), then
// resolves the incident. An incident already resolved, by us or by a person,
// counts as success.
func (c *Client) Resolve(ctx context.Context, alertID, note string) error {
	path, err := idPath("/incidents", alertID)
	if err != nil {
		return fmt.Errorf("resolve pagerduty incident: %w", err)
	}
	if note != "" {
		if err := c.AddNote(ctx, alertID, note); err != nil {
			return fmt.Errorf("resolve pagerduty incident %s: %w", alertID, err)
		}
	}
	body := map[string]any{"incident": map[string]string{"type": "incident_reference", "status": statusResolved}}
	err = c.do(ctx, http.MethodPut, path, nil, body, nil)
	if err == nil {
		return nil
	}
	// PagerDuty may refuse to resolve a resolved incident; what matters is
	// the state, so look at it before reporting the refusal.
	if ae, ok := asAPIError(err); ok && ae.Status == http.StatusBadRequest {
		if ref, gerr := c.Get(ctx, alertID); gerr == nil && ref.Resolved {
			logging.FromContext(ctx).Debug("pagerduty incident was resolved already", "alert_id", alertID)
			return nil
		}
	}
	return fmt.Errorf("resolve pagerduty incident %s: %w", alertID, err)
}

// refOf converts an incident to an AlertRef.
func refOf(in pd.Incident) core.AlertRef {
	return core.AlertRef{ID: in.ID, Resolved: in.Status == statusResolved}
}
