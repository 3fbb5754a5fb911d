// Package teleport is oncallgate's adapter to a Teleport cluster: it lists
// and watches access requests and submits reviews as the plugin user, over
// the gRPC client of github.com/gravitational/teleport/api authenticated by
// an identity file (`tctl auth sign --format=file`, or one Machine ID keeps
// fresh).
//
// The identity is only ever held in memory: it comes from an IdentitySource
// (the Secrets Manager secret), is never written to disk, and the client
// built from it is reused across warm Lambda invocations until the source
// hands out another version or the certificate nears expiry. Failures are
// classified into core's error kinds here; this package decides nothing
// about what to do with them, and it must never put identity content (keys,
// certificates) in an error or a log line.
package teleport

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/identityfile"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
)

// Defaults and timeouts.
const (
	// DefaultDialTimeout bounds connecting to the auth server or proxy.
	DefaultDialTimeout = 10 * time.Second
	// DefaultRenewBefore: within this much of the certificate's expiry the
	// adapter asks the identity source for a fresh identity.
	DefaultRenewBefore = time.Hour
	// DefaultMinServerVersion is the oldest Teleport Ping accepts.
	DefaultMinServerVersion = "15.0.0"
	// DefaultIdentityName names the identity's origin in error messages.
	DefaultIdentityName = "the configured secret"

	// callTimeout bounds one unary call, so that a connection that died
	// while the Lambda was frozen cannot hang an invocation.
	callTimeout = 20 * time.Second
	// listTimeout bounds listing every pending request, all pages.
	listTimeout = time.Minute
	// watchInitTimeout bounds the wait for a new watcher's init event.
	watchInitTimeout = 15 * time.Second
	// freshReadInterval spaces the "fresh identity" requests made while the
	// certificate nears expiry, so the secret store is not hammered.
	freshReadInterval = time.Minute
)

// IdentitySource returns the identity file content (as `tctl auth sign
// --format=file` writes it) and an opaque version (the secret's version
// ID). It is called before every operation, so it should be cheap (cache
// the secret); the adapter rebuilds its connection only when the version or
// the content changes. When the current certificate nears expiry the
// adapter marks ctx with a request for a fresh read (see
// FreshIdentityRequested), at most once a minute.
type IdentitySource func(ctx context.Context) (identity string, version string, err error)

type freshKey struct{}

// FreshIdentityRequested reports whether the adapter asks the identity
// source to bypass its cache: the certificate in use expires within
// RenewBefore.
func FreshIdentityRequested(ctx context.Context) bool {
	v, _ := ctx.Value(freshKey{}).(bool)
	return v
}

// Config configures a Client.
type Config struct {
	// Address is the auth server or proxy, host:port (required).
	Address string
	// Identity supplies the identity file (required).
	Identity IdentitySource
	// IdentityName says where the identity comes from in error messages,
	// e.g. "secret oncallgate" (default DefaultIdentityName). Never the
	// content.
	IdentityName string
	// Clock tells the time (default the system clock).
	Clock core.Clock
	// DialTimeout bounds connecting (default DefaultDialTimeout).
	DialTimeout time.Duration
	// RenewBefore: a certificate expiring within this is due for renewal
	// (default DefaultRenewBefore).
	RenewBefore time.Duration
	// MinServerVersion is the oldest server version Ping accepts (default
	// DefaultMinServerVersion).
	MinServerVersion string
}

// Client is the Teleport adapter. It is safe for concurrent use; build one
// per cold start and Close it at shutdown.
type Client struct {
	cfg Config

	buildMu sync.Mutex // one connection build at a time

	mu        sync.Mutex
	cur       *session
	closed    bool
	lastFresh time.Time
}

var _ core.Teleport = (*Client)(nil)

// session is one connection built from one identity. It stays open while
// calls that acquired it run, even after a newer identity replaced it.
type session struct {
	clt      *client.Client
	version  string
	digest   [sha256.Size]byte
	user     string
	notAfter time.Time

	refs    int
	retired bool
	warned  bool
}

// New checks cfg and returns a Client. It does not connect: the connection
// is built on first use.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("teleport address (teleport/address) is empty: %w", core.ErrInvalid)
	}
	if cfg.Identity == nil {
		return nil, fmt.Errorf("teleport identity source is missing: %w", core.ErrInvalid)
	}
	if cfg.IdentityName == "" {
		cfg.IdentityName = DefaultIdentityName
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RenewBefore <= 0 {
		cfg.RenewBefore = DefaultRenewBefore
	}
	if cfg.MinServerVersion == "" {
		cfg.MinServerVersion = DefaultMinServerVersion
	}
	if _, err := parseVersion(cfg.MinServerVersion); err != nil {
		return nil, fmt.Errorf("minimum teleport version %q: %w", cfg.MinServerVersion, core.ErrInvalid)
	}
	return &Client{cfg: cfg}, nil
}

// Close closes the connection; calls in flight finish first. Later calls
// fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cur == nil {
		return nil
	}
	s := c.cur
	c.cur = nil
	return c.retireLocked(s)
}

// retireLocked marks s as replaced and closes it when nobody uses it; c.mu
// must be held.
func (c *Client) retireLocked(s *session) error {
	s.retired = true
	if s.refs == 0 {
		if err := s.clt.Close(); err != nil {
			return fmt.Errorf("close teleport connection: %w", err)
		}
	}
	return nil
}

