package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Item types, written to the "type" attribute so a person browsing the
// table can tell items apart.
const (
	typeAlert    = "alert"
	typeRequest  = "request"
	typeDelivery = "delivery"
)

// alertItem is the stored form of core.Alert. Times are RFC3339Nano strings,
// except expires_at (epoch seconds, the TTL attribute).
type alertItem struct {
	PK               string `dynamodbav:"pk"`
	SK               string `dynamodbav:"sk"`
	GSI1PK           string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK           string `dynamodbav:"gsi1sk,omitempty"`
	Type             string `dynamodbav:"type"`
	RequestID        string `dynamodbav:"request_id"`
	Provider         string `dynamodbav:"provider"`
	Kind             string `dynamodbav:"kind,omitempty"`
	Name             string `dynamodbav:"name"`
	Status           string `dynamodbav:"status"`
	AlertID          string `dynamodbav:"alert_id,omitempty"`
	PendingRef       string `dynamodbav:"pending_ref,omitempty"`
	LeaseOwner       string `dynamodbav:"lease_owner,omitempty"`
	LeaseUntil       string `dynamodbav:"lease_until,omitempty"`
	NotedReviews     int    `dynamodbav:"noted_reviews"`
	ClosedExternally bool   `dynamodbav:"closed_externally"`
	CreatedAt        string `dynamodbav:"created_at,omitempty"`
	UpdatedAt        string `dynamodbav:"updated_at,omitempty"`
	ResolvedAt       string `dynamodbav:"resolved_at,omitempty"`
	ExpiresAt        int64  `dynamodbav:"expires_at,omitempty"`
	Version          int64  `dynamodbav:"version"`
}

// decisionItem is one core.Decision inside a request item's decisions list.
type decisionItem struct {
	RequestID string `dynamodbav:"request_id,omitempty"`
	Provider  string `dynamodbav:"provider"`
	Approve   bool   `dynamodbav:"approve"`
	Reason    string `dynamodbav:"reason,omitempty"`
	DryRun    bool   `dynamodbav:"dry_run"`
	Submitted bool   `dynamodbav:"submitted"`
	DecidedAt string `dynamodbav:"decided_at,omitempty"`
}

// requestItem is the stored form of core.RequestRecord (the META item).
type requestItem struct {
	PK        string         `dynamodbav:"pk"`
	SK        string         `dynamodbav:"sk"`
	Type      string         `dynamodbav:"type"`
	RequestID string         `dynamodbav:"request_id"`
	User      string         `dynamodbav:"user,omitempty"`
	Roles     []string       `dynamodbav:"roles,omitempty"`
	State     string         `dynamodbav:"state,omitempty"`
	Decisions []decisionItem `dynamodbav:"decisions,omitempty"`
	UpdatedAt string         `dynamodbav:"updated_at,omitempty"`
	ExpiresAt int64          `dynamodbav:"expires_at,omitempty"`
	Version   int64          `dynamodbav:"version"`
}

// deliveryItem is the stored form of core.Delivery.
type deliveryItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	ID        string `dynamodbav:"delivery_id"`
	Provider  string `dynamodbav:"provider,omitempty"`
	RequestID string `dynamodbav:"request_id,omitempty"`
	Action    string `dynamodbav:"action,omitempty"`
	Actor     string `dynamodbav:"actor,omitempty"`
	SeenAt    string `dynamodbav:"seen_at,omitempty"`
	ExpiresAt int64  `dynamodbav:"expires_at,omitempty"`
}

func requestPK(requestID string) string { return "REQ#" + requestID }

func alertSK(t core.Target) string { return alertSKPrefix + t.Key() }

func openSK(requestID string, t core.Target) string {
	return string(t.Provider) + "#" + requestID + "#" + t.Key()
}

func deliveryPK(id string) string { return "HOOK#" + id }

// formatTime renders t for storage; the zero time is stored as absent.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(attr, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("attribute %s: %w", attr, err)
	}
	return t.UTC(), nil
}

