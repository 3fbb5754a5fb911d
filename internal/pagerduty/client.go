// Package pagerduty is oncallgate's adapter for the PagerDuty REST API v2: it
// opens, annotates and resolves incidents (core.Notifier), answers the
// auto-approval questions (core.PagerDutyDirectory: users, services,
// on-calls, active incidents), maps a webhook agent to an email (GetUser) and
// installs the "Approve Request"/"Deny Request" custom incident actions
// (EnsureActions).
//
// It only talks to PagerDuty and classifies failures into core's error
// kinds; it decides nothing, never logs or returns the API key, and keeps no
// state beyond a per-Client cache of service lookups and the rate limiter.
// The only request it sends again is one PagerDuty refused with 429 (see
// below); every other failure goes back to the core, which retries on
// core.ErrTransient.
//
// # Rate limits
//
// PagerDuty allows 960 requests per minute per API key, and the poller,
// webhook and reconcile functions (and concurrent instances of each) share
// one key, each with its own Client. A Client therefore paces itself and
// also listens to the server; a request waits until all of these allow it:
//   - the client's own token bucket, Config.RequestsPerMinute (900 by
//     default, below the limit to leave room for the other functions) with
//     bursts of one second's worth: on its own it keeps one busy instance
//     from ever meeting the limit;
//   - the server's allowance: an answer (2xx or error) carrying
//     ratelimit-remaining and ratelimit-reset lets no more than remaining
//     further requests go before reset elapses. It is counted from that
//     answer, so requests in flight at the time make it approximate; within
//     one window a later answer can lower it but never raise it. With
//     remaining 0 every caller waits for the reset. Answers without these
//     headers leave the bucket alone in charge;
//   - no pause: a 429 pauses the whole Client until ratelimit-reset (else
//     Retry-After, else Config.DefaultRetryAfter). PagerDuty did not process
//     the refused request, so it is sent again after the pause, whatever its
//     method, up to maxAttempts times in all, but only when ctx's deadline
//     leaves room for the wait; otherwise the 429 comes back as
//     core.Transient carrying the wait.
//
// A caller whose deadline comes before its turn fails at once with
// core.Transient carrying the wait, rather than sleeping into the deadline.
//
// # go-pagerduty and net/http
//
// Every request is sent by Client.do with net/http; none goes through
// go-pagerduty's methods (v1.8.0), because their results cannot be
// classified the way the core needs:
//   - they do not show the answer's headers (and drop the *http.Response on
//     error), so the rate-limit headers the limiter learns from, and the
//     ratelimit-reset of a 429 (the wait core.Transient must carry), are lost;
//   - they format transport errors with %v, so a timeout or a cancelled
//     context can no longer be recognised with errors.Is;
//   - CreateIncidentNote and the extension calls cannot send the From header
//     this package sends on every write, and there is no call for
//     PUT /incidents/{id} (only the bulk PUT /incidents).
//
// go-pagerduty is used where it fits cleanly: its wire types encode the
// bodies (CreateIncidentOptions, APIReference, APIDetails, Extension) and
// decode the answers (Incident, Service, User, OnCall, Extension,
// ExtensionSchema, APIListObject); its List*Options structs encode query
// strings with PagerDuty's bracket convention (statuses[]=...); and its
// APIError type decodes PagerDuty's error object, including the variant whose
// "errors" field is a string.
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
	"github.com/google/go-querystring/query"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
)

// Defaults for Config fields left zero.
const (
	// DefaultBaseURL is PagerDuty's REST API.
	DefaultBaseURL = "https://api.pagerduty.com"
	// DefaultUrgency is the urgency of the incidents Create opens.
	DefaultUrgency = "high"
	// DefaultRequestsPerMinute stays below PagerDuty's 960 requests per
	// minute per API key, leaving room for the other functions sharing the
	// key.
	DefaultRequestsPerMinute = 900
	// DefaultRetryAfter is the pause after, and the wait reported for, a 429
	// without a ratelimit-reset or Retry-After header.
	DefaultRetryAfter = 30 * time.Second
	// DefaultCallTimeout bounds one HTTP request, answer included.
	DefaultCallTimeout = 8 * time.Second
	// DefaultNotFoundTTL is how long a service name PagerDuty did not know is
	// remembered as unknown.
	DefaultNotFoundTTL = time.Minute
)

