package pagerduty

import (
	"errors"
	"fmt"
	"strings"

	"github.com/oncallgate/oncallgate/internal/core"
)

// ErrNoPendingCreation is returned by Client.Complete: PagerDuty creates
// incidents synchronously, so there is never a pending creation to complete.
// It matches core.ErrInvalid.
var ErrNoPendingCreation = fmt.Errorf("%w: pagerduty creates incidents synchronously; there is no pending creation to complete", core.ErrInvalid)

// ErrWrongProvider is returned when a Target of another provider reaches the
// PagerDuty notifier. It matches core.ErrInvalid.
var ErrWrongProvider = fmt.Errorf("%w: target is not a pagerduty service", core.ErrInvalid)

// APIError is a PagerDuty REST call that answered with a non-2xx status. Its
// text names the call, the status and PagerDuty's own error message; it never
// contains the API key. errors.Is matches it against the core error kind of
// its status: 401/403 core.ErrPermission, 404 core.ErrNotFound,
// 408/429/5xx core.ErrTransient, any other status core.ErrInvalid.
// Transient ones are additionally wrapped in a core.TransientError carrying
// the wait PagerDuty asked for.
type APIError struct {
	// Call is what was attempted, e.g. "POST /incidents".
	Call string
	// Status is the HTTP status code.
	Status int
	// Code is PagerDuty's numeric error code (0 when the body had none).
	Code int
	// Message and Details are PagerDuty's error message and error list.
	Message string
	Details []string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Call, e.Status)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if len(e.Details) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(e.Details, "; "))
	}
	return b.String()
}

// Is reports whether target is the core error kind of e's status.
func (e *APIError) Is(target error) bool { return target == core.KindOfStatus(e.Status) }

// NotFoundError says which PagerDuty object a lookup by name did not find.
// It matches core.ErrNotFound.
type NotFoundError struct {
	// What is the kind of object: "service", "user", "extension schema".
	What string
	// Name is what was looked for.
	Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("pagerduty %s %q not found", e.What, e.Name)
}

// Is makes a NotFoundError match core.ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == core.ErrNotFound }

// asAPIError returns the *APIError in err's chain, if any.
func asAPIError(err error) (*APIError, bool) {
	var ae *APIError
	ok := errors.As(err, &ae)
	return ae, ok
}
