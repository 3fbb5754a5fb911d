package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/oncallgate/oncallgate/internal/core"
)

// maxTags is Opsgenie's limit of tags per alert (JSM shares it).
const maxTags = 20

// maxWatchWindow is the longest watch window: a Lambda function runs at most
// 15 minutes.
const maxWatchWindow = 15 * time.Minute

// opsgenieHosts are the accepted shortcuts for opsgenie/api_url.
var opsgenieHosts = map[string]string{
	"us": "https://api.opsgenie.com",
	"eu": "https://api.eu.opsgenie.com",
}

// cloudIDPattern accepts Atlassian cloud IDs (UUIDs) without allowing
// anything that would change the URL path it is put in.
var cloudIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// Parse validates params and the secret's JSON document and applies the
// documented defaults. Parameter names are relative to DefaultPrefix (e.g.
// "poller/concurrency"). It reports every problem at once (errors.Join of
// *ParameterError and *SecretError, all matching core.ErrInvalid); it never
// puts a secret value in an error.
func Parse(params map[string]string, secret []byte) (*Config, error) {
	return parse(DefaultPrefix, params, nil, secret)
}

// ParseUnder is Parse for parameters read below prefix: errors name the
// parameters by their full path under it.
func ParseUnder(prefix string, params map[string]string, secret []byte) (*Config, error) {
	return parse(prefix, params, nil, secret)
}

// parser collects the problems of one parse. hidden names parameters stored
// as SecureString, whose values are never echoed in errors.
type parser struct {
	prefix   string
	params   map[string]string
	hidden   map[string]bool
	problems []error
}

func parse(prefix string, params map[string]string, hidden map[string]bool, secret []byte) (*Config, error) {
	p := &parser{prefix: normalizePrefix(prefix), params: params, hidden: hidden}
	c := &Config{Prefix: p.prefix}

	for _, name := range sortedKeys(params) {
		if !known[name] {
			c.Warnings = append(c.Warnings, fmt.Sprintf("parameter %s is not a known setting and is ignored", p.path(name)))
		}
	}

	c.Providers = p.providers("providers")
	c.Teleport.Address = p.hostPort("teleport/address")
	c.Teleport.ProxyWebAddress = p.webAddress("teleport/proxy_web_address")
	c.SecretID = p.value("secret_id")

	c.PagerDuty.APIURL = p.url("pagerduty/api_url", nil)
	c.PagerDuty.FromEmail = p.email("pagerduty/from_email", c.Enabled(core.PagerDuty), core.PagerDuty)
	c.PagerDuty.Urgency = p.oneOf("pagerduty/urgency", "high", "low")
	c.PagerDuty.AutoApproval = core.ApprovalPolicy{
		Enabled:               p.boolean("pagerduty/auto_approval/enabled"),
		RequireActiveIncident: p.boolean("pagerduty/auto_approval/require_active_incident"),
		MaxEscalationLevel:    p.integer("pagerduty/auto_approval/max_escalation_level", 0),
		AllowedRoles:          p.list("pagerduty/auto_approval/allowed_roles"),
		DryRun:                p.boolean("pagerduty/auto_approval/dry_run"),
	}

	c.Opsgenie.APIURL = p.url("opsgenie/api_url", opsgenieHosts)
	c.Opsgenie.Priority = p.priority("opsgenie/priority")
	c.Opsgenie.Tags = p.tags("opsgenie/tags")
	c.Opsgenie.AutoApproval = core.ApprovalPolicy{
		Enabled:      p.boolean("opsgenie/auto_approval/enabled"),
		AllowedRoles: p.list("opsgenie/auto_approval/allowed_roles"),
		DryRun:       p.boolean("opsgenie/auto_approval/dry_run"),
	}

	c.JSM.APIURL = p.url("jsm/api_url", nil)
	c.JSM.CloudID = p.cloudID("jsm/cloud_id", c.Enabled(core.JSM))
	c.JSM.UserEmail = p.email("jsm/user_email", c.Enabled(core.JSM), core.JSM)
	c.JSM.Priority = p.priority("jsm/priority")
	c.JSM.Tags = p.tags("jsm/tags")
	c.JSM.AutoApproval = core.ApprovalPolicy{
		Enabled:      p.boolean("jsm/auto_approval/enabled"),
		AllowedRoles: p.list("jsm/auto_approval/allowed_roles"),
		DryRun:       p.boolean("jsm/auto_approval/dry_run"),
	}

	c.Poller = core.PollSettings{
		Concurrency:    p.integer("poller/concurrency", 1),
		ClaimLease:     p.duration("poller/claim_lease", false),
		DeadlineMargin: p.duration("poller/deadline_margin", true),
		WatchWindow:    p.duration("poller/watch_window", true),
	}
	if c.Poller.WatchWindow > maxWatchWindow {
		p.bad("poller/watch_window", "want at most 15m (the longest a Lambda function runs)")
	}
	c.Reconcile = ReconcileConfig{
		ReopenClosed: p.boolean("reconcile/reopen_closed"),
		Retention:    p.duration("reconcile/retention", false),
	}
	c.Webhook = WebhookConfig{
		RequireOnCall: p.boolean("webhook/require_on_call"),
		Approvers:     p.emails("webhook/approvers"),
		DeliveryTTL:   p.duration("webhook/delivery_ttl", false),
	}
	c.LogLevel = p.level("log_level")
	c.TTL = p.duration("config_ttl", false)

	if c.SecretID != "" {
		var warnings []string
		c.Secrets, warnings = p.secrets(c.SecretID, secret, c.Providers)
		c.Warnings = append(c.Warnings, warnings...)
	}

	if len(p.problems) > 0 {
		return nil, errors.Join(p.problems...)
	}
	return c, nil
}