const (
	acceptHeader = "application/vnd.pagerduty+json;version=2"
	userAgent    = "oncallgate"
	// pageSize is the page size asked for on list calls (PagerDuty's
	// maximum); the server may answer with smaller pages.
	pageSize = 100
	// maxPages bounds one paginated listing, so a server that always says
	// "more" cannot keep a handler busy until its deadline.
	maxPages = 200
	// maxResponseBytes and maxErrorBytes bound what is read of an answer.
	maxResponseBytes = 8 << 20
	maxErrorBytes    = 64 << 10
	// maxAttempts bounds how often one call is sent when PagerDuty answers
	// 429, first attempt included.
	maxAttempts = 3
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	// BaseURL is the REST API root, without a trailing path.
	BaseURL string
	// APIKey is a REST API key (read-write for Create/Resolve/EnsureActions).
	APIKey string
	// FromEmail is the email of the PagerDuty user every write is made as
	// (PagerDuty requires it in the From header).
	FromEmail string
	// Urgency of created incidents: "high" or "low".
	Urgency string
	// HTTPClient sends the requests; a new one with no overall timeout when
	// nil (CallTimeout bounds each request).
	HTTPClient *http.Client
	// Clock dates the service cache entries.
	Clock core.Clock
	// RequestsPerMinute is the client-side rate limit shared by all calls.
	RequestsPerMinute int
	// DefaultRetryAfter is the pause after a 429 without ratelimit-reset or
	// Retry-After, and the wait its error reports.
	DefaultRetryAfter time.Duration
	// CallTimeout bounds each HTTP request.
	CallTimeout time.Duration
	// NotFoundTTL is how long an unknown service name stays cached as
	// unknown.
	NotFoundTTL time.Duration
}

// Client talks to one PagerDuty account with one API key. It is safe for
// concurrent use; build it once per cold start and reuse it.
type Client struct {
	cfg     Config
	base    *url.URL
	baseErr error
	http    *http.Client
	limiter *limiter
	calls   atomic.Int64
	limited atomic.Int64

	mu       sync.Mutex
	services map[string]serviceEntry  // by lower-cased name
	lookups  map[string]chan struct{} // service lookups in flight, closed when done
}

// serviceEntry caches one service lookup: found ones for the Client's life,
// unknown ones until expires.
type serviceEntry struct {
	svc     core.PagerDutyService
	found   bool
	expires time.Time
}

var (
	_ core.Notifier           = (*Client)(nil)
	_ core.PagerDutyDirectory = (*Client)(nil)
	_ core.IncidentKeys       = (*Client)(nil)
	_ core.PagerDutyUsers     = (*Client)(nil)
)

// New returns a Client for cfg. It does no I/O; a malformed BaseURL is
// reported by the first call.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Urgency == "" {
		cfg.Urgency = DefaultUrgency
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.RequestsPerMinute <= 0 {
		cfg.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if cfg.DefaultRetryAfter <= 0 {
		cfg.DefaultRetryAfter = DefaultRetryAfter
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.NotFoundTTL <= 0 {
		cfg.NotFoundTTL = DefaultNotFoundTTL
	}
	c := &Client{
		cfg:      cfg,
		http:     cfg.HTTPClient,
		limiter:  newLimiter(cfg.RequestsPerMinute),
		services: map[string]serviceEntry{},
		lookups:  map[string]chan struct{}{},
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("%w: pagerduty api url %q: %v", core.ErrInvalid, cfg.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.baseErr = fmt.Errorf("%w: pagerduty api url %q is not an absolute http(s) URL", core.ErrInvalid, cfg.BaseURL)
	}
	c.base = u
	return c
}

// Provider implements core.Notifier.
func (c *Client) Provider() core.Provider { return core.PagerDuty }

// Calls returns how many HTTP requests the Client has sent, repeats after a
// 429 included.
func (c *Client) Calls() int64 { return c.calls.Load() }

// RateLimited returns how many 429 answers the Client has received.
func (c *Client) RateLimited() int64 { return c.limited.Load() }

// do sends one request, waiting for the rate limiter first, and decodes a
// 2xx answer into out (when not nil). A 429 is sent again after the pause it
// causes (see the package comment). Failures come back classified:
// *APIError for non-2xx answers (wrapped in a core.TransientError for
// 408/429/5xx), core.Transient for transport errors and timeouts. The error
// text names the call, never the API key.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	call := method + " " + path
	if c.baseErr != nil {
		return fmt.Errorf("%s: %w", call, c.baseErr)
	}
	if isWrite(method) && c.cfg.FromEmail == "" {
		return fmt.Errorf("%s: %w: no From email configured (pagerduty/from_email)", call, core.ErrInvalid)
	}
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", call, err)
		}
		body = b
	}
	for attempt := 1; ; attempt++ {
		err := c.send(ctx, call, method, path, q, body, out)
		wait, limited := rateLimited(err)
		if !limited || attempt == maxAttempts || !roomFor(ctx, wait) {
			return err
		}
		logging.FromContext(ctx).Warn("pagerduty rate limit reached; sending the call again after the pause",
			"call", call, "attempt", attempt, "wait", wait)
	}
}

// isWrite reports whether method changes something (and so needs From).
func isWrite(method string) bool { return method == http.MethodPost || method == http.MethodPut }

