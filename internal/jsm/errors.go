package jsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/opsgenie"
)

// DefaultRetryAfter is the wait attached to a 429 answer that names none,
// the same as Opsgenie's.
const DefaultRetryAfter = opsgenie.DefaultRetryAfter

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// APIError is an error answer from the JSM Ops REST API or the Jira user
// API. It matches the core error kind of its status with errors.Is: 401/403
// ErrPermission, 404 ErrNotFound, 408/429/5xx ErrTransient, other 4xx
// ErrInvalid. It never holds request headers, so it cannot carry the token.
type APIError struct {
	// API names the API that answered ("jsm ops API", "jira user API").
	API        string
	StatusCode int
	// Message is the API's own message, when it gave one.
	Message string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s answered %d", e.API, e.StatusCode)
	switch e.StatusCode {
	case http.StatusUnauthorized:
		b.WriteString(" (the email and API token were rejected: check jsm/user_email and the jsm_api_token secret; a scoped token needs read:ops-config:jira-service-management and read:jira-user)")
	case http.StatusForbidden:
		b.WriteString(" (the API user lacks a permission: it needs access to the schedules and the Browse users and groups permission)")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Is matches the core error kind of the status code.
func (e *APIError) Is(target error) bool { return target == core.KindOfStatus(e.StatusCode) }

// HiddenEmailError reports on-call accounts whose email the API user cannot
// see, so they cannot be matched to a Teleport user. It matches
// core.ErrEmailHidden, and core.ErrNotFound: for those accounts no email was
// found.
type HiddenEmailError struct {
	Schedule   string
	AccountIDs []string
}

func (e *HiddenEmailError) Error() string {
	return fmt.Sprintf("jsm schedule %q: the email address of Atlassian account(s) %s on call is not visible to the API user, "+
		"so their shift cannot be matched to a Teleport user; ask them to set the visibility of their email address to "+
		"\"Anyone\" in their Atlassian profile (Profile and visibility), make sure the API user has the Browse users and "+
		"groups permission, or use an Opsgenie schedule, whose on-call list carries emails",
		e.Schedule, strings.Join(e.AccountIDs, ", "))
}

// Is makes the error match core.ErrEmailHidden and core.ErrNotFound.
func (e *HiddenEmailError) Is(target error) bool {
	return target == core.ErrEmailHidden || target == core.ErrNotFound
}

// errorBody reads the error shapes Atlassian APIs use.
type errorBody struct {
	Message       string          `json:"message"`
	ErrorMessages []string        `json:"errorMessages"`
	Errors        json.RawMessage `json:"errors"`
}

func (b errorBody) text() string {
	parts := []string{}
	if b.Message != "" {
		parts = append(parts, b.Message)
	}
	parts = append(parts, b.ErrorMessages...)
	if len(b.Errors) > 0 && string(b.Errors) != "{}" && string(b.Errors) != "[]" && string(b.Errors) != "null" {
		parts = append(parts, string(b.Errors))
	}
	return strings.Join(parts, "; ")
}

// classify turns a non-2xx answer into an error of the right core kind.
func classify(api string, resp *http.Response, now time.Time) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{API: api, StatusCode: resp.StatusCode}
	var body errorBody
	if json.Unmarshal(raw, &body) == nil {
		e.Message = body.text()
	}
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "..."
	}
	if core.KindOfStatus(resp.StatusCode) != core.ErrTransient {
		return e
	}
	wait := opsgenie.RetryAfter(resp.Header, now)
	if wait == 0 && resp.StatusCode == http.StatusTooManyRequests {
		wait = DefaultRetryAfter
	}
	return core.Transient(e, wait)
}

// transportError classifies a failure to get any answer: transient.
func transportError(api string, err error) error {
	var te *core.TransientError
	if errors.As(err, &te) {
		return err
	}
	return core.Transient(fmt.Errorf("%s unreachable: %w", api, err), 0)
}
