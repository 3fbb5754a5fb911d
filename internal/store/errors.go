package store

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/oncallgate/oncallgate/internal/core"
)

// ErrTableNotFound is returned when the configured table does not exist in
// the account and region: a deployment or configuration mistake (check
// ONCALLGATE_TABLE) that retrying will not fix. It deliberately does not
// match core.ErrNotFound, which means "no such item" to callers.
var ErrTableNotFound = errors.New("dynamodb table not found")

// Error codes DynamoDB (and the AWS request layer) answer that a retry later
// may cure.
var transientCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"RequestLimitExceeded":                   true,
	"InternalServerError":                    true,
	"InternalFailure":                        true,
	"ServiceUnavailable":                     true,
	"TransactionConflictException":           true,
	"RequestTimeout":                         true,
	"RequestTimeoutException":                true,
}

// Error codes meaning the caller's identity may not do what it asked.
var permissionCodes = map[string]bool{
	"AccessDeniedException":       true,
	"AccessDenied":                true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"MissingAuthenticationToken":  true,
	"ExpiredTokenException":       true,
}

// classify turns an SDK error of operation op (e.g. "PutItem") into one of
// core's error kinds, naming the action and the table. what says which item
// was being worked on. Conditional-check failures are handled by the callers
// before they get here.
func (s *Store) classify(ctx context.Context, op, what string, err error) error {
	step := fmt.Sprintf("dynamodb:%s %s on table %s", op, what, s.table)
	if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The caller gave up (Lambda deadline): not the table's fault.
		return fmt.Errorf("%s: %w", step, err)
	}
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fmt.Errorf("%s: table %q does not exist (check ONCALLGATE_TABLE and the region): %w", step, s.table, ErrTableNotFound)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case transientCodes[code]:
			return core.Transient(fmt.Errorf("%s: %w", step, err), 0)
		case permissionCodes[code]:
			return fmt.Errorf("%s: the function's role may not call dynamodb:%s on table %s (%s): %w", step, op, s.table, code, core.ErrPermission)
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500 {
		return core.Transient(fmt.Errorf("%s: %w", step, err), 0)
	}
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &sendErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return core.Transient(fmt.Errorf("%s: %w", step, err), 0)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// conditionFailed reports whether err is a failed condition expression and
// returns the item DynamoDB sent back with it (nil when it sent none).
func conditionFailed(err error) (map[string]types.AttributeValue, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}
