package opsgenie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
)

// Opsgenie's field limits, in characters. Longer values are cut here rather
// than rejected there with a 422.
const (
	maxMessage     = 130
	maxDescription = 15000
	maxNote        = 25000
)

// Alert actions oncallgate installs; the webhook maps them to reviews.
var alertActions = []string{"Approve", "Deny"}

// uuidLike matches Opsgenie's IDs for teams, schedules, users and
// escalations, so a responder written as an ID is sent as one.
var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

type responder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

type createAlertBody struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias,omitempty"`
	Description string            `json:"description,omitempty"`
	Responders  []responder       `json:"responders,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Actions     []string          `json:"actions,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	Source      string            `json:"source,omitempty"`
	User        string            `json:"user,omitempty"`
}

type actionBody struct {
	User   string `json:"user,omitempty"`
	Source string `json:"source,omitempty"`
	Note   string `json:"note,omitempty"`
}

// asyncAnswer is the 202 answer to every alert write.
type asyncAnswer struct {
	Result    string `json:"result"`
	RequestID string `json:"requestId"`
}

// requestStatus is /alerts/requests/{id}. Opsgenie wraps it in "data"; the
// JSM REST API does not, so both shapes are read.
type requestStatus struct {
	IsSuccess bool   `json:"isSuccess"`
	Action    string `json:"action"`
	Status    string `json:"status"`
	AlertID   string `json:"alertId"`
	Alias     string `json:"alias"`
}

type alertData struct {
	ID     string `json:"id"`
	TinyID string `json:"tinyId"`
	Alias  string `json:"alias"`
	Status string `json:"status"`
}

// enveloped decodes {"data": T} or a bare T.
type enveloped[T any] struct {
	v T
}

func (e *enveloped[T]) UnmarshalJSON(raw []byte) error {
	var wrapped struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return err
	}
	if len(wrapped.Data) > 0 && string(wrapped.Data) != "null" {
		return json.Unmarshal(wrapped.Data, &e.v)
	}
	return json.Unmarshal(raw, &e.v)
}

// responderFor turns a target into an Opsgenie responder: an ID when the
// name looks like one, a username for users, a name otherwise.
func responderFor(t core.Target) (responder, error) {
	kind := strings.ToLower(strings.TrimSpace(t.Kind))
	if kind == "" {
		kind = core.KindSchedule
	}
	switch kind {
	case core.KindSchedule, core.KindTeam, core.KindUser, core.KindEscalation:
	default:
		return responder{}, fmt.Errorf("%w: responder type %q of %s (want schedule, team, user or escalation)", core.ErrInvalid, t.Kind, t)
	}
	name := strings.TrimSpace(t.Name)
	if name == "" {
		return responder{}, fmt.Errorf("%w: %s has no name", core.ErrInvalid, t)
	}
	switch {
	case uuidLike.MatchString(name):
		return responder{Type: kind, ID: name}, nil
	case kind == core.KindUser:
		return responder{Type: kind, Username: name}, nil
	}
	return responder{Type: kind, Name: name}, nil
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (c *Client) alertPath(parts ...string) string {
	p := c.cfg.AlertsPath
	for _, part := range parts {
		p += "/" + url.PathEscape(part)
	}
	return p
}

// Create implements core.Notifier. It posts the alert, then polls its
// request status up to CompletePolls times. It returns AlertRef{ID} when the
// alert ID is known, or AlertRef{PendingRef} (nil error) when the request
// was accepted but not processed in time, or could not be checked: the
// caller records it and calls Complete later. A create with the alias of an
// open alert returns that alert (Opsgenie deduplicates by alias).
func (c *Client) Create(ctx context.Context, target core.Target, msg core.AlertMessage) (core.AlertRef, error) {
	r, err := responderFor(target)
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("create %s alert for request %s: %w", c.cfg.Provider, msg.RequestID, err)
	}
	body := createAlertBody{
		Message:     truncate(msg.Title, maxMessage),
		Alias:       msg.DedupKey,
		Description: truncate(msg.Body, maxDescription),
		Responders:  []responder{r},
		Tags:        c.cfg.Tags,
		Details:     msg.Details,
		Actions:     alertActions,
		Priority:    c.cfg.Priority,
		Source:      c.cfg.Source,
		User:        c.cfg.User,
	}
	var ans asyncAnswer
	if err := c.do(ctx, "POST", c.cfg.AlertsPath, nil, body, &ans); err != nil {
		return core.AlertRef{}, fmt.Errorf("create %s alert for request %s in %s: %w", c.cfg.Provider, msg.RequestID, target, err)
	}
	if ans.RequestID == "" {
		return core.AlertRef{}, fmt.Errorf("create %s alert for request %s: %w: accepted without a request ID", c.cfg.Provider, msg.RequestID, core.ErrInvalid)
	}
	log := logging.FromContext(ctx)
	var rejected *RequestFailedError
	for i := 0; i < c.cfg.CompletePolls; i++ {
		if !sleep(ctx, c.cfg.CompleteInterval) {
			break
		}
		ref, err := c.Complete(ctx, ans.RequestID)
		switch {
		case err == nil:
			return ref, nil
		case errors.Is(err, core.ErrAlertPending):
			continue
		case errors.As(err, &rejected):
			return core.AlertRef{}, fmt.Errorf("create %s alert for request %s in %s: %w", c.cfg.Provider, msg.RequestID, target, rejected)
		default:
			log.Warn("could not learn the alert ID yet; recording the request ID to complete later",
				"provider", string(c.cfg.Provider), "pending_ref", ans.RequestID, "error", err.Error())
			return core.AlertRef{PendingRef: ans.RequestID}, nil
		}
	}
	log.Debug("alert creation still pending", "provider", string(c.cfg.Provider), "pending_ref", ans.RequestID)
	return core.AlertRef{PendingRef: ans.RequestID}, nil
}