// normalizePrefix returns prefix with exactly one leading and one trailing
// slash; "" becomes DefaultPrefix.
func normalizePrefix(prefix string) string {
	trimmed := strings.Trim(strings.TrimSpace(prefix), "/")
	switch {
	case trimmed != "":
		return "/" + trimmed + "/"
	case strings.Contains(prefix, "/"):
		return "/" // the whole parameter tree
	}
	return DefaultPrefix
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (p *parser) path(name string) string { return p.prefix + name }

// raw returns the trimmed value set for name and whether one is set at all
// (whitespace only counts as not set).
func (p *parser) raw(name string) (string, bool) {
	if !known[name] {
		// A programming error (a setting read but not documented); every
		// parse test trips over it.
		p.problems = append(p.problems, fmt.Errorf("parameter %s: read but missing from config.Parameters", p.path(name)))
	}
	v := strings.TrimSpace(p.params[name])
	return v, v != ""
}

// value returns the value set for name or its documented default.
func (p *parser) value(name string) string {
	if v, ok := p.raw(name); ok {
		return v
	}
	return defaults[name]
}

// bad records a problem with name's value; want says what is accepted.
func (p *parser) bad(name, want string) {
	p.problems = append(p.problems, &ParameterError{Path: p.path(name), Problem: want + ", got " + p.shown(name)})
}

// missing records that a required parameter is not set.
func (p *parser) missing(name, when string) {
	problem := "is required but not set"
	if when != "" {
		problem = "is required when " + when + " but not set"
	}
	p.problems = append(p.problems, &ParameterError{Path: p.path(name), Problem: problem})
}

// shown is the value as quoted in an error: SecureString values are never
// shown, long ones are cut.
func (p *parser) shown(name string) string {
	return p.quote(name, strings.TrimSpace(p.params[name]))
}

// quote quotes v, a value or part of the value of name, for an error.
func (p *parser) quote(name, v string) string {
	if p.hidden[name] {
		return "a SecureString value (not shown)"
	}
	const maxShown = 80
	if len([]rune(v)) > maxShown {
		v = string([]rune(v)[:maxShown]) + "…"
	}
	return strconv.Quote(v)
}

func (p *parser) boolean(name string) bool {
	b, err := strconv.ParseBool(strings.ToLower(p.value(name)))
	if err != nil {
		p.bad(name, "want true or false")
	}
	return b
}

func (p *parser) integer(name string, min int) int {
	n, err := strconv.Atoi(p.value(name))
	if err != nil || n < min {
		p.bad(name, fmt.Sprintf("want a whole number ≥ %d", min))
		return 0
	}
	return n
}

// duration parses a Go duration (2m, 720h); zero is allowed only when
// allowZero, negative never.
func (p *parser) duration(name string, allowZero bool) time.Duration {
	d, err := time.ParseDuration(p.value(name))
	switch {
	case err != nil || d < 0:
		p.bad(name, "want a duration such as 90s, 2m or 720h")
	case d == 0 && !allowZero:
		p.bad(name, "want a duration greater than zero such as 90s, 2m or 720h")
	}
	return d
}

// list splits a comma-separated value (String or StringList), trimming
// items and dropping empty ones.
func (p *parser) list(name string) []string {
	return splitList(p.value(name))
}

func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (p *parser) tags(name string) []string {
	tags := p.list(name)
	if len(tags) > maxTags {
		p.bad(name, fmt.Sprintf("want at most %d tags", maxTags))
	}
	return tags
}

func (p *parser) providers(name string) []core.Provider {
	v, ok := p.raw(name)
	if !ok {
		p.missing(name, "")
		return nil
	}
	var out []core.Provider
	for _, item := range splitList(v) {
		pr, err := core.ParseProvider(item)
		if err != nil {
			p.problems = append(p.problems, &ParameterError{Path: p.path(name), Problem: "want pagerduty, opsgenie or jsm, got unknown provider " + p.quote(name, item)})
			continue
		}
		if !slices.Contains(out, pr) {
			out = append(out, pr)
		}
	}
	if len(out) == 0 && len(splitList(v)) == 0 {
		p.bad(name, "want at least one of pagerduty, opsgenie, jsm")
	}
	return out
}

func (p *parser) hostPort(name string) string {
	v, ok := p.raw(name)
	if !ok {
		p.missing(name, "")
		return ""
	}
	host, port, err := net.SplitHostPort(v)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || strings.ContainsAny(host, "/ ") || perr != nil || n < 1 || n > 65535 {
		p.bad(name, "want host:port such as teleport.example.com:443")
		return ""
	}
	return v
}

// webAddress accepts host[:port] or an http(s) URL; "" is allowed.
func (p *parser) webAddress(name string) string {
	v, ok := p.raw(name)
	if !ok {
		return ""
	}
	v = strings.TrimSuffix(v, "/")
	candidate := v
	if !strings.Contains(v, "://") {
		candidate = "https://" + v
	}
	u, err := url.Parse(candidate)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsFunc(v, unicode.IsSpace) {
		p.bad(name, "want host[:port] or an https URL such as https://teleport.example.com")
		return ""
	}
	return v
}

// url parses an http(s) base URL, expanding shortcuts, and drops a trailing
// slash.
func (p *parser) url(name string, shortcuts map[string]string) string {
	v := p.value(name)
	if s, ok := shortcuts[strings.ToLower(v)]; ok {
		return s
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		want := "want an http or https URL"
		if len(shortcuts) > 0 {
			want += " or one of " + strings.Join(sortedKeys(shortcuts), ", ")
		}
		p.bad(name, want)
		return ""
	}
	return strings.TrimSuffix(v, "/")
}

func (p *parser) email(name string, required bool, pr core.Provider) string {
	v, ok := p.raw(name)
	if !ok {
		if required {
			p.missing(name, string(pr)+" is enabled")
		}
		return ""
	}
	if !core.IsEmail(v) {
		p.bad(name, "want an email address such as oncall-bot@example.com")
		return ""
	}
	return v
}

// emails parses a list of emails, lower-cased.
func (p *parser) emails(name string) []string {
	var out []string
	for _, e := range p.list(name) {
		if !core.IsEmail(e) {
			p.problems = append(p.problems, &ParameterError{Path: p.path(name), Problem: "want comma-separated email addresses, got " + p.quote(name, e)})
			continue
		}
		if e = strings.ToLower(e); !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func (p *parser) cloudID(name string, required bool) string {
	v, ok := p.raw(name)
	if !ok {
		if required {
			p.missing(name, "jsm is enabled")
		}
		return ""
	}
	if !cloudIDPattern.MatchString(v) {
		p.bad(name, "want an Atlassian cloud ID (letters, digits and dashes)")
		return ""
	}
	return v
}

func (p *parser) priority(name string) string {
	v := strings.ToUpper(p.value(name))
	if len(v) != 2 || v[0] != 'P' || v[1] < '1' || v[1] > '5' {
		p.bad(name, "want a priority P1, P2, P3, P4 or P5")
		return ""
	}
	return v
}

func (p *parser) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(p.value(name))
	if !slices.Contains(allowed, v) {
		p.bad(name, "want "+strings.Join(allowed, " or "))
		return ""
	}
	return v
}

func (p *parser) level(name string) slog.Level {
	var l slog.Level
	v := p.value(name)
	if strings.EqualFold(v, "warning") {
		v = "warn"
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.bad(name, "want debug, info, warn or error")
		return slog.LevelInfo
	}
	return l
}

// secrets parses the secret's JSON document. Problems name the secret and
// the key, never a value; unknown keys become warnings.
func (p *parser) secrets(id string, doc []byte, providers []core.Provider) (Secrets, []string) {
	var s Secrets
	failed := map[string]bool{}
	fail := func(key, problem string) {
		failed[key] = true
		p.problems = append(p.problems, &SecretError{SecretID: id, Key: key, Problem: problem})
	}
	var m map[string]json.RawMessage
	if len(strings.TrimSpace(string(doc))) == 0 {
		fail("", "is empty; want a JSON object with the keys teleport_identity, pagerduty_api_key, ...")
		return s, nil
	}
	// The decoder's error may quote part of the document: never use it.
	if err := json.Unmarshal(doc, &m); err != nil || m == nil {
		fail("", "is not a JSON object")
		return s, nil
	}
	var warnings []string
	for _, k := range sortedKeys(m) {
		if !knownSecretKeys[k] {
			warnings = append(warnings, fmt.Sprintf("secret %s: key %s is not a known setting and is ignored", id, k))
		}
	}
	str := func(key string) string {
		raw, ok := m[key]
		if !ok || string(raw) == "null" {
			return ""
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			fail(key, "is not a JSON string")
			return ""
		}
		return strings.TrimSpace(v)
	}
	s.TeleportIdentity = str("teleport_identity")
	s.PagerDutyAPIKey = str("pagerduty_api_key")
	s.PagerDutyWebhookSecret = str("pagerduty_webhook_secret")
	s.OpsgenieAPIKey = str("opsgenie_api_key")
	s.OpsgenieWebhookSecret = str("opsgenie_webhook_secret")
	s.JSMAPIKey = str("jsm_api_key")
	s.JSMAPIToken = str("jsm_api_token")
	s.JSMWebhookSecret = str("jsm_webhook_secret")
	if raw, ok := m["pagerduty_signing_secrets"]; ok && string(raw) != "null" {
		var list []string
		var one string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			s.PagerDutySigningSecrets = splitList(one)
		case json.Unmarshal(raw, &list) == nil:
			for _, v := range list {
				if v = strings.TrimSpace(v); v != "" {
					s.PagerDutySigningSecrets = append(s.PagerDutySigningSecrets, v)
				}
			}
		default:
			fail("pagerduty_signing_secrets", "is neither a JSON string nor an array of strings")
		}
	}

	require := func(key, value string) {
		if value == "" && !failed[key] {
			if _, present := m[key]; present {
				fail(key, "is empty")
			} else {
				fail(key, "is missing")
			}
		}
	}
	require("teleport_identity", s.TeleportIdentity)
	for _, pr := range providers {
		switch pr {
		case core.PagerDuty:
			require("pagerduty_api_key", s.PagerDutyAPIKey)
		case core.Opsgenie:
			require("opsgenie_api_key", s.OpsgenieAPIKey)
		case core.JSM:
			require("jsm_api_key", s.JSMAPIKey)
			require("jsm_api_token", s.JSMAPIToken)
		}
	}
	return s, warnings
}
