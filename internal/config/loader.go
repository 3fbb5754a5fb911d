package config

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
)

const (
	// loadTimeout bounds one reload (every SSM page plus the secret).
	loadTimeout = 15 * time.Second
	// maxStaleFactor: after a failed reload the previous config is served
	// until it is this many TTLs old, then Get fails closed.
	maxStaleFactor = 5
	// retryAfterFailure: while a stale config is served, a failed reload is
	// not retried sooner than this (or the TTL, when shorter), so an outage
	// of SSM is not met with one call per invocation.
	retryAfterFailure = 5 * time.Second
	// ssmPageSize is GetParametersByPath's maximum page size.
	ssmPageSize = 10
)

// SSMAPI is the part of the SSM client the Loader uses.
type SSMAPI interface {
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, opts ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// SecretsAPI is the part of the Secrets Manager client the Loader uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var (
	_ SSMAPI     = (*ssm.Client)(nil)
	_ SecretsAPI = (*secretsmanager.Client)(nil)
)

// Loader reads the configuration and caches it for its TTL (config_ttl).
// Build it once per cold start; it is safe for concurrent use and runs at
// most one reload at a time.
type Loader struct {
	ssm    SSMAPI
	sm     SecretsAPI
	prefix string
	clock  core.Clock

	mu          sync.Mutex
	cur         *Config   // last good config
	loadedAt    time.Time // when cur's reload started
	failedAt    time.Time // last failed reload since cur was loaded
	inflight    *loadCall
	lastWarning string
}

type loadCall struct {
	done chan struct{}
	cfg  *Config
	err  error
}

// NewLoader returns a Loader reading parameters below prefix ("" means
// DefaultPrefix) from ssmc and the secret from sm, telling time by clock
// (core.SystemClock when nil).
func NewLoader(ssmc SSMAPI, sm SecretsAPI, prefix string, clock core.Clock) *Loader {
	if clock == nil {
		clock = core.SystemClock{}
	}
	return &Loader{ssm: ssmc, sm: sm, prefix: normalizePrefix(prefix), clock: clock}
}

// NewAWSLoader is NewLoader with SSM and Secrets Manager clients built from
// cfg (see LoadAWS).
func NewAWSLoader(cfg aws.Config, prefix string, clock core.Clock) *Loader {
	return NewLoader(ssm.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), prefix, clock)
}

// Prefix returns the normalized SSM prefix the Loader reads below.
func (l *Loader) Prefix() string { return l.prefix }

// Get returns the cached config while it is younger than its TTL and reloads
// it after. When a reload fails, the previous good config is served (with a
// warning in the log) until it is 5 × TTL old; without one, Get returns the
// error: it never falls back to defaults.
func (l *Loader) Get(ctx context.Context) (*Config, error) {
	l.mu.Lock()
	now := l.clock.Now()
	if l.cur != nil && now.Sub(l.loadedAt) < l.cur.TTL {
		cfg := l.cur
		l.mu.Unlock()
		return cfg, nil
	}
	stale := l.staleLocked(now)
	if stale != nil && (l.inflight != nil || (!l.failedAt.IsZero() && now.Sub(l.failedAt) < min(retryAfterFailure, stale.TTL))) {
		// Somebody is already reloading, or a reload just failed: the
		// previous config is still good enough.
		l.mu.Unlock()
		return stale, nil
	}
	call := l.inflight
	if call == nil {
		call = &loadCall{done: make(chan struct{})}
		l.inflight = call
		go l.reload(logging.With(context.WithoutCancel(ctx), "ssm_prefix", l.prefix), call, now)
	}
	l.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		if stale != nil {
			return stale, nil
		}
		return nil, fmt.Errorf("load configuration from %s: %w", l.prefix, ctx.Err())
	}
	if call.err == nil {
		return call.cfg, nil
	}
	l.mu.Lock()
	stale = l.staleLocked(l.clock.Now())
	l.mu.Unlock()
	if stale != nil {
		return stale, nil
	}
	return nil, call.err
}

// staleLocked returns the previous config if it may still be served after a
// failed reload.
func (l *Loader) staleLocked(now time.Time) *Config {
	if l.cur == nil || now.Sub(l.loadedAt) >= maxStaleFactor*l.cur.TTL {
		return nil
	}
	return l.cur
}