// rateLimited reports whether err is a 429 answer, and the wait it carries.
func rateLimited(err error) (time.Duration, bool) {
	ae, ok := asAPIError(err)
	if !ok || ae.Status != http.StatusTooManyRequests {
		return 0, false
	}
	return core.RetryAfter(err), true
}

// roomFor reports whether ctx's deadline, if any, is more than wait away.
func roomFor(ctx context.Context, wait time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > wait
}

// send makes one attempt of a call: it waits for the rate limiter, sends
// the request, and learns from the answer's rate-limit headers (a 429 also
// pauses the Client).
func (c *Client) send(ctx context.Context, call, method, path string, q url.Values, body []byte, out any) error {
	if err := c.limiter.wait(ctx, call); err != nil {
		return err
	}

	callCtx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	u := *c.base
	u.Path += path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(callCtx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s: build request: %w", call, err)
	}
	req.Header.Set("Authorization", "Token token="+c.cfg.APIKey)
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if isWrite(method) {
		req.Header.Set("From", c.cfg.FromEmail)
	}

	c.calls.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, call, err)
	}
	defer resp.Body.Close()
	now := time.Now()
	c.limiter.observe(now, resp.Header)
	if resp.StatusCode == http.StatusTooManyRequests {
		c.limited.Add(1)
		c.limiter.pause(now, c.rateLimitWait(resp.Header))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.statusError(call, resp)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return c.transportError(ctx, call+": read answer", err)
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		// A cut or garbled answer: the next attempt may get a whole one,
		// and every write here is safe to repeat.
		return core.Transient(fmt.Errorf("%s: decode answer: %w", call, err), 0)
	}
	return nil
}

// transportError classifies a failure to get an answer: always transient,
// keeping the cause for errors.Is (context.DeadlineExceeded, net errors).
func (c *Client) transportError(ctx context.Context, call string, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return core.Transient(fmt.Errorf("%s: no answer within %s: %w", call, c.cfg.CallTimeout, err), 0)
	}
	return core.Transient(fmt.Errorf("%s: %w", call, err), 0)
}

// statusError turns a non-2xx answer into an *APIError, wrapped as transient
// (with the wait PagerDuty asked for) for 408/429/5xx.
func (c *Client) statusError(call string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	ae := &APIError{Call: call, Status: resp.StatusCode}
	var doc pd.APIError
	if json.Unmarshal(raw, &doc) == nil && doc.APIError.Valid {
		ae.Code = doc.APIError.ErrorObject.Code
		ae.Message = doc.APIError.ErrorObject.Message
		ae.Details = doc.APIError.ErrorObject.Errors
	}
	if ae.Message == "" {
		ae.Message = http.StatusText(resp.StatusCode)
	}
	if core.KindOfStatus(resp.StatusCode) != core.ErrTransient {
		return ae
	}
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		wait = c.rateLimitWait(resp.Header)
	} else if d, ok := secondsHeader(resp.Header, "Retry-After"); ok {
		wait = d
	}
	return core.Transient(ae, wait)
}

// rateLimitWait is how long a 429 asks to wait: ratelimit-reset, else
// Retry-After, else the configured default.
func (c *Client) rateLimitWait(h http.Header) time.Duration {
	if d, ok := secondsHeader(h, "ratelimit-reset"); ok {
		return d
	}
	if d, ok := secondsHeader(h, "Retry-After"); ok {
		return d
	}
	return c.cfg.DefaultRetryAfter
}

// secondsHeader parses a header holding a non-negative number of seconds.
func secondsHeader(h http.Header, name string) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 24*60*60 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// values encodes one of go-pagerduty's List*Options into a query.
func values(opts any) (url.Values, error) {
	v, err := query.Values(opts)
	if err != nil {
		return nil, fmt.Errorf("encode query: %w", err)
	}
	return v, nil
}

// listAll pages through a list endpoint with limit/offset/more. page
// decodes one answer into its own result and returns the page's pagination
// fields and item count.
func (c *Client) listAll(ctx context.Context, path string, q url.Values, page func(raw json.RawMessage) (pd.APIListObject, int, error)) error {
	offset := 0
	for range maxPages {
		q.Set("limit", strconv.Itoa(pageSize))
		q.Set("offset", strconv.Itoa(offset))
		var raw json.RawMessage
		if err := c.do(ctx, http.MethodGet, path, q, nil, &raw); err != nil {
			return err
		}
		info, n, err := page(raw)
		if err != nil {
			return core.Transient(fmt.Errorf("GET %s: decode page at offset %d: %w", path, offset, err), 0)
		}
		if !info.More || n == 0 {
			return nil
		}
		offset += n
	}
	return fmt.Errorf("GET %s: %w: more than %d pages", path, core.ErrInvalid, maxPages)
}
