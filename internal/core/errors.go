package core

import (
	"errors"
	"fmt"
	"time"
)

// Error kinds. Adapters wrap their failures so that errors.Is(err, ErrX)
// holds; the core decides on the kind alone and never parses messages.
var (
	// ErrTransient marks a failure that may succeed when retried later:
	// timeouts, HTTP 408/429/5xx, Teleport unavailable, DynamoDB throttling.
	// Use Transient to attach the wait a provider asked for.
	ErrTransient = errors.New("transient failure")
	// ErrPermission marks a failure that retrying will not fix: HTTP 401/403,
	// Teleport access denied. The message should say what permission is missing.
	ErrPermission = errors.New("permission denied")
	// ErrNotFound marks a missing object: unknown service, schedule, user,
	// incident, or an access request that no longer exists.
	ErrNotFound = errors.New("not found")
	// ErrInvalid marks input that will never be accepted as sent.
	ErrInvalid = errors.New("invalid input")

	// ErrConflict is returned by Store updates whose expected version no
	// longer matches: somebody else changed the item first.
	ErrConflict = errors.New("version conflict")
	// ErrClaimed is returned by Store.ClaimAlert when another worker holds a
	// live claim, or the mapping already exists past the claim stage.
	ErrClaimed = errors.New("already claimed")
	// ErrExists is returned by conditional creates whose item already exists
	// (a recorded decision, a webhook delivery seen before).
	ErrExists = errors.New("already exists")

	// ErrAlreadyReviewed is returned by Teleport.SubmitReview when the plugin
	// user has already reviewed the request. Callers treat it as success.
	ErrAlreadyReviewed = errors.New("request already reviewed by this user")
	// ErrReviewsUnsupported is returned when the Teleport cluster cannot take
	// reviews from plugins (Teleport Community Edition).
	ErrReviewsUnsupported = errors.New("access request reviews need Teleport Enterprise")
	// ErrAlertPending is returned by Notifier.Complete while an asynchronous
	// alert creation (Opsgenie, JSM) has not produced an alert ID yet.
	ErrAlertPending = errors.New("alert creation still pending")
	// ErrEmailHidden is matched (together with ErrNotFound) by a
	// ScheduleDirectory error saying the schedule exists but the email of
	// some on-call responder is hidden by their privacy settings (JSM), so
	// that responder cannot be matched to a Teleport user. The emails that
	// could be read are returned alongside the error.
	ErrEmailHidden = errors.New("email address of an on-call responder is not visible")
)

// TransientError is a transient failure that carries the wait the remote side
// asked for (PagerDuty's ratelimit-reset, HTTP Retry-After). It matches
// ErrTransient with errors.Is.
type TransientError struct {
	// RetryAfter is how long to wait before retrying; zero when unknown.
	RetryAfter time.Duration
	Err        error
}

// Transient wraps err as a transient failure with an optional wait.
func Transient(err error, retryAfter time.Duration) error {
	return &TransientError{RetryAfter: retryAfter, Err: err}
}

func (e *TransientError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *TransientError) Unwrap() error { return e.Err }

// Is makes every TransientError match ErrTransient.
func (e *TransientError) Is(target error) bool { return target == ErrTransient }

// RetryAfter returns the wait carried by a TransientError in err's chain, or
// zero.
func RetryAfter(err error) time.Duration {
	var te *TransientError
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// AnnotationError reports a malformed routing annotation on one request. It
// affects only that request.
type AnnotationError struct {
	RequestID  string
	Annotation string
	Value      string
	Problem    string
}

func (e *AnnotationError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("request %s: annotation %q value %q: %s", e.RequestID, e.Annotation, e.Value, e.Problem)
	}
	return fmt.Sprintf("request %s: annotation %q: %s", e.RequestID, e.Annotation, e.Problem)
}

// Is makes an AnnotationError match ErrInvalid.
func (e *AnnotationError) Is(target error) bool { return target == ErrInvalid }

// KindOfStatus maps an HTTP error status to its error kind, the same way for
// every provider adapter: 401/403 ErrPermission, 404 ErrNotFound, 408, 429
// and 5xx ErrTransient, any other 4xx ErrInvalid; nil below 400.
func KindOfStatus(status int) error {
	switch {
	case status < 400:
		return nil
	case status == 401 || status == 403:
		return ErrPermission
	case status == 404:
		return ErrNotFound
	case status == 408 || status == 429 || status >= 500:
		return ErrTransient
	}
	return ErrInvalid
}
