package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// Each synth costs seconds, so every configuration is synthesized once per
// test binary and its template shared by the tests that look at it.

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthesized{}
	tempDirs   []string
)

// synthesized is one stack's template, as the assertions library sees it
// and as plain JSON values for checks the matchers cannot express.
type synthesized struct {
	cfg       Config
	assertion assertions.Template
	json      map[string]any
}

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := m.Run()
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	jsii.Close()
	os.Exit(code)
}

func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "oncallgate-cdk-test-")
	if err != nil {
		t.Fatal(err)
	}
	tempDirs = append(tempDirs, d)
	return d
}

// placeholderLambdaDir makes the asset directories with a tiny bootstrap, so
// tests do not need the real linux/arm64 binaries.
func placeholderLambdaDir(t *testing.T) string {
	t.Helper()
	dir := tempDir(t)
	for _, spec := range allFunctions() {
		if err := os.MkdirAll(filepath.Join(dir, spec.Name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, spec.Name, codeFile), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func allFunctions() []FunctionSpec {
	return []FunctionSpec{Functions.Poller, Functions.Webhook, Functions.Reconcile}
}

// synth returns the template of the stack for the config document doc,
// synthesizing it the first time.
func synth(t *testing.T, name, doc string) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[name]; ok {
		return s
	}
	cfg, err := ParseConfig([]byte(doc))
	if err != nil {
		t.Fatalf("config %s: %v", name, err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(tempDir(t))})
	stack, err := NewStack(app, "Oncallgate", &StackProps{Config: cfg, LambdaDir: placeholderLambdaDir(t)})
	if err != nil {
		t.Fatalf("NewStack(%s): %v", name, err)
	}
	tpl := assertions.Template_FromStack(stack.Stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s := &synthesized{cfg: cfg, assertion: tpl, json: m}
	synthCache[name] = s
	return s
}

// exampleConfig is the documented example file.
func exampleConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../oncallgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// customConfig changes every deployment choice from its default.
const customConfig = `
ssm_prefix: /team/oncallgate/
table_name: oncallgate-prod
deletion_protection: false
poller_schedule: rate(2 minutes)
reconcile_schedule: rate(1 hour)
secret_name: team/oncallgate
alarm_email: platform@example.com
alarm_topic_arn: arn:aws:sns:eu-west-1:123456789012:ops-alerts
log_retention_days: 90
poller_reserved_concurrency: 0
poller_memory_mb: 128
reconcile_reserved_concurrency: 0
alarm_poll_missed_minutes: 10
alarm_webhook_refusals: 25
alarm_backlog: 40
parameters:
  teleport/address: teleport.internal:3025
  providers: [pagerduty, opsgenie]
  pagerduty/from_email: bot@example.com
  pagerduty/auto_approval/enabled: false
  pagerduty/auto_approval/max_escalation_level: 1
  opsgenie/api_url: eu
  poller/claim_lease: 3m
`

func defaultStack(t *testing.T) *synthesized { return synth(t, "example", exampleConfig(t)) }
func customStack(t *testing.T) *synthesized  { return synth(t, "custom", customConfig) }

// assert runs an assertions matcher, turning the jsii panic it raises on a
// mismatch into a test error.
func assert(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// resources returns the template's resources of type typ by logical ID.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func (s *synthesized) resource(t *testing.T, id string) map[string]any {
	t.Helper()
	r, ok := s.json["Resources"].(map[string]any)[id].(map[string]any)
	if !ok {
		t.Fatalf("resource %s missing", id)
	}
	return r
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// canonical renders v as compact JSON for comparisons and messages.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// strs turns a policy's Action (a string or a list) into a sorted list.
func strs(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = []string{x}
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	}
	sort.Strings(out)
	return out
}

// list turns a value that may be one item or a list into a list.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
