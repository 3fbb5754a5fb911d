package config

import (
	"errors"
	"fmt"

	"github.com/oncallgate/oncallgate/internal/core"
)

// ErrMissingEnv is returned by FromEnv when a required Lambda environment
// variable is not set.
var ErrMissingEnv = errors.New("required environment variable is not set")

// ParameterError reports one missing or malformed SSM parameter. It matches
// core.ErrInvalid.
type ParameterError struct {
	// Path is the parameter's full SSM name, e.g. /oncallgate/poller/concurrency.
	Path string
	// Problem says what is wrong, e.g. `want a whole number ≥ 1, got "abc"`.
	Problem string
}

func (e *ParameterError) Error() string {
	return fmt.Sprintf("parameter %s: %s", e.Path, e.Problem)
}

// Is makes a ParameterError match core.ErrInvalid.
func (e *ParameterError) Is(target error) bool { return target == core.ErrInvalid }

// SecretError reports a problem with the Secrets Manager secret or one of
// its keys. Its text names the secret and the key, never a value. It matches
// core.ErrInvalid.
type SecretError struct {
	// SecretID is the secret's name or ARN (the secret_id parameter).
	SecretID string
	// Key is the JSON key concerned; empty when the problem is the whole
	// document.
	Key string
	// Problem says what is wrong, e.g. "is missing".
	Problem string
}

func (e *SecretError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("secret %s: %s", e.SecretID, e.Problem)
	}
	return fmt.Sprintf("secret %s: key %s %s", e.SecretID, e.Key, e.Problem)
}

// Is makes a SecretError match core.ErrInvalid.
func (e *SecretError) Is(target error) bool { return target == core.ErrInvalid }
