package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestEmptyConfigGetsDefaults(t *testing.T) {
	for _, doc := range []string{"", "{}", "parameters: {}\n"} {
		cfg, err := ParseConfig([]byte(doc))
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", doc, err)
		}
		want := Config{
			SSMPrefix: DefaultSSMPrefix, DeletionProtection: true,
			PollerSchedule: DefaultPollerSchedule, ReconcileSchedule: DefaultReconcileSchedule,
			SecretName: DefaultSecretName, LogRetentionDays: DefaultLogRetentionDays,
			PollerReservedConcurrency: DefaultPollerReservedConcurrency, ReconcileReservedConcurrency: DefaultReconcileReservedConcurrency,
			AlarmPollMissedMinutes: DefaultAlarmPollMissedMinutes, AlarmWebhookRefusals: DefaultAlarmWebhookRefusals,
			AlarmBacklog: DefaultAlarmBacklog, PollerMemoryMB: DefaultPollerMemoryMB,
			Parameters: map[string]string{"secret_id": DefaultSecretName},
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("ParseConfig(%q) =\n%+v\nwant\n%+v", doc, cfg, want)
		}
	}
}

func TestConfigAcceptsJSON(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"ssm_prefix": "/x/", "deletion_protection": false, "parameters": {"providers": "opsgenie", "poller/concurrency": 4}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SSMPrefix != "/x/" || cfg.DeletionProtection || cfg.Parameters["providers"] != "opsgenie" || cfg.Parameters["poller/concurrency"] != "4" {
		t.Errorf("config = %+v", cfg)
	}
}

func TestParameterValuesAreTakenLiterally(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
parameters:
  pagerduty/auto_approval/enabled: false
  pagerduty/auto_approval/max_escalation_level: 01
  poller/claim_lease: 2m
  providers: [pagerduty, jsm]
  webhook/approvers: "alice@example.com,bob@example.com"
  opsgenie/priority: "P1"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pagerduty/auto_approval/enabled":              "false",
		"pagerduty/auto_approval/max_escalation_level": "01",
		"poller/claim_lease":                           "2m",
		"providers":                                    "pagerduty,jsm",
		"webhook/approvers":                            "alice@example.com,bob@example.com",
		"opsgenie/priority":                            "P1",
		"secret_id":                                    "oncallgate",
	}
	if !reflect.DeepEqual(cfg.Parameters, want) {
		t.Errorf("parameters = %v, want %v", cfg.Parameters, want)
	}
}

func TestBadConfigIsRejectedNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown key", "ssm_prefx: /x/\n", "ssm_prefx"},
		{"prefix without trailing slash", "ssm_prefix: /oncallgate\n", "ssm_prefix"},
		{"prefix reserved by SSM", "ssm_prefix: /aws/oncallgate/\n", "reserves"},
		{"table name too short", "table_name: ab\n", "table_name"},
		{"bad schedule", "poller_schedule: every minute\n", "poller_schedule"},
		{"plural unit for one", "poller_schedule: rate(1 minutes)\n", "singular"},
		{"singular unit for many", "reconcile_schedule: rate(15 minute)\n", "reconcile_schedule"},
		{"retention CloudWatch refuses", "log_retention_days: 31\n", "log_retention_days"},
		{"negative reserved concurrency", "poller_reserved_concurrency: -1\n", "poller_reserved_concurrency"},
		{"poller memory below Lambda's minimum", "poller_memory_mb: 64\n", "poller_memory_mb"},
		{"alarm window shorter than the poll interval", "poller_schedule: rate(10 minutes)\nalarm_poll_missed_minutes: 5\n", "alarm_poll_missed_minutes"},
		{"bad email", "alarm_email: nobody\n", "alarm_email"},
		{"bad topic", "alarm_topic_arn: ops-alerts\n", "alarm_topic_arn"},
		{"misspelt parameter", "parameters:\n  pagerduty/auto_aproval/enabled: false\n", "pagerduty/auto_aproval/enabled"},
		{"nested parameter mapping", "parameters:\n  pagerduty:\n    urgency: low\n", "parameters.pagerduty"},
		{"empty parameter", "parameters:\n  webhook/approvers: \"\"\n", "empty"},
		{"null parameter", "parameters:\n  webhook/approvers:\n", "empty"},
		{"secret_id disagreeing with the secret", "parameters:\n  secret_id: other\n", "secret_name"},
		{"not YAML", "ssm_prefix: [\n", "parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseConfig(%q) = %v, want an error mentioning %q", tc.doc, err, tc.want)
			}
		})
	}
}

