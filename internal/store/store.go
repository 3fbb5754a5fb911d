// Package store keeps oncallgate's state in one DynamoDB table: the alert
// mapping of each (access request, target) with its claim lease and version,
// each request's record of auto-approval decisions, and webhook deliveries
// seen, for deduplication. It implements core.Store.
//
// Every write is conditional, so that concurrent pollers, reconcile and
// Lambda retries never both win: claims are conditional creates or
// conditional takeovers of an expired lease, updates are optimistic on a
// version counter. The package must not decide anything about requests or
// alerts (that is internal/core's job), must not call providers or Teleport,
// and must not scan the table: open mappings are read through the sparse
// index.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Table layout. The CDK stack and the SAM template declare the same names;
// tests and tools refer to these constants rather than repeating strings.
const (
	// TableKeyPK is the partition key attribute (string).
	TableKeyPK = "pk"
	// TableKeySK is the sort key attribute (string).
	TableKeySK = "sk"
	// IndexOpen is the sparse global secondary index over mappings in status
	// claimed or open, projection ALL.
	IndexOpen = "open-index"
	// IndexKeyPK is IndexOpen's partition key attribute (string).
	IndexKeyPK = "gsi1pk"
	// IndexKeySK is IndexOpen's sort key attribute (string).
	IndexKeySK = "gsi1sk"
	// AttrTTL is the TTL attribute: epoch seconds (number).
	AttrTTL = "expires_at"
	// OpenPartition is the single IndexKeyPK value of open mappings.
	OpenPartition = "OPEN"
)

// Sort keys and prefixes of the item kinds.
const (
	metaSK        = "META"
	alertSKPrefix = "ALERT#"
	deliverySK    = "HOOK"
)

// Timeouts and sizes.
const (
	// OperationTimeout bounds one DynamoDB call; the SDK's HTTP client has
	// no timeout of its own.
	OperationTimeout = 10 * time.Second
	// CreateTableTimeout bounds CreateTable's wait for the table to become
	// active.
	CreateTableTimeout = 5 * time.Minute
	// DefaultPageSize is ListOpenAlerts' page size when limit <= 0.
	DefaultPageSize = 100
	// MaxPageSize caps ListOpenAlerts' limit.
	MaxPageSize = 1000
	// DefaultDeliveryTTL is how long a delivery is remembered when the
	// caller sets no ExpiresAt (the webhook/delivery_ttl default).
	DefaultDeliveryTTL = 72 * time.Hour
)

// Store is core.Store on one DynamoDB table. It is safe for concurrent use;
// build it once per cold start.
type Store struct {
	client *dynamodb.Client
	table  string
	clock  core.Clock
	calls  atomic.Int64
}

var _ core.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store take updated_at (and delivery defaults) from c
// instead of the system clock.
func WithClock(c core.Clock) Option { return func(s *Store) { s.clock = c } }