// reload runs one load and publishes its outcome to the call's waiters.
func (l *Loader) reload(ctx context.Context, call *loadCall, started time.Time) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	cfg, err := l.load(ctx)

	l.mu.Lock()
	now := l.clock.Now()
	var newWarnings bool
	if err == nil {
		l.cur, l.loadedAt, l.failedAt = cfg, started, time.Time{}
		warnings := strings.Join(cfg.Warnings, "\n")
		newWarnings, l.lastWarning = warnings != l.lastWarning, warnings
	} else {
		l.failedAt = now
	}
	stale, age := l.staleLocked(now), now.Sub(l.loadedAt)
	call.cfg, call.err = cfg, err
	l.inflight = nil
	l.mu.Unlock()
	defer close(call.done) // after logging, so a caller's log is complete when Get returns

	log := logging.FromContext(ctx)
	switch {
	case err == nil:
		log.Info("configuration loaded", "providers", cfg.Providers, "credentials_id", cfg.SecretID,
			"credentials_version", cfg.Secrets.Version, "config_ttl", cfg.TTL.String())
		if newWarnings { // once per change, not once per TTL
			for _, w := range cfg.Warnings {
				log.Warn("configuration warning", "problem", w)
			}
		}
	case stale != nil:
		log.Warn("configuration reload failed; serving the previous configuration",
			"error", err.Error(), "age", age.String(), "max_age", (maxStaleFactor * stale.TTL).String())
	default:
		log.Error("configuration could not be loaded", "error", err.Error())
	}
}

// load reads every parameter below the prefix and the secret, then parses
// them.
func (l *Loader) load(ctx context.Context) (*Config, error) {
	params, hidden, err := l.readParameters(ctx)
	if err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("read ssm parameters: %w: no parameters found below %s (check %s and the function's ssm:GetParametersByPath permission)", core.ErrNotFound, l.prefix, EnvPrefix)
	}
	secretID := strings.TrimSpace(params["secret_id"])
	if secretID == "" {
		secretID = defaults["secret_id"]
	}
	doc, version, err := l.readSecret(ctx, secretID)
	if err != nil {
		return nil, err
	}
	cfg, err := parse(l.prefix, params, hidden, doc)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration under %s:\n%w", l.prefix, err)
	}
	cfg.Secrets.Version = version
	return cfg, nil
}

// readParameters returns every parameter below the prefix by name relative
// to it, and the names of SecureString ones.
func (l *Loader) readParameters(ctx context.Context) (map[string]string, map[string]bool, error) {
	path := strings.TrimSuffix(l.prefix, "/")
	if path == "" {
		path = "/"
	}
	pages := ssm.NewGetParametersByPathPaginator(l.ssm, &ssm.GetParametersByPathInput{
		Path:           aws.String(path),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(true),
		MaxResults:     aws.Int32(ssmPageSize),
	})
	params, hidden := map[string]string{}, map[string]bool{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("read ssm parameters below %s: %w", l.prefix, classify(err))
		}
		for _, p := range page.Parameters {
			name := strings.TrimPrefix(aws.ToString(p.Name), l.prefix)
			params[name] = aws.ToString(p.Value)
			if p.Type == ssmtypes.ParameterTypeSecureString {
				hidden[name] = true
			}
		}
	}
	return params, hidden, nil
}

// readSecret returns the secret's string value and version ID. An error
// names the secret, never its content.
func (l *Loader) readSecret(ctx context.Context, id string) ([]byte, string, error) {
	out, err := l.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, "", fmt.Errorf("read secret %s: %w", id, classify(err))
	}
	if out.SecretString == nil {
		return nil, "", &SecretError{SecretID: id, Problem: "has no string value (binary secrets are not supported)"}
	}
	return []byte(aws.ToString(out.SecretString)), aws.ToString(out.VersionId), nil
}

// Error codes of SSM and Secrets Manager, by kind.
var (
	notFoundCodes   = []string{"ResourceNotFoundException", "ParameterNotFound"}
	permissionCodes = []string{"AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
		"InvalidSignatureException", "ExpiredTokenException", "DecryptionFailure", "KMSAccessDeniedException"}
	invalidCodes = []string{"ValidationException", "InvalidParameterException", "InvalidRequestException",
		"InvalidFilterKey", "InvalidFilterValue", "InvalidKeyId"}
)

// classify wraps an AWS SDK error in core's error kinds: not found,
// permission, invalid, or transient for everything else (throttling,
// internal errors, network).
func classify(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch code := api.ErrorCode(); {
		case slices.Contains(notFoundCodes, code):
			return fmt.Errorf("%w: %w", core.ErrNotFound, err)
		case slices.Contains(permissionCodes, code):
			return fmt.Errorf("%w: %w", core.ErrPermission, err)
		case slices.Contains(invalidCodes, code):
			return fmt.Errorf("%w: %w", core.ErrInvalid, err)
		}
		return core.Transient(err, 0)
	}
	return core.Transient(err, 0)
}
