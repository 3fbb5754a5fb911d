package opsgenie

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// API hosts and defaults.
const (
	// DefaultBaseURL is Opsgenie's US API host.
	DefaultBaseURL = "https://api.opsgenie.com"
	// EUBaseURL is Opsgenie's EU API host.
	EUBaseURL = "https://api.eu.opsgenie.com"
	// DefaultAlertsPath is where Opsgenie serves alerts.
	DefaultAlertsPath = "/v2/alerts"
	// DefaultPriority is the alert priority when none is configured.
	DefaultPriority = "P3"
	// DefaultTag is the alert tag when none is configured.
	DefaultTag = "TeleportAccessRequest"
	// DefaultSource and DefaultUser name oncallgate in alerts, notes and the
	// alert log.
	DefaultSource = "oncallgate"
	DefaultUser   = "oncallgate"
	// DefaultCallTimeout bounds one HTTP call.
	DefaultCallTimeout = 8 * time.Second
	// DefaultCompletePolls is how often Create asks for the alert ID of its
	// asynchronous request before returning it as pending.
	DefaultCompletePolls = 3
	// DefaultCompleteInterval is the wait before each of those polls.
	DefaultCompleteInterval = 300 * time.Millisecond
)

// maxResponseBody bounds how much of a successful answer is decoded.
const maxResponseBody = 4 << 20

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	// BaseURL is the API root: DefaultBaseURL, EUBaseURL, or a sandbox URL.
	// The config package resolves the "us"/"eu" shortcuts.
	BaseURL string
	// APIKey is the key of an Opsgenie API integration (or of a JSM API
	// integration). It is sent only in the Authorization header.
	APIKey string
	// Priority is the alert priority, P1..P5 (default P3).
	Priority string
	// Tags are put on every alert (default ["TeleportAccessRequest"]).
	Tags []string
	// Source and User name oncallgate in alerts and notes.
	Source string
	User   string
	// HTTPClient sends the requests (default: a client without timeout; the
	// per-call CallTimeout bounds each request).
	HTTPClient *http.Client
	// Clock tells the time for HTTP-date Retry-After values.
	Clock core.Clock
	// CallTimeout bounds one HTTP call (default 8s).
	CallTimeout time.Duration
	// CompletePolls is how many times Create polls for the alert ID (default
	// 3; negative: never, Create always returns a PendingRef).
	CompletePolls int
	// CompleteInterval is the wait before each poll (default 300ms).
	CompleteInterval time.Duration
	// Provider names the provider in Provider() and error texts (default
	// core.Opsgenie; package jsm sets core.JSM).
	Provider core.Provider
	// AlertsPath is the alert API path below BaseURL (default /v2/alerts;
	// JSM uses /jsm/ops/integration/v2/alerts).
	AlertsPath string
}

// Client talks to the Opsgenie alert and schedule APIs. It is safe for
// concurrent use; build it once per cold start.
type Client struct {
	cfg   Config
	calls atomic.Int64
}

var (
	_ core.Notifier          = (*Client)(nil)
	_ core.ScheduleDirectory = (*Client)(nil)
	_ core.IncidentKeys      = (*Client)(nil)
)

// New returns a client for cfg, with defaults filled in.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.AlertsPath == "" {
		cfg.AlertsPath = DefaultAlertsPath
	}
	cfg.AlertsPath = "/" + strings.Trim(cfg.AlertsPath, "/")
	cfg.Priority = strings.ToUpper(strings.TrimSpace(cfg.Priority))
	if cfg.Priority == "" {
		cfg.Priority = DefaultPriority
	}
	if len(cfg.Tags) == 0 {
		cfg.Tags = []string{DefaultTag}
	}
	cfg.Tags = append([]string(nil), cfg.Tags...)
	if cfg.Source == "" {
		cfg.Source = DefaultSource
	}
	if cfg.User == "" {
		cfg.User = DefaultUser
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.CompletePolls == 0 {
		cfg.CompletePolls = DefaultCompletePolls
	}
	if cfg.CompleteInterval <= 0 {
		cfg.CompleteInterval = DefaultCompleteInterval
	}
	if cfg.Provider == "" {
		cfg.Provider = core.Opsgenie
	}
	return &Client{cfg: cfg}
}

// Provider implements core.Notifier.
func (c *Client) Provider() core.Provider { return c.cfg.Provider }

// Calls returns how many HTTP requests the client has sent.
func (c *Client) Calls() int64 { return c.calls.Load() }

// do sends one request to path (already escaped) below BaseURL, with in as
// the JSON body when not nil, and decodes a 2xx answer into out when not
// nil. Any other answer or failure comes back classified.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()

	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%w: encode %s request body: %v", core.ErrInvalid, c.cfg.Provider, err)
		}
		body = bytes.NewReader(raw)
	}
	u := c.cfg.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%w: build %s request: %v", core.ErrInvalid, c.cfg.Provider, err)
	}
	req.Header.Set("Authorization", "GenieKey "+c.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "oncallgate")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.calls.Add(1)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return transportError(c.cfg.Provider, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classify(c.cfg.Provider, resp, c.cfg.Clock.Now())
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(out); err != nil {
		if ctx.Err() != nil {
			return transportError(c.cfg.Provider, err)
		}
		return fmt.Errorf("%w: decode %s answer (%d): %v", core.ErrInvalid, c.cfg.Provider, resp.StatusCode, err)
	}
	return nil
}