func TestExampleConfigDocumentsEveryParameter(t *testing.T) {
	doc := exampleConfig(t)
	if _, err := ParseConfig([]byte(doc)); err != nil {
		t.Fatalf("oncallgate.example.yaml: %v", err)
	}
	for _, name := range ParameterNames {
		if !strings.Contains(doc, name+":") {
			t.Errorf("oncallgate.example.yaml does not mention parameter %s", name)
		}
	}
	for _, key := range yamlKeys(reflect.TypeOf(fileConfig{})) {
		if !strings.Contains(doc, "\n"+key+":") {
			t.Errorf("oncallgate.example.yaml does not document %s", key)
		}
	}
}

// TestParameterNamesMatchConfigPackage keeps ParameterNames equal to the
// list the functions read (internal/config.Parameters). This module cannot
// import that package, so the test reads its source.
func TestParameterNamesMatchConfigPackage(t *testing.T) {
	const src = "../../internal/config/params.go"
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok || len(spec.Names) != 1 || spec.Names[0].Name != "Parameters" || len(spec.Values) != 1 {
			return true
		}
		lit, ok := spec.Values[0].(*ast.CompositeLit)
		if !ok {
			t.Fatalf("%s: Parameters is not a composite literal", src)
		}
		for _, elt := range lit.Elts {
			entry, ok := elt.(*ast.CompositeLit)
			if !ok || len(entry.Elts) == 0 {
				t.Fatalf("%s: unexpected Parameters entry", src)
			}
			first := entry.Elts[0]
			if kv, ok := first.(*ast.KeyValueExpr); ok {
				first = kv.Value
			}
			bl, ok := first.(*ast.BasicLit)
			if !ok || bl.Kind != token.STRING {
				t.Fatalf("%s: a Parameters entry does not start with a string name", src)
			}
			name, err := strconv.Unquote(bl.Value)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		return false
	})
	if len(names) == 0 {
		t.Fatalf("%s: no Parameters found", src)
	}
	sort.Strings(names)
	ours := append([]string(nil), ParameterNames...)
	sort.Strings(ours)
	if !reflect.DeepEqual(ours, names) {
		t.Errorf("ParameterNames differ from internal/config.Parameters:\n ours %v\n them %v", ours, names)
	}
}

func TestConfigPathFallsBackToExample(t *testing.T) {
	t.Run("context wins", func(t *testing.T) {
		if got, _ := configPath("x.yaml"); got != "x.yaml" {
			t.Errorf("configPath = %s", got)
		}
	})
	t.Run("example when oncallgate.yaml is absent", func(t *testing.T) {
		dir := tempDir(t)
		if err := os.MkdirAll(dir+"/a/b", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir + "/a/b")
		if got, _ := configPath(""); got != exampleConfigPath {
			t.Errorf("configPath = %s, want %s", got, exampleConfigPath)
		}
		if err := os.WriteFile(dir+"/oncallgate.yaml", []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, _ := configPath(""); got != defaultConfigPath {
			t.Errorf("configPath = %s, want %s", got, defaultConfigPath)
		}
	})
}

func yamlKeys(typ reflect.Type) []string {
	var keys []string
	for i := 0; i < typ.NumField(); i++ {
		if tag := typ.Field(i).Tag.Get("yaml"); tag != "" && tag != "parameters" {
			keys = append(keys, strings.Split(tag, ",")[0])
		}
	}
	return keys
}
