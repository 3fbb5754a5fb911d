package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults of the deployment config file (oncallgate.example.yaml documents
// each one).
const (
	DefaultSSMPrefix                    = "/oncallgate/"
	DefaultSecretName                   = "oncallgate"
	DefaultPollerSchedule               = "rate(1 minute)"
	DefaultReconcileSchedule            = "rate(15 minutes)"
	DefaultLogRetentionDays             = 30
	DefaultPollerReservedConcurrency    = 2
	DefaultPollerMemoryMB               = 256
	DefaultReconcileReservedConcurrency = 1
	DefaultAlarmPollMissedMinutes       = 5
	DefaultAlarmWebhookRefusals         = 10
	DefaultAlarmBacklog                 = 20
)

// secretIDParameter is the SSM parameter (below the prefix) naming the
// Secrets Manager secret; the stack always writes it with the secret it
// creates.
const secretIDParameter = "secret_id"

// ParameterNames lists every SSM parameter oncallgate reads below the
// prefix (the shared configuration contract; internal/config.Parameters is
// the authoritative list and a test keeps the two equal). The config file
// may set only these, so a misspelt security switch is an error at synth
// instead of a silently ignored parameter.
var ParameterNames = []string{
	"teleport/address", "teleport/proxy_web_address", "providers", "secret_id",
	"pagerduty/api_url", "pagerduty/from_email", "pagerduty/urgency",
	"pagerduty/auto_approval/enabled", "pagerduty/auto_approval/require_active_incident",
	"pagerduty/auto_approval/max_escalation_level", "pagerduty/auto_approval/allowed_roles",
	"pagerduty/auto_approval/dry_run",
	"opsgenie/api_url", "opsgenie/priority", "opsgenie/tags",
	"opsgenie/auto_approval/enabled", "opsgenie/auto_approval/allowed_roles", "opsgenie/auto_approval/dry_run",
	"jsm/api_url", "jsm/cloud_id", "jsm/user_email", "jsm/priority", "jsm/tags",
	"jsm/auto_approval/enabled", "jsm/auto_approval/allowed_roles", "jsm/auto_approval/dry_run",
	"poller/concurrency", "poller/claim_lease", "poller/deadline_margin", "poller/watch_window",
	"reconcile/reopen_closed", "reconcile/retention",
	"webhook/require_on_call", "webhook/approvers", "webhook/delivery_ttl",
	"log_level", "config_ttl",
}

// Config is the deployment configuration of the stack, read from the YAML
// (or JSON) config file. It holds deployment choices and the initial SSM
// parameter values; it never holds secrets.
type Config struct {
	// SSMPrefix is the parameter path, starting and ending with "/".
	SSMPrefix string
	// TableName is the DynamoDB table name; empty lets CloudFormation
	// generate one.
	TableName string
	// DeletionProtection switches on DynamoDB deletion protection.
	DeletionProtection bool
	// PollerSchedule and ReconcileSchedule are EventBridge schedule
	// expressions (rate(...) or cron(...)).
	PollerSchedule, ReconcileSchedule string
	// SecretName names the Secrets Manager secret the stack creates; the
	// secret_id parameter is set to it.
	SecretName string
	// AlarmEmail, when set, is subscribed to an SNS topic the stack creates
	// for alarm notifications.
	AlarmEmail string
	// AlarmTopicARN, when set, is an existing SNS topic alarms notify.
	AlarmTopicARN string
	// LogRetentionDays is the retention of the functions' log groups; one
	// of the values CloudWatch Logs accepts.
	LogRetentionDays int
	// PollerReservedConcurrency and ReconcileReservedConcurrency bound how
	// many copies run at once; 0 reserves nothing (needed in accounts whose
	// concurrency quota is still the initial 10).
	PollerReservedConcurrency, ReconcileReservedConcurrency int
	// PollerMemoryMB sizes the poller function. Its measured peak is about
	// 50 MB at 1,000 pending requests, so 128 halves the cost of a watch
	// window that keeps the poller running all minute.
	PollerMemoryMB int
	// AlarmPollMissedMinutes is how many consecutive minutes without a
	// successful poll raise the PollerNotSucceeding alarm.
	AlarmPollMissedMinutes int
	// AlarmWebhookRefusals is the number of refused webhook calls in five
	// minutes above which WebhookRefusalSpike fires.
	AlarmWebhookRefusals int
	// AlarmBacklog is the poller backlog above which BacklogGrowing fires
	// when it persists for three five-minute periods.
	AlarmBacklog int
	// Parameters maps parameter names below SSMPrefix to their values; the
	// stack creates each as an SSM String parameter. It always contains
	// secret_id.
	Parameters map[string]string
}

// fileConfig is the on-disk shape; pointers tell "absent" from "zero".
type fileConfig struct {
	SSMPrefix                    *string              `yaml:"ssm_prefix"`
	TableName                    *string              `yaml:"table_name"`
	DeletionProtection           *bool                `yaml:"deletion_protection"`
	PollerSchedule               *string              `yaml:"poller_schedule"`
	ReconcileSchedule            *string              `yaml:"reconcile_schedule"`
	SecretName                   *string              `yaml:"secret_name"`
	AlarmEmail                   *string              `yaml:"alarm_email"`
	AlarmTopicARN                *string              `yaml:"alarm_topic_arn"`
	LogRetentionDays             *int                 `yaml:"log_retention_days"`
	PollerReservedConcurrency    *int                 `yaml:"poller_reserved_concurrency"`
	PollerMemoryMB               *int                 `yaml:"poller_memory_mb"`
	ReconcileReservedConcurrency *int                 `yaml:"reconcile_reserved_concurrency"`
	AlarmPollMissedMinutes       *int                 `yaml:"alarm_poll_missed_minutes"`
	AlarmWebhookRefusals         *int                 `yaml:"alarm_webhook_refusals"`
	AlarmBacklog                 *int                 `yaml:"alarm_backlog"`
	Parameters                   map[string]yaml.Node `yaml:"parameters"`
}

// retentionDays are the retention periods CloudWatch Logs accepts.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	prefixPattern     = regexp.MustCompile(`^/([A-Za-z0-9_.-]+/)+$`)
	tableNamePattern  = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	ratePattern       = regexp.MustCompile(`^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$`)
	cronPattern       = regexp.MustCompile(`^cron\(\S+( \S+){5}\)$`)
	topicARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	emailPattern      = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// LoadConfigFile reads and validates the config file at path.
func LoadConfigFile(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config file: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses a YAML (or JSON) config document, applies the
// defaults and validates every field. Unknown keys are errors.
func ParseConfig(doc []byte) (Config, error) {
	var f fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	cfg := Config{
		SSMPrefix:                    str(f.SSMPrefix, DefaultSSMPrefix),
		TableName:                    str(f.TableName, ""),
		DeletionProtection:           f.DeletionProtection == nil || *f.DeletionProtection,
		PollerSchedule:               str(f.PollerSchedule, DefaultPollerSchedule),
		ReconcileSchedule:            str(f.ReconcileSchedule, DefaultReconcileSchedule),
		SecretName:                   str(f.SecretName, DefaultSecretName),
		AlarmEmail:                   str(f.AlarmEmail, ""),
		AlarmTopicARN:                str(f.AlarmTopicARN, ""),
		LogRetentionDays:             num(f.LogRetentionDays, DefaultLogRetentionDays),
		PollerReservedConcurrency:    num(f.PollerReservedConcurrency, DefaultPollerReservedConcurrency),
		PollerMemoryMB:               num(f.PollerMemoryMB, DefaultPollerMemoryMB),
		ReconcileReservedConcurrency: num(f.ReconcileReservedConcurrency, DefaultReconcileReservedConcurrency),
		AlarmPollMissedMinutes:       num(f.AlarmPollMissedMinutes, DefaultAlarmPollMissedMinutes),
		AlarmWebhookRefusals:         num(f.AlarmWebhookRefusals, DefaultAlarmWebhookRefusals),
		AlarmBacklog:                 num(f.AlarmBacklog, DefaultAlarmBacklog),
	}
	params, err := parameterValues(f.Parameters)
	if err != nil {
		return Config{}, err
	}
	if v, ok := params[secretIDParameter]; ok && v != cfg.SecretName {
		return Config{}, fmt.Errorf("parameters.%s is %q but the stack's secret is %q: set secret_name instead, the stack writes %s itself", secretIDParameter, v, cfg.SecretName, secretIDParameter)
	}
	params[secretIDParameter] = cfg.SecretName
	cfg.Parameters = params
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports the first invalid field, naming it as the config file
// does.
func (c Config) Validate() error {
	switch {
	case !prefixPattern.MatchString(c.SSMPrefix):
		return fmt.Errorf("ssm_prefix %q: must start and end with / and hold only letters, digits, _ . - between slashes", c.SSMPrefix)
	case reservedPrefix(c.SSMPrefix):
		return fmt.Errorf("ssm_prefix %q: SSM reserves names beginning with aws or ssm", c.SSMPrefix)
	case c.TableName != "" && !tableNamePattern.MatchString(c.TableName):
		return fmt.Errorf("table_name %q: 3 to 255 letters, digits, _ . - expected", c.TableName)
	case !secretNamePattern.MatchString(c.SecretName):
		return fmt.Errorf("secret_name %q: 1 to 512 letters, digits or /_+=.@- expected", c.SecretName)
	case c.AlarmEmail != "" && !emailPattern.MatchString(c.AlarmEmail):
		return fmt.Errorf("alarm_email %q: not an email address", c.AlarmEmail)
	case c.AlarmTopicARN != "" && !topicARNPattern.MatchString(c.AlarmTopicARN):
		return fmt.Errorf("alarm_topic_arn %q: not an SNS topic ARN", c.AlarmTopicARN)
	case !validRetention(c.LogRetentionDays):
		return fmt.Errorf("log_retention_days %d: CloudWatch Logs accepts only %v", c.LogRetentionDays, retentionDays)
	case c.PollerMemoryMB < 128 || c.PollerMemoryMB > 10240:
		return fmt.Errorf("poller_memory_mb %d: 128 to 10240 expected", c.PollerMemoryMB)
	case c.PollerReservedConcurrency < 0 || c.PollerReservedConcurrency > 10:
		return fmt.Errorf("poller_reserved_concurrency %d: 0 (none reserved) to 10 expected", c.PollerReservedConcurrency)
	case c.ReconcileReservedConcurrency < 0 || c.ReconcileReservedConcurrency > 10:
		return fmt.Errorf("reconcile_reserved_concurrency %d: 0 (none reserved) to 10 expected", c.ReconcileReservedConcurrency)
	case c.AlarmPollMissedMinutes < 2 || c.AlarmPollMissedMinutes > 1440:
		return fmt.Errorf("alarm_poll_missed_minutes %d: 2 to 1440 expected", c.AlarmPollMissedMinutes)
	case c.AlarmWebhookRefusals < 1:
		return fmt.Errorf("alarm_webhook_refusals %d: at least 1 expected", c.AlarmWebhookRefusals)
	case c.AlarmBacklog < 1:
		return fmt.Errorf("alarm_backlog %d: at least 1 expected", c.AlarmBacklog)
	}
	if err := validSchedule(c.PollerSchedule); err != nil {
		return fmt.Errorf("poller_schedule: %w", err)
	}
	if err := validSchedule(c.ReconcileSchedule); err != nil {
		return fmt.Errorf("reconcile_schedule: %w", err)
	}
	if m, ok := rateMinutes(c.PollerSchedule); ok && c.AlarmPollMissedMinutes <= m {
		return fmt.Errorf("alarm_poll_missed_minutes %d: must exceed the poller interval of %d minutes or the alarm fires between runs", c.AlarmPollMissedMinutes, m)
	}
	return nil
}

// parameterValues turns the parameters mapping into name → value, taking
// each scalar literally (true, 2m and 0 stay as written) and joining
// sequences with commas.
func parameterValues(nodes map[string]yaml.Node) (map[string]string, error) {
	known := make(map[string]bool, len(ParameterNames))
	for _, n := range ParameterNames {
		known[n] = true
	}
	out := make(map[string]string, len(nodes)+1)
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if !known[name] {
			return nil, fmt.Errorf("parameters.%s: unknown parameter (names are relative to ssm_prefix; see oncallgate.example.yaml for the list)", name)
		}
		node := nodes[name]
		var value string
		switch node.Kind {
		case yaml.ScalarNode:
			if node.Tag == "!!null" {
				return nil, fmt.Errorf("parameters.%s: empty value (omit the parameter to use its default)", name)
			}
			value = node.Value
		case yaml.SequenceNode:
			items := make([]string, 0, len(node.Content))
			for _, item := range node.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("parameters.%s: a list may hold only plain values", name)
				}
				items = append(items, item.Value)
			}
			value = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("parameters.%s: a plain value or a list expected (write nested names with slashes, e.g. pagerduty/auto_approval/enabled)", name)
		}
		if strings.TrimSpace(value) == "" {
			return nil, fmt.Errorf("parameters.%s: empty value (SSM rejects empty parameters; omit it to use the default)", name)
		}
		if len(value) > 4096 {
			return nil, fmt.Errorf("parameters.%s: %d characters, a standard SSM parameter holds at most 4096", name, len(value))
		}
		out[name] = value
	}
	return out, nil
}

func validSchedule(expr string) error {
	if m := ratePattern.FindStringSubmatch(expr); m != nil {
		if (m[1] == "1") != !strings.HasSuffix(m[2], "s") {
			return fmt.Errorf("%q: EventBridge wants the singular unit for 1 and the plural otherwise", expr)
		}
		return nil
	}
	if cronPattern.MatchString(expr) {
		return nil
	}
	return fmt.Errorf("%q: rate(<n> <unit>) or cron(<6 fields>) expected", expr)
}

// rateMinutes returns the interval of a rate() expression in minutes.
func rateMinutes(expr string) (int, bool) {
	m := ratePattern.FindStringSubmatch(expr)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, false
	}
	switch strings.TrimSuffix(m[2], "s") {
	case "hour":
		n *= 60
	case "day":
		n *= 24 * 60
	}
	return n, true
}

func reservedPrefix(prefix string) bool {
	first := strings.ToLower(strings.SplitN(strings.TrimPrefix(prefix, "/"), "/", 2)[0])
	return strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm")
}

func validRetention(days int) bool {
	for _, d := range retentionDays {
		if d == days {
			return true
		}
	}
	return false
}

func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func num(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
