package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// pagerDutyV2 is the older custom-action payload: messages[] with the
// incident and the log entry whose agent pressed the button.
type pagerDutyV2 struct {
	Messages []struct {
		ID       string `json:"id"`
		Event    string `json:"event"`
		Incident struct {
			ID          string `json:"id"`
			IncidentKey string `json:"incident_key"`
		} `json:"incident"`
		LogEntries []struct {
			Agent struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"agent"`
		} `json:"log_entries"`
	} `json:"messages"`
}

// pagerDutyV3 is the v3 webhook envelope.
type pagerDutyV3 struct {
	Event *struct {
		ID           string `json:"id"`
		EventType    string `json:"event_type"`
		ResourceType string `json:"resource_type"`
		Agent        *struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"agent"`
		Data struct {
			ID          string `json:"id"`
			Type        string `json:"type"`
			IncidentKey string `json:"incident_key"`
		} `json:"data"`
	} `json:"event"`
}

// ParsePagerDuty reads either PagerDuty payload shape. approve comes from
// the route (the action's URL says which button it is).
func ParsePagerDuty(body []byte, approve bool) (core.Action, error) {
	var probe map[string]json.RawMessage
	if err := strictJSON(body, &probe); err != nil {
		return core.Action{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	a := core.Action{Provider: core.PagerDuty, Approve: approve}
	switch {
	case probe["messages"] != nil:
		var p pagerDutyV2
		if err := json.Unmarshal(body, &p); err != nil {
			return core.Action{}, fmt.Errorf("%w: messages: %v", ErrMalformed, err)
		}
		if len(p.Messages) != 1 {
			return core.Action{}, fmt.Errorf("%w: want exactly one message, got %d", ErrMalformed, len(p.Messages))
		}
		m := p.Messages[0]
		if m.Event != "" && m.Event != "incident.custom" {
			return core.Action{}, fmt.Errorf("%w: event %q is not a custom incident action", ErrMalformed, m.Event)
		}
		a.DeliveryID, a.AlertID, a.DedupKey = m.ID, m.Incident.ID, m.Incident.IncidentKey
		for _, le := range m.LogEntries {
			if le.Agent.Type == "user_reference" || le.Agent.Type == "user" {
				a.ActorID = le.Agent.ID
				break
			}
		}
	case probe["event"] != nil:
		var p pagerDutyV3
		if err := json.Unmarshal(body, &p); err != nil || p.Event == nil {
			return core.Action{}, fmt.Errorf("%w: event envelope", ErrMalformed)
		}
		e := p.Event
		if e.ResourceType != "" && e.ResourceType != "incident" {
			return core.Action{}, fmt.Errorf("%w: resource type %q is not an incident", ErrMalformed, e.ResourceType)
		}
		a.DeliveryID, a.AlertID, a.DedupKey = e.ID, e.Data.ID, e.Data.IncidentKey
		if e.Agent != nil && (e.Agent.Type == "user_reference" || e.Agent.Type == "user") {
			a.ActorID = e.Agent.ID
		}
	default:
		return core.Action{}, fmt.Errorf("%w: neither a messages[] nor an event payload", ErrMalformed)
	}
	if a.AlertID == "" && a.DedupKey == "" {
		return core.Action{}, fmt.Errorf("%w: no incident in payload", ErrMalformed)
	}
	if a.DeliveryID == "" {
		return core.Action{}, fmt.Errorf("%w: no delivery id", ErrMalformed)
	}
	a.DeliveryID = "pagerduty:" + a.DeliveryID
	return a, nil
}

// opsgeniePayload is the Opsgenie (and JSM) webhook integration's custom
// action payload.
type opsgeniePayload struct {
	Action string `json:"action"`
	Alert  struct {
		AlertID   string `json:"alertId"`
		Alias     string `json:"alias"`
		Username  string `json:"username"`
		UpdatedAt int64  `json:"updatedAt"`
	} `json:"alert"`
}

// dedupBucket groups retries of one press into one delivery ID when the
// payload carries no delivery ID of its own.
const dedupBucket = 10 * time.Minute

// ParseOpsgenie reads an Opsgenie/JSM custom action payload. now places the
// delivery in a time bucket for deduplication.
func ParseOpsgenie(body []byte, provider core.Provider, now time.Time) (core.Action, error) {
	var p opsgeniePayload
	if err := strictJSON(body, &p); err != nil {
		return core.Action{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	a := core.Action{Provider: provider, AlertID: p.Alert.AlertID, DedupKey: p.Alert.Alias, ActorEmail: strings.TrimSpace(p.Alert.Username)}
	switch strings.ToLower(strings.TrimSpace(p.Action)) {
	case "approve":
		a.Approve = true
	case "deny":
	default:
		return core.Action{}, fmt.Errorf("%w: action %q is neither Approve nor Deny", ErrMalformed, p.Action)
	}
	if a.AlertID == "" && a.DedupKey == "" {
		return core.Action{}, fmt.Errorf("%w: no alert in payload", ErrMalformed)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%d", a.AlertID, a.DedupKey, strings.ToLower(p.Action), strings.ToLower(a.ActorEmail), now.Unix()/int64(dedupBucket/time.Second))
	a.DeliveryID = string(provider) + ":" + hex.EncodeToString(h.Sum(nil))[:32]
	return a, nil
}

// strictJSON decodes one JSON value and rejects trailing data.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
