package teleport

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gravitational/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Permission hints: what the plugin's Teleport role lacks when an action is
// denied.
const (
	hintList   = "the plugin role needs rule access_request: list, read"
	hintWatch  = "the plugin role needs rule access_request: list, read (watching uses read)"
	hintReview = "the plugin role needs review_requests allowing the requested roles (and must not be the requester)"
)

// alreadyReviewedText is how Teleport says the plugin user reviewed the
// request before; it carries no error code of its own (access denied).
const alreadyReviewedText = "has already reviewed this request"

// untrustedTexts are the TLS failures of an identity from another cluster:
// the client does not trust the server's certificate, or the server refuses
// the client's.
var untrustedTexts = []string{
	"certificate signed by unknown authority",
	"unknown certificate authority",
	"tls: bad certificate",
	"certificate is not trusted",
}

// ErrUntrustedIdentity marks an identity that this cluster did not issue.
// It matches core.ErrPermission too: retrying will not help.
var ErrUntrustedIdentity = errors.New("teleport identity not issued by this cluster")

// kindError is a Teleport failure with one of core's kinds and a hint.
type kindError struct {
	kind error
	hint string
	err  error
}

func (e *kindError) Error() string {
	if e.hint == "" {
		return fmt.Sprintf("%v: %v", e.kind, e.err)
	}
	return fmt.Sprintf("%v: %s (teleport said: %v)", e.kind, e.hint, e.err)
}

func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// fail classifies err, a failure of a call made on session s, into one of
// core's kinds. deniedHint says what permission an access-denied answer
// means for this call. Failures that suggest a dead or untrusted connection
// retire s, so the next call dials anew.
func (c *Client) fail(s *session, err error, deniedHint string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case untrusted(err.Error()):
		c.discard(s)
		return c.untrustedErr(s.version)
	case transient(err):
		c.discard(s)
		return core.Transient(&kindError{kind: errTeleportUnavailable, err: err}, 0)
	case trace.IsAccessDenied(err):
		return &kindError{kind: core.ErrPermission, hint: deniedHint, err: err}
	case trace.IsNotFound(err):
		return &kindError{kind: core.ErrNotFound, err: err}
	case trace.IsBadParameter(err), trace.IsNotImplemented(err):
		return &kindError{kind: core.ErrInvalid, err: err}
	}
	return err
}

// errTeleportUnavailable names the transient kind in messages.
var errTeleportUnavailable = errors.New("teleport unavailable")

// transient reports failures that a later retry may cure: connection
// problems, deadlines, rate limits, gRPC Unavailable/DeadlineExceeded.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || trace.IsConnectionProblem(err) || trace.IsLimitExceeded(err) {
		return true
	}
	switch status.Code(unwrapAll(err)) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// unwrapAll finds a gRPC status in err's chain, if any.
func unwrapAll(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := status.FromError(e); ok {
			return e
		}
	}
	return err
}

func untrusted(msg string) bool {
	for _, t := range untrustedTexts {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}

// classifyDial explains a failure to connect. It never includes identity
// content: the connector's text is redacted.
func (c *Client) classifyDial(version string, err error) error {
	msg := redact(err.Error())
	switch {
	case untrusted(msg):
		return c.untrustedErr(version)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("connect to teleport at %s: %w", c.cfg.Address, context.Canceled)
	}
	return core.Transient(fmt.Errorf("connect to teleport at %s: %w: %s", c.cfg.Address, errTeleportUnavailable, msg), 0)
}

// untrustedErr says that the identity and the cluster do not belong
// together.
func (c *Client) untrustedErr(version string) error {
	return fmt.Errorf("connect to teleport at %s: the identity in %s (version %s) was not signed by this cluster's CA, or %s is another cluster; issue it on this cluster (tctl auth sign --format=file) and store it there: %w: %w",
		c.cfg.Address, c.cfg.IdentityName, version, c.cfg.Address, ErrUntrustedIdentity, core.ErrPermission)
}

var (
	pemBlock = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)`)
	// sshKey matches an OpenSSH key or certificate: type, then base64.
	sshKey = regexp.MustCompile(`(ssh-[a-z0-9]+|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9@.-]+)(-cert-v01@openssh\.com)?\s+[A-Za-z0-9+/=]{40,}`)
	// longBase64 catches any other long run of key-like material.
	longBase64 = regexp.MustCompile(`[A-Za-z0-9+/=]{64,}`)
)

// redact removes PEM blocks, SSH keys and long base64 runs from an error
// text, so that a parser that quotes its input cannot leak the identity.
func redact(s string) string {
	s = pemBlock.ReplaceAllString(s, "[redacted PEM]")
	s = sshKey.ReplaceAllString(s, "[redacted key]")
	return longBase64.ReplaceAllString(s, "[redacted]")
}
