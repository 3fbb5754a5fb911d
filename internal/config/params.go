package config

import (
	"fmt"
	"strings"
)

// ParameterDoc describes one setting: an SSM parameter (Name relative to the
// prefix) or a key of the Secrets Manager JSON document.
type ParameterDoc struct {
	// Name is the parameter name below the prefix, e.g. "poller/concurrency",
	// or the secret's JSON key.
	Name string
	// Default is the value used when the parameter is absent; "" means none
	// (empty list, no value).
	Default string
	// RequiredWhen is "always", "<provider> enabled", or "" for optional.
	RequiredWhen string
	// Description says what the setting does and what it accepts.
	Description string
}

// Conditions used in RequiredWhen.
const (
	requiredAlways = "always"
	whenPagerDuty  = "pagerduty enabled"
	whenOpsgenie   = "opsgenie enabled"
	whenJSM        = "jsm enabled"
)

// Parameters lists every SSM parameter oncallgate reads below the prefix.
// The defaults here are the defaults Parse applies; docs/configuration.md is
// generated from this list.
var Parameters = []ParameterDoc{
	{"teleport/address", "", requiredAlways, "Teleport auth service or proxy address the plugin connects to, host:port (e.g. teleport.example.com:443)."},
	{"teleport/proxy_web_address", "", "", "Teleport web address used for request links in alerts: host[:port] or an https URL. No link when empty."},
	{"providers", "", requiredAlways, "Comma-separated providers to use: pagerduty, opsgenie, jsm."},
	{"secret_id", "oncallgate", "", "Name or ARN of the Secrets Manager secret holding the keys listed under Secret keys."},

	{"pagerduty/api_url", "https://api.pagerduty.com", "", "PagerDuty REST API base URL (http or https)."},
	{"pagerduty/from_email", "", whenPagerDuty, "Email of a PagerDuty user, sent as the From header on every write."},
	{"pagerduty/urgency", "high", "", "Urgency of incidents: high or low."},
	{"pagerduty/auto_approval/enabled", "true", "", "Approve requests of users on call in the pagerduty_services of their role."},
	{"pagerduty/auto_approval/require_active_incident", "true", "", "Also require a triggered or acknowledged incident assigned to the requester in one of those services."},
	{"pagerduty/auto_approval/max_escalation_level", "0", "", "Count only on-call entries at this escalation level or lower; 0 means any level."},
	{"pagerduty/auto_approval/allowed_roles", "", "", "Comma-separated roles that may be auto-approved; empty allows every role."},
	{"pagerduty/auto_approval/dry_run", "false", "", "Decide and record auto-approvals but never submit the review."},

	{"opsgenie/api_url", "https://api.opsgenie.com", "", "Opsgenie API base URL; \"us\" and \"eu\" are shortcuts for https://api.opsgenie.com and https://api.eu.opsgenie.com."},
	{"opsgenie/priority", "P3", "", "Priority of alerts, P1 to P5."},
	{"opsgenie/tags", "TeleportAccessRequest", "", "Comma-separated tags put on alerts (at most 20)."},
	{"opsgenie/auto_approval/enabled", "true", "", "Approve requests of users on call in the opsgenie_oncall_schedules of their role."},
	{"opsgenie/auto_approval/allowed_roles", "", "", "Comma-separated roles that may be auto-approved; empty allows every role."},
	{"opsgenie/auto_approval/dry_run", "false", "", "Decide and record auto-approvals but never submit the review."},

	{"jsm/api_url", "https://api.atlassian.com", "", "Jira Service Management Operations API base URL."},
	{"jsm/cloud_id", "", whenJSM, "Atlassian cloud ID of the site (used in the operations REST API path)."},
	{"jsm/user_email", "", whenJSM, "Email of the Atlassian account whose API token is jsm_api_token."},
	{"jsm/priority", "P3", "", "Priority of alerts, P1 to P5."},
	{"jsm/tags", "TeleportAccessRequest", "", "Comma-separated tags put on alerts (at most 20)."},
	{"jsm/auto_approval/enabled", "true", "", "Approve requests of users on call in the schedules of their role."},
	{"jsm/auto_approval/allowed_roles", "", "", "Comma-separated roles that may be auto-approved; empty allows every role."},
	{"jsm/auto_approval/dry_run", "false", "", "Decide and record auto-approvals but never submit the review."},

	{"poller/concurrency", "8", "", "Access requests worked on at once by one poller run (at least 1)."},
	{"poller/claim_lease", "2m", "", "How long a claim protects an alert creation before another worker may take it over."},
	{"poller/deadline_margin", "10s", "", "No new work starts when less than this remains before the Lambda deadline."},
	{"poller/watch_window", "0s", "", "After its listing pass the poller keeps a Teleport watcher open this long and handles requests as they change (p99 0.17 s from request to alert in docs/benchmarks.md, instead of up to the schedule interval), ending deadline_margin before the Lambda deadline at the latest. 0s turns it off. 1m with the default one-minute schedule and 70 s timeout keeps a watcher open at all times; billed poller time then grows to about a minute per minute."},

	{"reconcile/reopen_closed", "true", "", "Open a fresh alert when a person closed the alert while the request is still pending."},
	{"reconcile/retention", "720h", "", "How long records of finished requests are kept before DynamoDB expires them."},

	{"webhook/require_on_call", "true", "", "A responder pressing Approve or Deny must be on call where the request was notified."},
	{"webhook/approvers", "", "", "Comma-separated emails; when set, only these responders may approve or deny from the pager."},
	{"webhook/delivery_ttl", "72h", "", "How long webhook deliveries are remembered to drop duplicates (PagerDuty retries for up to 48h)."},

	{"log_level", "info", "", "Log level: debug, info, warn or error."},
	{"config_ttl", "60s", "", "How long a loaded configuration is used before it is read again."},
}