// New returns a Store on table, which must exist with the layout CreateTable
// makes.
func New(client *dynamodb.Client, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, clock: core.SystemClock{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Calls returns how many DynamoDB operations the store has sent so far.
func (s *Store) Calls() int64 { return s.calls.Load() }

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// ClaimAlert implements core.Store. It first tries to create the mapping
// (conditional on it not existing). When the mapping exists in status
// claimed with a lease that ran out before now, it takes the claim over with
// an update conditional on the lease, status and version it read, so that of
// several workers taking over at once exactly one wins; AlertID and
// PendingRef are kept. Any other existing mapping yields core.ErrClaimed.
func (s *Store) ClaimAlert(ctx context.Context, requestID string, target core.Target, owner string, now time.Time, lease time.Duration) (core.Alert, error) {
	if err := validTarget(requestID, target); err != nil {
		return core.Alert{}, fmt.Errorf("claim alert mapping: %w", err)
	}
	if owner == "" || lease <= 0 {
		return core.Alert{}, fmt.Errorf("claim alert mapping of request %s in %s: %w: owner and a positive lease are required", requestID, target, core.ErrInvalid)
	}
	now = now.UTC()
	a := core.Alert{
		RequestID:  requestID,
		Target:     target,
		Status:     core.AlertClaimed,
		LeaseOwner: owner,
		LeaseUntil: now.Add(lease),
		CreatedAt:  now,
		UpdatedAt:  now,
		Version:    1,
	}
	item, err := attributevalue.MarshalMap(encodeAlert(a))
	if err != nil {
		return core.Alert{}, fmt.Errorf("claim alert mapping of request %s in %s: encode: %w", requestID, target, err)
	}
	_, err = s.putItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": TableKeyPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return decodeAlert(item)
	}
	old, exists := conditionFailed(err)
	if !exists {
		return core.Alert{}, fmt.Errorf("claim alert mapping of request %s in %s: %w", requestID, target, s.classify(ctx, "PutItem", "claim", err))
	}
	if old == nil { // the server did not return the item it compared against
		out, err := s.getItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            key(requestPK(requestID), alertSK(target)),
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return core.Alert{}, fmt.Errorf("claim alert mapping of request %s in %s: read existing mapping: %w", requestID, target, s.classify(ctx, "GetItem", "claim", err))
		}
		if out.Item == nil {
			// Deleted (TTL) between the two calls: let the next run create it.
			return core.Alert{}, core.Transient(fmt.Errorf("claim alert mapping of request %s in %s: mapping vanished while claiming", requestID, target), 0)
		}
		old = out.Item
	}
	return s.takeOver(ctx, old, owner, now, lease)
}

// takeOver claims an existing mapping whose lease has run out.
func (s *Store) takeOver(ctx context.Context, old map[string]types.AttributeValue, owner string, now time.Time, lease time.Duration) (core.Alert, error) {
	cur, err := decodeAlert(old)
	if err != nil {
		return core.Alert{}, fmt.Errorf("claim alert mapping: %w", err)
	}
	step := fmt.Sprintf("claim alert mapping of request %s in %s", cur.RequestID, cur.Target)
	if cur.Status != core.AlertClaimed {
		return core.Alert{}, fmt.Errorf("%s: mapping is already %s: %w", step, cur.Status, core.ErrClaimed)
	}
	if !cur.LeaseUntil.Before(now) {
		return core.Alert{}, fmt.Errorf("%s: held by %s until %s: %w", step, cur.LeaseOwner, cur.LeaseUntil.Format(time.RFC3339), core.ErrClaimed)
	}
	names := map[string]string{
		"#status": "status", "#version": "version", "#lease_owner": "lease_owner",
		"#lease_until": "lease_until", "#updated_at": "updated_at",
		"#gpk": IndexKeyPK, "#gsk": IndexKeySK,
	}
	values := map[string]types.AttributeValue{
		":claimed": &types.AttributeValueMemberS{Value: string(core.AlertClaimed)},
		":version": &types.AttributeValueMemberN{Value: strconv.FormatInt(cur.Version, 10)},
		":next":    &types.AttributeValueMemberN{Value: strconv.FormatInt(cur.Version+1, 10)},
		":owner":   &types.AttributeValueMemberS{Value: owner},
		":until":   &types.AttributeValueMemberS{Value: formatTime(now.Add(lease))},
		":now":     &types.AttributeValueMemberS{Value: formatTime(now)},
		":gpk":     &types.AttributeValueMemberS{Value: OpenPartition},
		":gsk":     &types.AttributeValueMemberS{Value: openSK(cur.RequestID, cur.Target)},
	}
	cond := "#status = :claimed AND #version = :version AND "
	if prev, ok := old["lease_until"]; ok {
		// Compare the exact stored value, not a re-encoding of it.
		cond += "#lease_until = :prev"
		values[":prev"] = prev
	} else {
		cond += "attribute_not_exists(#lease_until)"
	}
	out, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(requestPK(cur.RequestID), alertSK(cur.Target)),
		UpdateExpression:          aws.String("SET #lease_owner = :owner, #lease_until = :until, #version = :next, #updated_at = :now, #gpk = :gpk, #gsk = :gsk"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if _, lost := conditionFailed(err); lost {
		return core.Alert{}, fmt.Errorf("%s: another worker took over the expired claim of %s first: %w", step, cur.LeaseOwner, core.ErrClaimed)
	}
	if err != nil {
		return core.Alert{}, fmt.Errorf("%s: take over expired claim: %w", step, s.classify(ctx, "UpdateItem", "takeover", err))
	}
	return decodeAlert(out.Attributes)
}

// GetAlerts implements core.Store with a consistent query of the request's
// partition.
func (s *Store) GetAlerts(ctx context.Context, requestID string) ([]core.Alert, error) {
	if requestID == "" {
		return nil, fmt.Errorf("get alert mappings: %w: empty request ID", core.ErrInvalid)
	}
	var alerts []core.Alert
	var start map[string]types.AttributeValue
	for {
		out, err := s.query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
			ExpressionAttributeNames:  map[string]string{"#pk": TableKeyPK, "#sk": TableKeySK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: requestPK(requestID)}, ":prefix": &types.AttributeValueMemberS{Value: alertSKPrefix}},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("get alert mappings of request %s: %w", requestID, s.classify(ctx, "Query", "alert mappings", err))
		}
		for _, it := range out.Items {
			a, err := decodeAlert(it)
			if err != nil {
				return nil, fmt.Errorf("get alert mappings of request %s: %w", requestID, err)
			}
			alerts = append(alerts, a)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return alerts, nil
		}
		start = out.LastEvaluatedKey
	}
}

