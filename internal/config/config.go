package config

import (
	"log/slog"
	"slices"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// DefaultPrefix is the SSM prefix used when none is configured.
const DefaultPrefix = "/oncallgate/"

// Config is one validated snapshot of oncallgate's settings. Treat it as
// read-only: the Loader hands the same value to concurrent callers.
type Config struct {
	// Prefix is the SSM prefix the parameters were read below, with leading
	// and trailing slash.
	Prefix string
	// Providers are the enabled providers, in the order configured.
	Providers []core.Provider
	Teleport  TeleportConfig
	PagerDuty PagerDutyConfig
	Opsgenie  OpsgenieConfig
	JSM       JSMConfig
	Poller    core.PollSettings
	Reconcile ReconcileConfig
	Webhook   WebhookConfig
	LogLevel  slog.Level
	// TTL is how long the Loader uses this config before reading it again
	// (config_ttl).
	TTL time.Duration
	// SecretID names the Secrets Manager secret (secret_id).
	SecretID string
	// Secrets are the credentials; they redact themselves when printed.
	Secrets Secrets
	// Warnings are non-fatal findings, such as unknown parameters or secret
	// keys (names only); the Loader logs them.
	Warnings []string
}

// TeleportConfig says how to reach Teleport.
type TeleportConfig struct {
	// Address is host:port of the auth service or proxy.
	Address string
	// ProxyWebAddress is the web address for request links; "" for none.
	ProxyWebAddress string
}

// PagerDutyConfig are the PagerDuty settings.
type PagerDutyConfig struct {
	// APIURL is the REST API base URL without a trailing slash.
	APIURL string
	// FromEmail is sent as the From header on writes.
	FromEmail string
	// Urgency of incidents: "high" or "low".
	Urgency      string
	AutoApproval core.ApprovalPolicy
}

// OpsgenieConfig are the Opsgenie settings.
type OpsgenieConfig struct {
	// APIURL is the API base URL without a trailing slash ("us"/"eu"
	// shortcuts already expanded).
	APIURL string
	// Priority of alerts, P1..P5.
	Priority     string
	Tags         []string
	AutoApproval core.ApprovalPolicy
}

// JSMConfig are the Jira Service Management Operations settings.
type JSMConfig struct {
	// APIURL is the API base URL without a trailing slash.
	APIURL    string
	CloudID   string
	UserEmail string
	// Priority of alerts, P1..P5.
	Priority     string
	Tags         []string
	AutoApproval core.ApprovalPolicy
}

// ReconcileConfig are the reconcile function's settings.
type ReconcileConfig struct {
	// ReopenClosed opens a fresh alert when a person closed one while the
	// request is still pending.
	ReopenClosed bool
	// Retention is how long records of finished requests are kept.
	Retention time.Duration
}

// WebhookConfig are the webhook function's authorization rules.
type WebhookConfig struct {
	RequireOnCall bool
	// Approvers is an allowlist of lower-cased emails; empty allows every
	// responder who passes the other checks.
	Approvers   []string
	DeliveryTTL time.Duration
}

// Settings returns the webhook rules in core's shape.
func (w WebhookConfig) Settings() core.WebhookSettings {
	return core.WebhookSettings{RequireOnCall: w.RequireOnCall, Approvers: slices.Clone(w.Approvers), DeliveryTTL: w.DeliveryTTL}
}

// Enabled reports whether provider p is enabled.
func (c *Config) Enabled(p core.Provider) bool {
	return c != nil && slices.Contains(c.Providers, p)
}

// Policies returns the auto-approval policy of every enabled provider.
func (c *Config) Policies() map[core.Provider]core.ApprovalPolicy {
	out := map[core.Provider]core.ApprovalPolicy{}
	for _, p := range c.Providers {
		switch p {
		case core.PagerDuty:
			out[p] = c.PagerDuty.AutoApproval
		case core.Opsgenie:
			out[p] = c.Opsgenie.AutoApproval
		case core.JSM:
			out[p] = c.JSM.AutoApproval
		}
	}
	return out
}