// SecretKeys lists the keys of the Secrets Manager JSON document. Values are
// strings; pagerduty_signing_secrets may also be a JSON array of strings.
var SecretKeys = []ParameterDoc{
	{"teleport_identity", "", requiredAlways, "Teleport identity file of the plugin user (tctl auth sign --format=file, or one refreshed by Machine ID)."},
	{"pagerduty_api_key", "", whenPagerDuty, "PagerDuty REST API key."},
	{"pagerduty_webhook_secret", "", "", "Shared secret PagerDuty custom incident actions send in a header."},
	{"pagerduty_signing_secrets", "", "", "Comma-separated PagerDuty webhook v3 signing secrets (several while one rotates)."},
	{"opsgenie_api_key", "", whenOpsgenie, "Opsgenie API integration key."},
	{"opsgenie_webhook_secret", "", "", "Shared secret the Opsgenie webhook integration sends in a header."},
	{"jsm_api_key", "", whenJSM, "Jira Service Management Operations integration key (GenieKey) for alerts."},
	{"jsm_api_token", "", whenJSM, "Atlassian API token of jsm/user_email for the operations REST API."},
	{"jsm_webhook_secret", "", "", "Shared secret the JSM webhook integration sends in a header."},
}

// defaults maps parameter names to their documented defaults; known is the
// set of documented parameter names.
var defaults, known = func() (map[string]string, map[string]bool) {
	d, k := map[string]string{}, map[string]bool{}
	for _, p := range Parameters {
		d[p.Name], k[p.Name] = p.Default, true
	}
	return d, k
}()

var knownSecretKeys = func() map[string]bool {
	k := map[string]bool{}
	for _, p := range SecretKeys {
		k[p.Name] = true
	}
	return k
}()

// MarkdownTables renders Parameters and SecretKeys as the Markdown tables of
// docs/configuration.md, with parameter names shown below prefix.
func MarkdownTables(prefix string) string {
	var b strings.Builder
	b.WriteString("### SSM parameters\n\n")
	writeTable(&b, "Parameter", Parameters, normalizePrefix(prefix))
	b.WriteString("\n### Secret keys\n\n")
	writeTable(&b, "Key", SecretKeys, "")
	return b.String()
}

func writeTable(b *strings.Builder, first string, docs []ParameterDoc, prefix string) {
	fmt.Fprintf(b, "| %s | Default | Required | Description |\n|---|---|---|---|\n", first)
	for _, p := range docs {
		def, req := "—", "no"
		if p.Default != "" {
			def = "`" + p.Default + "`"
		}
		if p.RequiredWhen != "" {
			req = p.RequiredWhen
		}
		fmt.Fprintf(b, "| `%s%s` | %s | %s | %s |\n", prefix, p.Name, def, req, strings.ReplaceAll(p.Description, "|", `\|`))
	}
}