// UpdateAlert implements core.Store: it replaces the mapping, conditional on
// the stored version being a.Version, and writes Version+1 and UpdatedAt
// (from the store's clock). The index keys are written only while the
// status is claimed or open. ExpiresAt is kept to whole seconds.
func (s *Store) UpdateAlert(ctx context.Context, a core.Alert) (core.Alert, error) {
	if err := validTarget(a.RequestID, a.Target); err != nil {
		return core.Alert{}, fmt.Errorf("update alert mapping: %w", err)
	}
	switch a.Status {
	case core.AlertClaimed, core.AlertOpen, core.AlertResolved:
	default:
		return core.Alert{}, fmt.Errorf("update alert mapping of request %s in %s: %w: unknown status %q", a.RequestID, a.Target, core.ErrInvalid, a.Status)
	}
	next := a
	next.Version = a.Version + 1
	next.UpdatedAt = s.clock.Now()
	item, err := attributevalue.MarshalMap(encodeAlert(next))
	if err != nil {
		return core.Alert{}, fmt.Errorf("update alert mapping of request %s in %s: encode: %w", a.RequestID, a.Target, err)
	}
	_, err = s.putItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("#version = :expected"),
		ExpressionAttributeNames:  map[string]string{"#version": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":expected": &types.AttributeValueMemberN{Value: strconv.FormatInt(a.Version, 10)}},
	})
	if _, conflict := conditionFailed(err); conflict {
		return core.Alert{}, fmt.Errorf("update alert mapping of request %s in %s: stored version is not %d: %w", a.RequestID, a.Target, a.Version, core.ErrConflict)
	}
	if err != nil {
		return core.Alert{}, fmt.Errorf("update alert mapping of request %s in %s: %w", a.RequestID, a.Target, s.classify(ctx, "PutItem", "alert mapping", err))
	}
	return decodeAlert(item)
}

// ListOpenAlerts implements core.Store by querying the sparse index. The
// index is eventually consistent: a mapping changed a moment ago may show
// its previous state, so callers re-read or rely on versioned updates before
// acting. limit <= 0 means DefaultPageSize; it is capped at MaxPageSize.
func (s *Store) ListOpenAlerts(ctx context.Context, cursor string, limit int) ([]core.Alert, string, error) {
	start, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list open alert mappings: %w", err)
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	out, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexOpen),
		KeyConditionExpression:    aws.String("#gpk = :open"),
		ExpressionAttributeNames:  map[string]string{"#gpk": IndexKeyPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":open": &types.AttributeValueMemberS{Value: OpenPartition}},
		Limit:                     aws.Int32(int32(limit)),
		ExclusiveStartKey:         start,
	})
	if err != nil {
		return nil, "", fmt.Errorf("list open alert mappings: %w", s.classify(ctx, "Query", "index "+IndexOpen, err))
	}
	alerts := make([]core.Alert, 0, len(out.Items))
	for _, it := range out.Items {
		a, err := decodeAlert(it)
		if err != nil {
			return nil, "", fmt.Errorf("list open alert mappings: %w", err)
		}
		alerts = append(alerts, a)
	}
	next, err := encodeCursor(out.LastEvaluatedKey)
	if err != nil {
		return nil, "", fmt.Errorf("list open alert mappings: %w", err)
	}
	return alerts, next, nil
}

