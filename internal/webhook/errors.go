package webhook

import "errors"

// Errors of parsing and authentication. Callers get only the short text;
// details stay in the log.
var (
	// ErrUnauthenticated: secret header missing or wrong, or no secret is
	// configured for the route (fail closed).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrBadSignature: an X-PagerDuty-Signature header is present (or
	// required) and no v1 signature matches.
	ErrBadSignature = errors.New("bad signature")
	// ErrMalformed: the body is not a payload this route understands.
	ErrMalformed = errors.New("malformed payload")
	// ErrTooLarge: the body is over MaxBody.
	ErrTooLarge = errors.New("body too large")
)