// epoch renders t as the TTL attribute (whole seconds); zero stays absent.
func epoch(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromEpoch(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func isOpen(s core.AlertStatus) bool { return s == core.AlertClaimed || s == core.AlertOpen }

func encodeAlert(a core.Alert) alertItem {
	it := alertItem{
		PK:               requestPK(a.RequestID),
		SK:               alertSK(a.Target),
		Type:             typeAlert,
		RequestID:        a.RequestID,
		Provider:         string(a.Target.Provider),
		Kind:             a.Target.Kind,
		Name:             a.Target.Name,
		Status:           string(a.Status),
		AlertID:          a.AlertID,
		PendingRef:       a.PendingRef,
		LeaseOwner:       a.LeaseOwner,
		LeaseUntil:       formatTime(a.LeaseUntil),
		NotedReviews:     a.NotedReviews,
		ClosedExternally: a.ClosedExternally,
		CreatedAt:        formatTime(a.CreatedAt),
		UpdatedAt:        formatTime(a.UpdatedAt),
		ResolvedAt:       formatTime(a.ResolvedAt),
		ExpiresAt:        epoch(a.ExpiresAt),
		Version:          a.Version,
	}
	// Only claimed and open mappings carry the index keys: the index stays
	// sparse and reconcile reads just the mappings that need attention.
	if isOpen(a.Status) {
		it.GSI1PK = OpenPartition
		it.GSI1SK = openSK(a.RequestID, a.Target)
	}
	return it
}

func decodeAlert(m map[string]types.AttributeValue) (core.Alert, error) {
	var it alertItem
	if err := attributevalue.UnmarshalMap(m, &it); err != nil {
		return core.Alert{}, fmt.Errorf("decode alert mapping: %w", err)
	}
	a := core.Alert{
		RequestID:        it.RequestID,
		Target:           core.Target{Provider: core.Provider(it.Provider), Kind: it.Kind, Name: it.Name},
		Status:           core.AlertStatus(it.Status),
		AlertID:          it.AlertID,
		PendingRef:       it.PendingRef,
		LeaseOwner:       it.LeaseOwner,
		NotedReviews:     it.NotedReviews,
		ClosedExternally: it.ClosedExternally,
		ExpiresAt:        fromEpoch(it.ExpiresAt),
		Version:          it.Version,
	}
	var err error
	for _, f := range []struct {
		attr string
		s    string
		dst  *time.Time
	}{
		{"lease_until", it.LeaseUntil, &a.LeaseUntil},
		{"created_at", it.CreatedAt, &a.CreatedAt},
		{"updated_at", it.UpdatedAt, &a.UpdatedAt},
		{"resolved_at", it.ResolvedAt, &a.ResolvedAt},
	} {
		if *f.dst, err = parseTime(f.attr, f.s); err != nil {
			return core.Alert{}, fmt.Errorf("decode alert mapping %s %s: %w", it.PK, it.SK, err)
		}
	}
	return a, nil
}

func encodeRequest(rec core.RequestRecord) requestItem {
	it := requestItem{
		PK:        requestPK(rec.RequestID),
		SK:        metaSK,
		Type:      typeRequest,
		RequestID: rec.RequestID,
		User:      rec.User,
		Roles:     rec.Roles,
		State:     string(rec.State),
		UpdatedAt: formatTime(rec.UpdatedAt),
		ExpiresAt: epoch(rec.ExpiresAt),
		Version:   rec.Version,
	}
	for _, d := range rec.Decisions {
		it.Decisions = append(it.Decisions, decisionItem{
			RequestID: d.RequestID,
			Provider:  string(d.Provider),
			Approve:   d.Approve,
			Reason:    d.Reason,
			DryRun:    d.DryRun,
			Submitted: d.Submitted,
			DecidedAt: formatTime(d.DecidedAt),
		})
	}
	return it
}

func decodeRequest(m map[string]types.AttributeValue) (core.RequestRecord, error) {
	var it requestItem
	if err := attributevalue.UnmarshalMap(m, &it); err != nil {
		return core.RequestRecord{}, fmt.Errorf("decode request record: %w", err)
	}
	rec := core.RequestRecord{
		RequestID: it.RequestID,
		User:      it.User,
		Roles:     it.Roles,
		State:     core.State(it.State),
		ExpiresAt: fromEpoch(it.ExpiresAt),
		Version:   it.Version,
	}
	var err error
	if rec.UpdatedAt, err = parseTime("updated_at", it.UpdatedAt); err != nil {
		return core.RequestRecord{}, fmt.Errorf("decode request record %s: %w", it.RequestID, err)
	}
	for i, d := range it.Decisions {
		at, err := parseTime("decided_at", d.DecidedAt)
		if err != nil {
			return core.RequestRecord{}, fmt.Errorf("decode request record %s decision %d: %w", it.RequestID, i, err)
		}
		rec.Decisions = append(rec.Decisions, core.Decision{
			RequestID: d.RequestID,
			Provider:  core.Provider(d.Provider),
			Approve:   d.Approve,
			Reason:    d.Reason,
			DryRun:    d.DryRun,
			Submitted: d.Submitted,
			DecidedAt: at,
		})
	}
	return rec, nil
}

// encodeCursor makes an opaque page cursor of a LastEvaluatedKey. The index
// keys and table keys are all strings.
func encodeCursor(key map[string]types.AttributeValue) (string, error) {
	if len(key) == 0 {
		return "", nil
	}
	plain := make(map[string]string, len(key))
	for k, v := range key {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("encode page cursor: key attribute %s is %T, not a string", k, v)
		}
		plain[k] = s.Value
	}
	b, err := json.Marshal(plain)
	if err != nil {
		return "", fmt.Errorf("encode page cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeCursor is the inverse of encodeCursor; a cursor it did not make is
// core.ErrInvalid.
func decodeCursor(cursor string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("decode page cursor: %w: %v", core.ErrInvalid, err)
	}
	var plain map[string]string
	if err := json.Unmarshal(b, &plain); err != nil {
		return nil, fmt.Errorf("decode page cursor: %w: %v", core.ErrInvalid, err)
	}
	for _, k := range []string{TableKeyPK, TableKeySK, IndexKeyPK, IndexKeySK} {
		if plain[k] == "" {
			return nil, fmt.Errorf("decode page cursor: %w: attribute %s missing", core.ErrInvalid, k)
		}
	}
	key := make(map[string]types.AttributeValue, 4)
	for _, k := range []string{TableKeyPK, TableKeySK, IndexKeyPK, IndexKeySK} {
		key[k] = &types.AttributeValueMemberS{Value: plain[k]}
	}
	return key, nil
}
