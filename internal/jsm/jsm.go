package jsm

import (
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

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/opsgenie"
)

// Defaults.
const (
	// DefaultBaseURL is the Atlassian API gateway.
	DefaultBaseURL = "https://api.atlassian.com"
	// AlertsPath is where JSM's integration API serves Opsgenie-style alerts.
	AlertsPath = "/jsm/ops/integration/v2/alerts"
	// DefaultCallTimeout bounds one HTTP call.
	DefaultCallTimeout = 8 * time.Second
	// DefaultCacheTTL is how long schedule IDs and account emails are
	// remembered.
	DefaultCacheTTL = 10 * time.Minute
)

// Paging of the schedule list.
const (
	schedulePageSize = 100
	maxSchedulePages = 50
	maxResponseBody  = 4 << 20
)

// API names used in error texts.
const (
	opsAPI  = "jsm ops API"
	userAPI = "jira user API"
)

// Config configures the JSM notifier and directory. Zero fields take the
// defaults.
type Config struct {
	// BaseURL is the Atlassian API root (default https://api.atlassian.com).
	BaseURL string
	// CloudID is the Atlassian site's cloud ID (required for the directory).
	CloudID string
	// APIKey is the GenieKey of a JSM API integration (alerts).
	APIKey string
	// UserEmail and APIToken authenticate the Ops REST and user APIs (Basic).
	UserEmail string
	APIToken  string
	// UserAPIBaseURL is the Jira REST root for user lookups (default
	// BaseURL + "/ex/jira/" + CloudID).
	UserAPIBaseURL string

	// Alert settings, as in opsgenie.Config.
	Priority         string
	Tags             []string
	Source           string
	User             string
	CompletePolls    int
	CompleteInterval time.Duration

	// HTTPClient sends the requests (default: a new client).
	HTTPClient *http.Client
	// Clock tells the time for caches and HTTP-date Retry-After values.
	Clock core.Clock
	// CallTimeout bounds one HTTP call (default 8s).
	CallTimeout time.Duration
	// CacheTTL bounds how long schedule IDs and emails are reused (default
	// 10m).
	CacheTTL time.Duration
}

func (cfg Config) withDefaults() Config {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.UserAPIBaseURL == "" {
		cfg.UserAPIBaseURL = cfg.BaseURL + "/ex/jira/" + url.PathEscape(cfg.CloudID)
	}
	cfg.UserAPIBaseURL = strings.TrimRight(cfg.UserAPIBaseURL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	return cfg
}

// NewNotifier returns the JSM alert notifier: the opsgenie alert client on
// JSM's integration API, reporting core.JSM as its provider.
func NewNotifier(cfg Config) core.Notifier {
	cfg = cfg.withDefaults()
	return opsgenie.New(opsgenie.Config{
		BaseURL:          cfg.BaseURL,
		APIKey:           cfg.APIKey,
		Priority:         cfg.Priority,
		Tags:             cfg.Tags,
		Source:           cfg.Source,
		User:             cfg.User,
		HTTPClient:       cfg.HTTPClient,
		Clock:            cfg.Clock,
		CallTimeout:      cfg.CallTimeout,
		CompletePolls:    cfg.CompletePolls,
		CompleteInterval: cfg.CompleteInterval,
		Provider:         core.JSM,
		AlertsPath:       AlertsPath,
	})
}

type cached struct {
	value string
	at    time.Time
}

// Directory answers who is on call in a JSM schedule, as emails. It is safe
// for concurrent use; build it once per cold start so its caches help.
type Directory struct {
	cfg   Config
	calls atomic.Int64

	mu        sync.Mutex
	schedules map[string]cached // lower-cased name -> schedule ID
	emails    map[string]cached // account ID -> email
}

var _ core.ScheduleDirectory = (*Directory)(nil)

// NewDirectory returns a directory for cfg.
func NewDirectory(cfg Config) *Directory {
	return &Directory{cfg: cfg.withDefaults(), schedules: map[string]cached{}, emails: map[string]cached{}}
}

// Calls returns how many HTTP requests the directory has sent.
func (d *Directory) Calls() int64 { return d.calls.Load() }

// OnCallEmails implements core.ScheduleDirectory. It resolves the schedule
// name to its ID, lists the account IDs on call, and maps each to its email.
// An unknown schedule is ErrNotFound. When some on-call email is hidden by
// the person's privacy settings it returns the visible emails together with
// a *HiddenEmailError (matching ErrNotFound) naming the hidden accounts.
func (d *Directory) OnCallEmails(ctx context.Context, schedule string) ([]string, error) {
	id, fromCache, err := d.scheduleID(ctx, schedule)
	if err != nil {
		return nil, err
	}
	accounts, err := d.onCallAccounts(ctx, id)
	if errors.Is(err, core.ErrNotFound) && fromCache {
		// The schedule was deleted or re-created since it was cached.
		d.forgetSchedule(schedule)
		if id, _, err = d.scheduleID(ctx, schedule); err != nil {
			return nil, err
		}
		accounts, err = d.onCallAccounts(ctx, id)
	}
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("jsm schedule %q not found: %w", schedule, err)
	}
	if err != nil {
		return nil, fmt.Errorf("list on-call of jsm schedule %q: %w", schedule, err)
	}
	emails := make([]string, 0, len(accounts))
	var hidden []string
	for _, acc := range accounts {
		email, err := d.email(ctx, acc)
		if err != nil {
			return nil, fmt.Errorf("find email of account %s on call in jsm schedule %q: %w", acc, schedule, err)
		}
		if email == "" {
			hidden = append(hidden, acc)
			continue
		}
		emails = append(emails, email)
	}
	if len(hidden) > 0 {
		return emails, &HiddenEmailError{Schedule: schedule, AccountIDs: hidden}
	}
	return emails, nil
}

