package opsgenie

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// DefaultRetryAfter is the wait attached to a 429 answer that names none
// (neither Retry-After nor X-RateLimit-Period-In-Sec).
const DefaultRetryAfter = 10 * time.Second

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// APIError is an error answer from the Opsgenie (or JSM) API. It matches the
// core error kind of its status with errors.Is: 401/403 ErrPermission, 404
// ErrNotFound, 408/429/5xx ErrTransient, any other 4xx ErrInvalid. It never
// holds request headers, so it cannot carry the API key.
type APIError struct {
	// Provider names the API (opsgenie or jsm) in the error text.
	Provider core.Provider
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the API's own message ("Request body is not processable...").
	Message string
	// Errors are the API's per-field validation messages (422).
	Errors map[string]string
	// ErrorType is the X-Opsgenie-Errortype header (e.g. RequestNotProcessed).
	ErrorType string
	// RequestID is the API's request ID, for support tickets.
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s API answered %d", e.Provider, e.StatusCode)
	switch e.StatusCode {
	case http.StatusUnauthorized:
		b.WriteString(" (the API key was rejected: check the key in the secret and that its integration is enabled)")
	case http.StatusForbidden:
		b.WriteString(" (the API key lacks a permission: an API integration key needs read, create and update access)")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if len(e.Errors) > 0 {
		keys := make([]string, 0, len(e.Errors))
		for k := range e.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+e.Errors[k])
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, "; "))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// Is matches the core error kind of the status code.
func (e *APIError) Is(target error) bool { return target == core.KindOfStatus(e.StatusCode) }

// RequestFailedError reports an asynchronous request that Opsgenie processed
// and rejected (request status isSuccess=false). It matches ErrNotFound when
// the status says something does not exist, ErrInvalid otherwise.
type RequestFailedError struct {
	Provider  core.Provider
	RequestID string
	Action    string
	// Status is the API's status text, e.g. "Alert does not exist".
	Status string
}

func (e *RequestFailedError) Error() string {
	return fmt.Sprintf("%s rejected %s request %s: %s", e.Provider, strings.ToLower(e.Action), e.RequestID, e.Status)
}

// Is makes the error match ErrNotFound or ErrInvalid.
func (e *RequestFailedError) Is(target error) bool {
	s := strings.ToLower(e.Status)
	missing := strings.Contains(s, "does not exist") || strings.Contains(s, "not found") || strings.Contains(s, "no such")
	switch target {
	case core.ErrNotFound:
		return missing
	case core.ErrInvalid:
		return !missing
	}
	return false
}

// errorBody is the shape of Opsgenie's error answers.
type errorBody struct {
	Message   string            `json:"message"`
	Errors    map[string]string `json:"errors"`
	RequestID string            `json:"requestId"`
}

// classify turns a non-2xx answer into an error of the right core kind,
// attaching the wait a 408/429/5xx answer asked for.
func classify(provider core.Provider, resp *http.Response, now time.Time) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	apiErr := &APIError{
		Provider:   provider,
		StatusCode: resp.StatusCode,
		ErrorType:  resp.Header.Get("X-Opsgenie-Errortype"),
	}
	var body errorBody
	if json.Unmarshal(raw, &body) == nil {
		apiErr.Message, apiErr.Errors, apiErr.RequestID = body.Message, body.Errors, body.RequestID
	} else if resp.StatusCode < 500 {
		apiErr.Message = strings.TrimSpace(string(raw))
		if len(apiErr.Message) > 200 {
			apiErr.Message = apiErr.Message[:200] + "..."
		}
	}
	if core.KindOfStatus(resp.StatusCode) != core.ErrTransient {
		return apiErr
	}
	wait := RetryAfter(resp.Header, now)
	if wait == 0 && resp.StatusCode == http.StatusTooManyRequests {
		wait = DefaultRetryAfter
	}
	return core.Transient(apiErr, wait)
}

// RetryAfter reads the wait the API asked for: Retry-After (seconds or an
// HTTP date), else Opsgenie's X-RateLimit-Period-In-Sec. Zero when neither.
// The JSM adapter uses it too: JSM Operations inherits Opsgenie's limits.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second
		}
		if at, err := http.ParseTime(v); err == nil {
			if d := at.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Period-In-Sec")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
			return time.Duration(secs) * time.Second
		}
	}
	return 0
}

// transportError classifies a failure to get any answer (timeout, refused
// connection, cancelled context): always transient.
func transportError(provider core.Provider, err error) error {
	var te *core.TransientError
	if errors.As(err, &te) {
		return err
	}
	return core.Transient(fmt.Errorf("%s API unreachable: %w", provider, err), 0)
}