// release gives back a session acquired with acquire.
func (c *Client) release(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.refs--
	if s.refs == 0 && s.retired {
		_ = s.clt.Close()
	}
}

// discard retires s if it is still current, so the next call dials anew;
// used after failures that suggest a dead connection.
func (c *Client) discard(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == s {
		c.cur = nil
		_ = c.retireLocked(s)
	}
}

// acquire returns the session for the identity the source hands out now,
// building it when the version or content changed. Release it when done.
func (c *Client) acquire(ctx context.Context) (*session, error) {
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("teleport client is closed: %w", core.ErrInvalid)
	}
	srcCtx := ctx
	if cur := c.cur; cur != nil && !now.Before(cur.notAfter.Add(-c.cfg.RenewBefore)) && now.Sub(c.lastFresh) >= freshReadInterval {
		c.lastFresh = now
		srcCtx = context.WithValue(ctx, freshKey{}, true)
	}
	c.mu.Unlock()

	identity, version, err := c.cfg.Identity(srcCtx)
	if err != nil {
		return nil, fmt.Errorf("load the teleport identity from %s: %w", c.cfg.IdentityName, err)
	}
	digest := sha256.Sum256([]byte(identity))

	if s, err := c.reuse(ctx, version, digest); s != nil || err != nil {
		return s, err
	}
	c.buildMu.Lock()
	defer c.buildMu.Unlock()
	if s, err := c.reuse(ctx, version, digest); s != nil || err != nil {
		return s, err // built by another call meanwhile
	}
	s, err := c.build(ctx, identity, version, digest)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = s.clt.Close()
		return nil, fmt.Errorf("teleport client is closed: %w", core.ErrInvalid)
	}
	if old := c.cur; old != nil {
		_ = c.retireLocked(old)
	}
	c.cur = s
	s.refs++
	return s, nil
}

// reuse returns the current session when it was built from this identity.
func (c *Client) reuse(ctx context.Context, version string, digest [sha256.Size]byte) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.cur
	if s == nil || s.version != version || s.digest != digest {
		return nil, nil
	}
	now := c.cfg.Clock.Now()
	if !now.Before(s.notAfter) {
		return nil, c.expired(version, s.notAfter)
	}
	if !s.warned && !now.Before(s.notAfter.Add(-c.cfg.RenewBefore)) {
		s.warned = true
		logging.FromContext(ctx).Warn("teleport certificate expires soon and the identity source has no newer one; renew it (tctl auth sign or Machine ID)",
			"source", c.cfg.IdentityName, "source_version", version, "cert_expires", s.notAfter.UTC().Format(time.RFC3339))
	}
	s.refs++
	return s, nil
}

func (c *Client) expired(version string, notAfter time.Time) error {
	return fmt.Errorf("the teleport identity in %s (version %s) expired at %s; issue a new one (tctl auth sign --format=file, or Machine ID) and store it there: %w",
		c.cfg.IdentityName, version, notAfter.UTC().Format(time.RFC3339), core.ErrPermission)
}

// build parses the identity and connects with it.
func (c *Client) build(ctx context.Context, identity, version string, digest [sha256.Size]byte) (*session, error) {
	if strings.TrimSpace(identity) == "" {
		return nil, fmt.Errorf("the teleport identity in %s (version %s) is empty: %w", c.cfg.IdentityName, version, core.ErrInvalid)
	}
	cert, err := identityCert(identity)
	if err != nil {
		return nil, fmt.Errorf("the teleport identity in %s (version %s) is not a usable identity file: %s: %w",
			c.cfg.IdentityName, version, redact(err.Error()), core.ErrInvalid)
	}
	if !c.cfg.Clock.Now().Before(cert.NotAfter) {
		return nil, c.expired(version, cert.NotAfter)
	}
	clt, err := client.New(ctx, client.Config{
		Addrs:       []string{c.cfg.Address},
		Credentials: []client.Credentials{client.LoadIdentityFileFromString(identity)},
		DialTimeout: c.cfg.DialTimeout,
	})
	if err != nil {
		return nil, c.classifyDial(version, err)
	}
	logging.FromContext(ctx).Info("connected to teleport",
		"address", c.cfg.Address, "teleport_user", cert.Subject.CommonName,
		"source_version", version, "cert_expires", cert.NotAfter.UTC().Format(time.RFC3339))
	return &session{clt: clt, version: version, digest: digest, user: cert.Subject.CommonName, notAfter: cert.NotAfter}, nil
}

// identityCert decodes the identity file and returns its TLS certificate.
// The identity file parser is the one client.LoadIdentityFileFromString
// uses, so what passes here also loads there.
func identityCert(identity string) (*x509.Certificate, error) {
	idf, err := identityfile.FromString(identity)
	if err != nil {
		return nil, err
	}
	if _, err := idf.TLSConfig(); err != nil {
		return nil, err
	}
	block, _ := pem.Decode(idf.Certs.TLS)
	if block == nil {
		return nil, errors.New("no TLS certificate in the identity file")
	}
	return x509.ParseCertificate(block.Bytes)
}
