package lambdart

import (
	"encoding/json"
	"errors"
)

// ErrClosed is returned by calls on a Server after Close.
var ErrClosed = errors.New("lambda runtime emulator is closed")

// ErrRunning is returned by Run when a function process is already running.
var ErrRunning = errors.New("a function process is already running")

// ErrInvalidEvent is returned by Invoke for an event that is not JSON (the
// Lambda Invoke API accepts only JSON payloads).
var ErrInvalidEvent = errors.New("event is not valid JSON")

// Error types the emulator reports itself, in a FunctionError, when the
// function did not answer. The first three are the names Lambda uses.
const (
	// ErrorTypeExit: the process exited (or was killed) before answering.
	ErrorTypeExit = "Runtime.ExitError"
	// ErrorTypeTimeout: the invocation passed its deadline; the process is
	// killed, as Lambda tears the sandbox down.
	ErrorTypeTimeout = "Sandbox.Timedout"
	// ErrorTypeTooLarge: the response exceeded MaxBufferedResponse (or
	// MaxStreamedResponse for a streamed one).
	ErrorTypeTooLarge = "Function.ResponseSizeTooLarge"
	// ErrorTypeBadHTTPResponse: a function URL response
	// (application/vnd.awslambda.http-integration-response) without a valid
	// JSON prelude and its 8-byte NUL separator. Lambda answers the caller
	// 502 in that case.
	ErrorTypeBadHTTPResponse = "Runtime.InvalidHTTPIntegrationResponse"
)

// FunctionError is a failed invocation: what the runtime posted to
// invocation/{id}/error (the handler returned an error or panicked), to
// init/error, in the error trailers of a streamed response, or what the
// emulator observed (see the ErrorType constants).
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

// Error implements error.
func (e *FunctionError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}