// sleep waits d or until ctx is done; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Complete implements core.Notifier: it turns an asynchronous create's
// request ID into the alert ID. ErrAlertPending while Opsgenie has not
// processed the request (404); a *RequestFailedError when it rejected it.
func (c *Client) Complete(ctx context.Context, pendingRef string) (core.AlertRef, error) {
	var st enveloped[requestStatus]
	err := c.do(ctx, "GET", c.alertPath("requests", pendingRef), nil, nil, &st)
	if errors.Is(err, core.ErrNotFound) {
		return core.AlertRef{}, fmt.Errorf("complete %s alert request %s: %w", c.cfg.Provider, pendingRef, core.ErrAlertPending)
	}
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("complete %s alert request %s: %w", c.cfg.Provider, pendingRef, err)
	}
	switch {
	case !st.v.IsSuccess:
		return core.AlertRef{}, fmt.Errorf("complete %s alert request %s: %w", c.cfg.Provider, pendingRef,
			&RequestFailedError{Provider: c.cfg.Provider, RequestID: pendingRef, Action: st.v.Action, Status: st.v.Status})
	case st.v.AlertID == "":
		return core.AlertRef{}, fmt.Errorf("complete %s alert request %s: %w", c.cfg.Provider, pendingRef, core.ErrAlertPending)
	}
	return core.AlertRef{ID: st.v.AlertID}, nil
}

// getAlert reads one alert by identifier ("id" or "alias").
func (c *Client) getAlert(ctx context.Context, identifier, identifierType string) (alertData, error) {
	var a enveloped[alertData]
	q := url.Values{"identifierType": {identifierType}}
	if err := c.do(ctx, "GET", c.alertPath(identifier), q, nil, &a); err != nil {
		return alertData{}, err
	}
	return a.v, nil
}

// Find implements core.Notifier: the open alert with alias dedupKey.
// Opsgenie aliases are account-wide, so target does not narrow the search.
// A closed alert counts as not found.
func (c *Client) Find(ctx context.Context, target core.Target, dedupKey string) (core.AlertRef, error) {
	a, err := c.getAlert(ctx, dedupKey, "alias")
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("find %s alert %q for %s: %w", c.cfg.Provider, dedupKey, target, err)
	}
	if strings.EqualFold(a.Status, "closed") {
		return core.AlertRef{}, fmt.Errorf("find %s alert %q for %s: %w: only a closed alert has this alias", c.cfg.Provider, dedupKey, target, core.ErrNotFound)
	}
	return core.AlertRef{ID: a.ID}, nil
}

// Get implements core.Notifier: Resolved is true once the alert is closed.
func (c *Client) Get(ctx context.Context, alertID string) (core.AlertRef, error) {
	a, err := c.getAlert(ctx, alertID, "id")
	if err != nil {
		return core.AlertRef{}, fmt.Errorf("get %s alert %s: %w", c.cfg.Provider, alertID, err)
	}
	return core.AlertRef{ID: a.ID, Resolved: strings.EqualFold(a.Status, "closed")}, nil
}

// DedupKeyOf implements core.IncidentKeys: the alias of an alert.
func (c *Client) DedupKeyOf(ctx context.Context, alertID string) (string, error) {
	a, err := c.getAlert(ctx, alertID, "id")
	if err != nil {
		return "", fmt.Errorf("get alias of %s alert %s: %w", c.cfg.Provider, alertID, err)
	}
	return a.Alias, nil
}

// AddNote implements core.Notifier. Opsgenie accepts the note
// asynchronously (202); acceptance counts as success.
func (c *Client) AddNote(ctx context.Context, alertID, note string) error {
	body := actionBody{User: c.cfg.User, Source: c.cfg.Source, Note: truncate(note, maxNote)}
	q := url.Values{"identifierType": {"id"}}
	if err := c.do(ctx, "POST", c.alertPath(alertID, "notes"), q, body, &asyncAnswer{}); err != nil {
		return fmt.Errorf("add note to %s alert %s: %w", c.cfg.Provider, alertID, err)
	}
	return nil
}

// Resolve implements core.Notifier: it closes the alert with note attached.
// Closing is asynchronous (202, accepted counts as success) and closing a
// closed alert is accepted too. An alert that no longer exists (404) has
// nothing left to close, so that also succeeds.
func (c *Client) Resolve(ctx context.Context, alertID, note string) error {
	body := actionBody{User: c.cfg.User, Source: c.cfg.Source, Note: truncate(note, maxNote)}
	q := url.Values{"identifierType": {"id"}}
	err := c.do(ctx, "POST", c.alertPath(alertID, "close"), q, body, &asyncAnswer{})
	if errors.Is(err, core.ErrNotFound) {
		logging.FromContext(ctx).Info("alert to close no longer exists", "provider", string(c.cfg.Provider), "alert_id", alertID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("close %s alert %s: %w", c.cfg.Provider, alertID, err)
	}
	return nil
}