type scheduleList struct {
	Values []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"values"`
	Links struct {
		Next string `json:"next"`
	} `json:"links"`
}

// scheduleID resolves a schedule name (or ID) to its ID, from the cache
// when fresh, else by listing every schedule.
func (d *Directory) scheduleID(ctx context.Context, name string) (id string, fromCache bool, err error) {
	key := strings.ToLower(strings.TrimSpace(name))
	now := d.cfg.Clock.Now()
	d.mu.Lock()
	c, ok := d.schedules[key]
	d.mu.Unlock()
	if ok && now.Sub(c.at) < d.cfg.CacheTTL {
		return c.value, true, nil
	}

	found := ""
	seen := map[string]string{}
	offset := 0
	for page := 0; page < maxSchedulePages; page++ {
		q := url.Values{"offset": {strconv.Itoa(offset)}, "size": {strconv.Itoa(schedulePageSize)}}
		var list scheduleList
		if err := d.get(ctx, opsAPI, d.opsURL("/v1/schedules"), q, &list); err != nil {
			return "", false, fmt.Errorf("list jsm schedules to find %q: %w", name, err)
		}
		for _, s := range list.Values {
			seen[strings.ToLower(s.Name)] = s.ID
			if found == "" && (strings.EqualFold(s.Name, strings.TrimSpace(name)) || s.ID == strings.TrimSpace(name)) {
				found = s.ID
			}
		}
		if list.Links.Next == "" || len(list.Values) == 0 {
			break
		}
		offset += len(list.Values)
	}
	d.mu.Lock()
	for n, sid := range seen {
		d.schedules[n] = cached{value: sid, at: now}
	}
	d.mu.Unlock()
	if found == "" {
		return "", false, fmt.Errorf("jsm schedule %q not found among the %d schedules the API user can see: %w", name, len(seen), core.ErrNotFound)
	}
	return found, false, nil
}

func (d *Directory) forgetSchedule(name string) {
	d.mu.Lock()
	delete(d.schedules, strings.ToLower(strings.TrimSpace(name)))
	d.mu.Unlock()
}

// onCallAnswer reads the flat answer and, defensively, the nested one.
type onCallAnswer struct {
	OnCallUsers        []string      `json:"onCallUsers"`
	OnCallRecipients   []string      `json:"onCallRecipients"`
	OnCallParticipants []participant `json:"onCallParticipants"`
}

type participant struct {
	ID                 string        `json:"id"`
	Type               string        `json:"type"`
	OnCallParticipants []participant `json:"onCallParticipants"`
}

func (d *Directory) onCallAccounts(ctx context.Context, scheduleID string) ([]string, error) {
	var ans onCallAnswer
	q := url.Values{"flat": {"true"}}
	if err := d.get(ctx, opsAPI, d.opsURL("/v1/schedules/"+url.PathEscape(scheduleID)+"/on-calls"), q, &ans); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range ans.OnCallUsers {
		add(id)
	}
	for _, id := range ans.OnCallRecipients {
		add(id)
	}
	var walk func(ps []participant)
	walk = func(ps []participant) {
		for _, p := range ps {
			if p.Type == "user" {
				add(p.ID)
			}
			walk(p.OnCallParticipants)
		}
	}
	walk(ans.OnCallParticipants)
	return out, nil
}

type jiraUser struct {
	AccountID    string  `json:"accountId"`
	EmailAddress *string `json:"emailAddress"`
}

// email returns the account's email, "" when hidden by privacy settings.
func (d *Directory) email(ctx context.Context, accountID string) (string, error) {
	now := d.cfg.Clock.Now()
	d.mu.Lock()
	c, ok := d.emails[accountID]
	d.mu.Unlock()
	if ok && now.Sub(c.at) < d.cfg.CacheTTL {
		return c.value, nil
	}
	var u jiraUser
	q := url.Values{"accountId": {accountID}}
	if err := d.get(ctx, userAPI, d.cfg.UserAPIBaseURL+"/rest/api/3/user", q, &u); err != nil {
		return "", err
	}
	if u.EmailAddress == nil || strings.TrimSpace(*u.EmailAddress) == "" {
		return "", nil // hidden: not cached, so a change of settings is seen at once
	}
	email := strings.TrimSpace(*u.EmailAddress)
	d.mu.Lock()
	d.emails[accountID] = cached{value: email, at: now}
	d.mu.Unlock()
	return email, nil
}

func (d *Directory) opsURL(path string) string {
	return d.cfg.BaseURL + "/jsm/ops/api/" + url.PathEscape(d.cfg.CloudID) + path
}

// get sends one authenticated GET and decodes a 2xx answer into out.
func (d *Directory) get(ctx context.Context, api, rawURL string, query url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	if len(query) > 0 {
		rawURL += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("%w: build %s request: %v", core.ErrInvalid, api, err)
	}
	req.SetBasicAuth(d.cfg.UserEmail, d.cfg.APIToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "oncallgate")
	d.calls.Add(1)
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		return transportError(api, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classify(api, resp, d.cfg.Clock.Now())
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(out); err != nil {
		if ctx.Err() != nil {
			return transportError(api, err)
		}
		return fmt.Errorf("%w: decode %s answer: %v", core.ErrInvalid, api, err)
	}
	return nil
}