// GetRequestRecord implements core.Store with a consistent read of the
// request's META item.
func (s *Store) GetRequestRecord(ctx context.Context, requestID string) (core.RequestRecord, error) {
	if requestID == "" {
		return core.RequestRecord{}, fmt.Errorf("get request record: %w: empty request ID", core.ErrInvalid)
	}
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(requestPK(requestID), metaSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return core.RequestRecord{}, fmt.Errorf("get request record of request %s: %w", requestID, s.classify(ctx, "GetItem", "request record", err))
	}
	if out.Item == nil {
		return core.RequestRecord{}, fmt.Errorf("get request record of request %s: %w", requestID, core.ErrNotFound)
	}
	rec, err := decodeRequest(out.Item)
	if err != nil {
		return core.RequestRecord{}, fmt.Errorf("get request record of request %s: %w", requestID, err)
	}
	return rec, nil
}

// PutRequestRecord implements core.Store. Version 0 creates the record
// (core.ErrConflict, also matching core.ErrExists, when it exists already);
// any other version must equal the stored one. The stored record has
// Version+1 and UpdatedAt from the store's clock.
func (s *Store) PutRequestRecord(ctx context.Context, rec core.RequestRecord) (core.RequestRecord, error) {
	if rec.RequestID == "" {
		return core.RequestRecord{}, fmt.Errorf("put request record: %w: empty request ID", core.ErrInvalid)
	}
	next := rec
	next.Version = rec.Version + 1
	next.UpdatedAt = s.clock.Now()
	item, err := attributevalue.MarshalMap(encodeRequest(next))
	if err != nil {
		return core.RequestRecord{}, fmt.Errorf("put request record of request %s: encode: %w", rec.RequestID, err)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if rec.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": TableKeyPK}
	} else {
		in.ConditionExpression = aws.String("#version = :expected")
		in.ExpressionAttributeNames = map[string]string{"#version": "version"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":expected": &types.AttributeValueMemberN{Value: strconv.FormatInt(rec.Version, 10)}}
	}
	_, err = s.putItem(ctx, in)
	if _, conflict := conditionFailed(err); conflict {
		if rec.Version == 0 {
			return core.RequestRecord{}, fmt.Errorf("create request record of request %s: %w: %w", rec.RequestID, core.ErrExists, core.ErrConflict)
		}
		return core.RequestRecord{}, fmt.Errorf("update request record of request %s: stored version is not %d: %w", rec.RequestID, rec.Version, core.ErrConflict)
	}
	if err != nil {
		return core.RequestRecord{}, fmt.Errorf("put request record of request %s: %w", rec.RequestID, s.classify(ctx, "PutItem", "request record", err))
	}
	return decodeRequest(item)
}

// RecordDelivery implements core.Store with a conditional create. A zero
// SeenAt is set from the store's clock; a zero ExpiresAt becomes SeenAt plus
// DefaultDeliveryTTL, so no delivery item lives forever.
func (s *Store) RecordDelivery(ctx context.Context, d core.Delivery) error {
	if d.ID == "" {
		return fmt.Errorf("record webhook delivery: %w: empty delivery ID", core.ErrInvalid)
	}
	if d.SeenAt.IsZero() {
		d.SeenAt = s.clock.Now()
	}
	if d.ExpiresAt.IsZero() {
		d.ExpiresAt = d.SeenAt.Add(DefaultDeliveryTTL)
	}
	item, err := attributevalue.MarshalMap(deliveryItem{
		PK:        deliveryPK(d.ID),
		SK:        deliverySK,
		Type:      typeDelivery,
		ID:        d.ID,
		Provider:  string(d.Provider),
		RequestID: d.RequestID,
		Action:    d.Action,
		Actor:     d.Actor,
		SeenAt:    formatTime(d.SeenAt),
		ExpiresAt: epoch(d.ExpiresAt),
	})
	if err != nil {
		return fmt.Errorf("record webhook delivery %s: encode: %w", d.ID, err)
	}
	// An expired delivery DynamoDB has not deleted yet (TTL deletion lags)
	// counts as unseen, as in DeliverySeen.
	_, err = s.putItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #ttl <= :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": TableKeyPK, "#ttl": AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.clock.Now().Unix(), 10)}},
	})
	if _, seen := conditionFailed(err); seen {
		return fmt.Errorf("record webhook delivery %s: %w", d.ID, core.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("record webhook delivery %s: %w", d.ID, s.classify(ctx, "PutItem", "webhook delivery", err))
	}
	return nil
}

// DeliverySeen implements core.Store: true when the delivery was recorded
// and its ExpiresAt has not passed by the store's clock. DynamoDB deletes
// expired items only eventually, so expiry is checked here too.
func (s *Store) DeliverySeen(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("check webhook delivery: %w: empty delivery ID", core.ErrInvalid)
	}
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(deliveryPK(id), deliverySK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("check webhook delivery %s: %w", id, s.classify(ctx, "GetItem", "webhook delivery", err))
	}
	if out.Item == nil {
		return false, nil
	}
	var it deliveryItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return false, fmt.Errorf("check webhook delivery %s: decode: %w", id, err)
	}
	return it.ExpiresAt == 0 || it.ExpiresAt > s.clock.Now().Unix(), nil
}

// The four operations the store uses, each counted and bounded by
// OperationTimeout.

func (s *Store) putItem(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	s.calls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	return s.client.PutItem(ctx, in)
}

func (s *Store) updateItem(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	s.calls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	return s.client.UpdateItem(ctx, in)
}

func (s *Store) getItem(ctx context.Context, in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
	s.calls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	return s.client.GetItem(ctx, in)
}

func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	s.calls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	return s.client.Query(ctx, in)
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		TableKeyPK: &types.AttributeValueMemberS{Value: pk},
		TableKeySK: &types.AttributeValueMemberS{Value: sk},
	}
}

func validTarget(requestID string, t core.Target) error {
	if requestID == "" || t.Provider == "" || t.Name == "" {
		return fmt.Errorf("%w: request ID, target provider and target name are required (got request %q, target %q/%q/%q)", core.ErrInvalid, requestID, t.Provider, t.Kind, t.Name)
	}
	return nil
}

// CreateTable creates table with the layout the CDK stack declares: string
// keys pk/sk, the sparse index open-index on gsi1pk/gsi1sk projecting all
// attributes, on-demand billing, TTL on expires_at. It waits until the
// table is active. An existing table is accepted (its TTL is still switched
// on), so local runs can call it at every start.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	str := types.ScalarAttributeTypeS
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(TableKeyPK), AttributeType: str},
			{AttributeName: aws.String(TableKeySK), AttributeType: str},
			{AttributeName: aws.String(IndexKeyPK), AttributeType: str},
			{AttributeName: aws.String(IndexKeySK), AttributeType: str},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(TableKeyPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(TableKeySK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(IndexOpen),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(IndexKeyPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(IndexKeySK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create dynamodb table %s: %w", table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 10*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, CreateTableTimeout); err != nil {
		return fmt.Errorf("wait for dynamodb table %s to become active: %w", table, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("describe ttl of dynamodb table %s: %w", table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == AttrTTL &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	if _, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true)},
	}); err != nil {
		return fmt.Errorf("enable ttl on %s of dynamodb table %s: %w", AttrTTL, table, err)
	}
	return nil
}
