package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestTableMatchesStoreLayout(t *testing.T) {
	for _, tc := range []struct {
		name               string
		stack              func(*testing.T) *synthesized
		deletionProtection bool
		tableName          any
	}{
		{"default config protects the table", defaultStack, true, nil},
		{"deletion protection can be switched off and the name chosen", customStack, false, "oncallgate-prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stack(t)
			assert(t, "one table", func() { s.assertion.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1)) })
			assert(t, "table schema", func() {
				s.assertion.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
					"BillingMode": "PAY_PER_REQUEST",
					"KeySchema": []any{
						map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
						map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
					},
					"AttributeDefinitions": assertions.Match_ArrayWith(&[]any{
						map[string]any{"AttributeName": "pk", "AttributeType": "S"},
						map[string]any{"AttributeName": "sk", "AttributeType": "S"},
						map[string]any{"AttributeName": "gsi1pk", "AttributeType": "S"},
						map[string]any{"AttributeName": "gsi1sk", "AttributeType": "S"},
					}),
					"GlobalSecondaryIndexes": []any{map[string]any{
						"IndexName": "open-index",
						"KeySchema": []any{
							map[string]any{"AttributeName": "gsi1pk", "KeyType": "HASH"},
							map[string]any{"AttributeName": "gsi1sk", "KeyType": "RANGE"},
						},
						"Projection": map[string]any{"ProjectionType": "ALL"},
					}},
					"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires_at", "Enabled": true},
					"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
					"DeletionProtectionEnabled":        tc.deletionProtection,
				})
			})
			table := s.resource(t, "Table")
			if table["DeletionPolicy"] != "Retain" || table["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("table policies = %v/%v, want Retain/Retain", table["DeletionPolicy"], table["UpdateReplacePolicy"])
			}
			if got := props(table)["TableName"]; !reflect.DeepEqual(got, tc.tableName) {
				t.Errorf("TableName = %v, want %v", got, tc.tableName)
			}
			if n := len(props(table)["AttributeDefinitions"].([]any)); n != 4 {
				t.Errorf("%d attribute definitions, want the 4 key attributes only", n)
			}
		})
	}
}

func TestFunctionsRuntimeSizeAndEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stack    func(*testing.T) *synthesized
		prefix   string
		reserved map[string]any // logical ID → ReservedConcurrentExecutions (nil: absent)
		pollerMB int
	}{
		{"default config reserves concurrency for the scheduled functions", defaultStack, "/oncallgate/",
			map[string]any{"PollerFunction": 2.0, "WebhookFunction": nil, "ReconcileFunction": 1.0}, 256},
		{"custom config reserves nothing, poller at 128 MB", customStack, "/team/oncallgate/",
			map[string]any{"PollerFunction": nil, "WebhookFunction": nil, "ReconcileFunction": nil}, 128},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stack(t)
			if n := len(s.resources("AWS::Lambda::Function")); n != 3 {
				t.Fatalf("%d functions, want 3", n)
			}
			for _, spec := range allFunctions() {
				t.Run(spec.Name, func(t *testing.T) {
					p := props(s.resource(t, spec.LogicalID))
					if spec.LogicalID == Functions.Poller.LogicalID {
						spec.MemoryMB = tc.pollerMB
					}
					want := map[string]any{
						"Runtime":       "provided.al2023",
						"Architectures": []any{"arm64"},
						"Handler":       "bootstrap",
						"MemorySize":    float64(spec.MemoryMB),
						"Timeout":       spec.Timeout.Seconds(),
					}
					for k, v := range want {
						if !reflect.DeepEqual(p[k], v) {
							t.Errorf("%s = %v, want %v", k, canonical(p[k]), canonical(v))
						}
					}
					env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
					if got := sortedKeys(env); !reflect.DeepEqual(got, []string{EnvSSMPrefix, EnvTable}) {
						t.Errorf("environment keys = %v, want exactly %s and %s", got, EnvSSMPrefix, EnvTable)
					}
					if env[EnvSSMPrefix] != tc.prefix {
						t.Errorf("%s = %v, want %s", EnvSSMPrefix, env[EnvSSMPrefix], tc.prefix)
					}
					if canonical(env[EnvTable]) != `{"Ref":"Table"}` {
						t.Errorf("%s = %s, want the table's name", EnvTable, canonical(env[EnvTable]))
					}
					if got := p["ReservedConcurrentExecutions"]; !reflect.DeepEqual(got, tc.reserved[spec.LogicalID]) {
						t.Errorf("ReservedConcurrentExecutions = %v, want %v", got, tc.reserved[spec.LogicalID])
					}
				})
			}
		})
	}
}

func TestScheduledFunctionsAreNotRetried(t *testing.T) {
	s := defaultStack(t)
	configs := s.resources("AWS::Lambda::EventInvokeConfig")
	retried := map[string]bool{}
	for _, c := range configs {
		p := props(c)
		if p["MaximumRetryAttempts"] != 0.0 {
			t.Errorf("EventInvokeConfig %s retries %v times, want 0", canonical(p["FunctionName"]), p["MaximumRetryAttempts"])
		}
		retried[canonical(p["FunctionName"])] = true
	}
	for _, id := range []string{"PollerFunction", "ReconcileFunction"} {
		if !retried[`{"Ref":"`+id+`"}`] {
			t.Errorf("%s has no EventInvokeConfig (async retries would overlap the next run)", id)
		}
	}
}

func TestLogGroupsHaveRetention(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack func(*testing.T) *synthesized
		days  float64
	}{
		{"default 30 days", defaultStack, 30},
		{"configured 90 days", customStack, 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stack(t)
			groups := s.resources("AWS::Logs::LogGroup")
			if len(groups) != 3 {
				t.Fatalf("%d log groups, want one per function", len(groups))
			}
			for _, spec := range allFunctions() {
				lc, _ := props(s.resource(t, spec.LogicalID))["LoggingConfig"].(map[string]any)
				ref, _ := lc["LogGroup"].(map[string]any)["Ref"].(string)
				g, ok := groups[ref]
				if !ok {
					t.Errorf("%s logs to %s, not to one of the stack's log groups", spec.LogicalID, canonical(lc))
					continue
				}
				if got := props(g)["RetentionInDays"]; got != tc.days {
					t.Errorf("%s log group retention = %v, want %v", spec.LogicalID, got, tc.days)
				}
			}
		})
	}
}

func TestSchedulesInvokeTheirFunctions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack func(*testing.T) *synthesized
		want  map[string]string // function logical ID → schedule
	}{
		{"defaults", defaultStack, map[string]string{"PollerFunction": "rate(1 minute)", "ReconcileFunction": "rate(15 minutes)"}},
		{"from config", customStack, map[string]string{"PollerFunction": "rate(2 minutes)", "ReconcileFunction": "rate(1 hour)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scheduleTargets(tc.stack(t))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("schedules = %v, want %v", got, tc.want)
			}
		})
	}
}

// scheduleTargets maps each scheduled function's logical ID to its rule's
// expression.
func scheduleTargets(s *synthesized) map[string]string {
	out := map[string]string{}
	for _, r := range s.resources("AWS::Events::Rule") {
		p := props(r)
		for _, target := range p["Targets"].([]any) {
			arn := target.(map[string]any)["Arn"].(map[string]any)["Fn::GetAtt"].([]any)
			out[arn[0].(string)] = p["ScheduleExpression"].(string)
		}
	}
	return out
}

func TestWebhookHasPublicStreamingURL(t *testing.T) {
	s := defaultStack(t)
	urls := s.resources("AWS::Lambda::Url")
	if len(urls) != 1 {
		t.Fatalf("%d function URLs, want 1", len(urls))
	}
	var urlID string
	for id, u := range urls {
		urlID = id
		p := props(u)
		if p["AuthType"] != "NONE" || p["InvokeMode"] != "RESPONSE_STREAM" {
			t.Errorf("URL auth/invoke mode = %v/%v, want NONE/RESPONSE_STREAM", p["AuthType"], p["InvokeMode"])
		}
		if canonical(p["TargetFunctionArn"]) != `{"Fn::GetAtt":["WebhookFunction","Arn"]}` {
			t.Errorf("URL targets %s, want the webhook function", canonical(p["TargetFunctionArn"]))
		}
	}
	out := s.json["Outputs"].(map[string]any)["WebhookUrl"].(map[string]any)
	if canonical(out["Value"]) != `{"Fn::GetAtt":["`+urlID+`","FunctionUrl"]}` {
		t.Errorf("WebhookUrl output = %s", canonical(out["Value"]))
	}
	var public []string
	for _, perm := range s.resources("AWS::Lambda::Permission") {
		p := props(perm)
		if p["Principal"] != "*" {
			continue
		}
		public = append(public, canonical(p["FunctionName"])+" "+p["Action"].(string))
		if canonical(p["FunctionName"]) != `{"Fn::GetAtt":["WebhookFunction","Arn"]}` {
			t.Errorf("public permission on %s", canonical(p["FunctionName"]))
		}
		if p["FunctionUrlAuthType"] != "NONE" && p["InvokedViaFunctionUrl"] != true {
			t.Errorf("public permission %s is not limited to the function URL", canonical(p))
		}
	}
	if len(public) != 2 {
		t.Errorf("public permissions = %v, want InvokeFunctionUrl and InvokeFunction via the URL", public)
	}
}

func TestParametersComeFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack func(*testing.T) *synthesized
		want  map[string]string
	}{
		{"example config", defaultStack, map[string]string{
			"/oncallgate/teleport/address":           "teleport.example.com:443",
			"/oncallgate/teleport/proxy_web_address": "teleport.example.com",
			"/oncallgate/providers":                  "pagerduty",
			"/oncallgate/pagerduty/from_email":       "oncallgate-bot@example.com",
			"/oncallgate/secret_id":                  "oncallgate",
		}},
		{"custom config", customStack, map[string]string{
			"/team/oncallgate/teleport/address":                             "teleport.internal:3025",
			"/team/oncallgate/providers":                                    "pagerduty,opsgenie",
			"/team/oncallgate/pagerduty/from_email":                         "bot@example.com",
			"/team/oncallgate/pagerduty/auto_approval/enabled":              "false",
			"/team/oncallgate/pagerduty/auto_approval/max_escalation_level": "1",
			"/team/oncallgate/opsgenie/api_url":                             "eu",
			"/team/oncallgate/poller/claim_lease":                           "3m",
			"/team/oncallgate/secret_id":                                    "team/oncallgate",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, r := range tc.stack(t).resources("AWS::SSM::Parameter") {
				p := props(r)
				if p["Type"] != "String" {
					t.Errorf("parameter %v has type %v, want String", p["Name"], p["Type"])
				}
				got[p["Name"].(string)] = p["Value"].(string)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parameters:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestSecretIsCreatedEmpty(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack func(*testing.T) *synthesized
		want  string
	}{
		{"default name", defaultStack, "oncallgate"},
		{"configured name", customStack, "team/oncallgate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stack(t)
			secrets := s.resources("AWS::SecretsManager::Secret")
			if len(secrets) != 1 {
				t.Fatalf("%d secrets, want 1", len(secrets))
			}
			p := props(s.resource(t, "Secret"))
			if p["Name"] != tc.want || p["SecretString"] != "{}" {
				t.Errorf("secret name/value = %v/%v, want %s/{}", p["Name"], p["SecretString"], tc.want)
			}
			if _, ok := p["GenerateSecretString"]; ok {
				t.Error("secret generates a value; it must hold the operator's document")
			}
			if _, ok := p["KmsKeyId"]; ok {
				t.Error("secret uses a customer key; the roles have no kms grant for it")
			}
			out := s.json["Outputs"].(map[string]any)["SecretArn"].(map[string]any)
			if canonical(out["Value"]) != `{"Ref":"Secret"}` {
				t.Errorf("SecretArn output = %s", canonical(out["Value"]))
			}
		})
	}
}

func TestRolesAreLeastPrivilege(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack func(*testing.T) *synthesized
		path  string
	}{
		{"default prefix", defaultStack, "/oncallgate"},
		{"custom prefix", customStack, "/team/oncallgate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stack(t)
			if extra := s.resources("AWS::IAM::Policy"); len(extra) != 0 {
				t.Errorf("stand-alone IAM policies %v: every permission belongs in the role's inline policy", sortedKeys(extra))
			}
			if n := len(s.resources("AWS::IAM::Role")); n != 3 {
				t.Errorf("%d roles, want one per function", n)
			}
			ssmARN := func(p string) string {
				return `{"Fn::Sub":"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter` + p + `"}`
			}
			for _, spec := range allFunctions() {
				t.Run(spec.Name, func(t *testing.T) {
					fn := props(s.resource(t, spec.LogicalID))
					roleRef := fn["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
					role := props(s.resource(t, roleRef))
					if _, ok := role["ManagedPolicyArns"]; ok {
						t.Errorf("role has managed policies %v (AWSLambdaBasicExecutionRole allows every log group)", role["ManagedPolicyArns"])
					}
					if canonical(role["AssumeRolePolicyDocument"].(map[string]any)["Statement"]) !=
						`[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"}}]` {
						t.Errorf("trust policy = %s, want Lambda only", canonical(role["AssumeRolePolicyDocument"]))
					}
					logGroup := fn["LoggingConfig"].(map[string]any)["LogGroup"].(map[string]any)["Ref"].(string)
					want := map[string]struct{ actions, resources string }{
						"Logs":      {"logs:CreateLogStream,logs:PutLogEvents", `[{"Fn::GetAtt":["` + logGroup + `","Arn"]}]`},
						"Table":     {"dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem", `[{"Fn::GetAtt":["Table","Arn"]}]`},
						"OpenIndex": {"dynamodb:Query", `[{"Fn::Join":["",[{"Fn::GetAtt":["Table","Arn"]},"/index/open-index"]]}]`},
						"Settings":  {"ssm:GetParameter,ssm:GetParametersByPath", "[" + ssmARN(tc.path) + "," + ssmARN(tc.path+"/*") + "]"},
						"Secret":    {"secretsmanager:GetSecretValue", `[{"Ref":"Secret"}]`},
					}
					got := roleStatements(t, role)
					if !reflect.DeepEqual(sortedKeys(got), sortedKeys(want)) {
						t.Fatalf("statements %v, want %v", sortedKeys(got), sortedKeys(want))
					}
					for sid, w := range want {
						if got[sid].actions != w.actions || got[sid].resources != w.resources {
							t.Errorf("statement %s:\n got %s on %s\nwant %s on %s", sid, got[sid].actions, got[sid].resources, w.actions, w.resources)
						}
					}
				})
			}
		})
	}
}

type grant struct{ actions, resources string }

// roleStatements returns the role's inline statements by Sid, failing on a
// Deny, a statement without Sid, a "*" resource or a forbidden action.
func roleStatements(t *testing.T, role map[string]any) map[string]grant {
	t.Helper()
	forbidden := []string{"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*", "ssm:*", "secretsmanager:*", "logs:CreateLogGroup", "*"}
	out := map[string]grant{}
	for _, pol := range list(role["Policies"]) {
		doc := pol.(map[string]any)["PolicyDocument"].(map[string]any)
		for _, st := range list(doc["Statement"]) {
			m := st.(map[string]any)
			sid, _ := m["Sid"].(string)
			if sid == "" || m["Effect"] != "Allow" {
				t.Errorf("unexpected statement %s", canonical(m))
				continue
			}
			actions := strs(m["Action"])
			for _, a := range actions {
				for _, f := range forbidden {
					if a == f {
						t.Errorf("statement %s allows %s", sid, a)
					}
				}
			}
			resources := list(m["Resource"])
			for _, r := range resources {
				if r == "*" {
					t.Errorf("statement %s allows every resource", sid)
				}
			}
			out[sid] = grant{strings.Join(actions, ","), canonical(resources)}
		}
	}
	return out
}

func TestAlarmsNotifyOnlyWhenConfigured(t *testing.T) {
	alarmNames := []string{
		"PollerFunctionErrors", "PollerFunctionThrottles", "WebhookFunctionErrors", "WebhookFunctionThrottles",
		"ReconcileFunctionErrors", "ReconcileFunctionThrottles", alarmPollerNotSucceeding, alarmReconcileRunsFailing, alarmWebhookRefusalSpike, alarmBacklogGrowing,
	}
	t.Run("without alarm_email or alarm_topic_arn no topic and no actions", func(t *testing.T) {
		s := defaultStack(t)
		if n := len(s.resources("AWS::SNS::Topic")); n != 0 {
			t.Errorf("%d SNS topics, want none", n)
		}
		alarms := alarmsByName(s)
		if got := sortedKeys(alarms); !reflect.DeepEqual(got, sortedKeys(setOf(prefixed(alarmNames)))) {
			t.Errorf("alarms = %v, want %v", got, prefixed(alarmNames))
		}
		for name, a := range alarms {
			p := props(a)
			if p["AlarmActions"] != nil || p["OKActions"] != nil {
				t.Errorf("%s has actions %v/%v with nothing configured", name, p["AlarmActions"], p["OKActions"])
			}
		}
	})
	t.Run("with both the created topic and the existing one get every alarm", func(t *testing.T) {
		s := customStack(t)
		topics := s.resources("AWS::SNS::Topic")
		if len(topics) != 1 {
			t.Fatalf("%d SNS topics, want the one for alarm_email", len(topics))
		}
		topicID := sortedKeys(topics)[0]
		subs := s.resources("AWS::SNS::Subscription")
		if len(subs) != 1 {
			t.Fatalf("%d subscriptions, want 1", len(subs))
		}
		for _, sub := range subs {
			p := props(sub)
			if p["Protocol"] != "email" || p["Endpoint"] != "platform@example.com" || canonical(p["TopicArn"]) != `{"Ref":"`+topicID+`"}` {
				t.Errorf("subscription = %s", canonical(p))
			}
		}
		want := `[{"Ref":"` + topicID + `"},"arn:aws:sns:eu-west-1:123456789012:ops-alerts"]`
		alarms := alarmsByName(s)
		if len(alarms) != len(alarmNames) {
			t.Errorf("%d alarms, want %d", len(alarms), len(alarmNames))
		}
		for name, a := range alarms {
			p := props(a)
			if canonical(p["AlarmActions"]) != want || canonical(p["OKActions"]) != want {
				t.Errorf("%s actions = %s / %s, want %s", name, canonical(p["AlarmActions"]), canonical(p["OKActions"]), want)
			}
		}
	})
}

func TestAlarmDefinitions(t *testing.T) {
	type alarm struct {
		namespace, metric, statistic, comparison, missing string
		dimensions                                        string
		period, threshold, periods                        float64
	}
	for _, tc := range []struct {
		name  string
		stack func(*testing.T) *synthesized
		want  map[string]alarm
	}{
		{"defaults", defaultStack, map[string]alarm{
			"PollerFunctionErrors":     {"AWS/Lambda", "Errors", "Sum", "GreaterThanOrEqualToThreshold", "notBreaching", `[{"Name":"FunctionName","Value":{"Ref":"PollerFunction"}}]`, 300, 1, 1},
			"WebhookFunctionThrottles": {"AWS/Lambda", "Throttles", "Sum", "GreaterThanOrEqualToThreshold", "notBreaching", `[{"Name":"FunctionName","Value":{"Ref":"WebhookFunction"}}]`, 300, 1, 1},
			alarmPollerNotSucceeding:   {"Oncallgate", "PollSucceeded", "Sum", "LessThanThreshold", "breaching", `[{"Name":"Function","Value":"poller"}]`, 60, 1, 5},
			alarmWebhookRefusalSpike:   {"Oncallgate", "WebhookRefusals", "Sum", "GreaterThanThreshold", "notBreaching", `[{"Name":"Function","Value":"webhook"}]`, 300, 10, 1},
			alarmBacklogGrowing:        {"Oncallgate", "Backlog", "Maximum", "GreaterThanThreshold", "notBreaching", `[{"Name":"Function","Value":"poller"}]`, 300, 20, 3},
			alarmReconcileRunsFailing:  {"Oncallgate", "Errors", "Sum", "GreaterThanOrEqualToThreshold", "notBreaching", `[{"Name":"Function","Value":"reconcile"}]`, 900, 1, 2},
		}},
		{"thresholds from config", customStack, map[string]alarm{
			"ReconcileFunctionErrors": {"AWS/Lambda", "Errors", "Sum", "GreaterThanOrEqualToThreshold", "notBreaching", `[{"Name":"FunctionName","Value":{"Ref":"ReconcileFunction"}}]`, 300, 1, 1},
			alarmPollerNotSucceeding:  {"Oncallgate", "PollSucceeded", "Sum", "LessThanThreshold", "breaching", `[{"Name":"Function","Value":"poller"}]`, 60, 1, 10},
			alarmWebhookRefusalSpike:  {"Oncallgate", "WebhookRefusals", "Sum", "GreaterThanThreshold", "notBreaching", `[{"Name":"Function","Value":"webhook"}]`, 300, 25, 1},
			alarmBacklogGrowing:       {"Oncallgate", "Backlog", "Maximum", "GreaterThanThreshold", "notBreaching", `[{"Name":"Function","Value":"poller"}]`, 300, 40, 3},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alarms := alarmsByName(tc.stack(t))
			for name, w := range tc.want {
				a, ok := alarms["Oncallgate-"+name]
				if !ok {
					t.Errorf("alarm %s missing", name)
					continue
				}
				p := props(a)
				got := alarm{
					namespace: str0(p["Namespace"]), metric: str0(p["MetricName"]), statistic: str0(p["Statistic"]),
					comparison: str0(p["ComparisonOperator"]), missing: str0(p["TreatMissingData"]),
					dimensions: canonical(p["Dimensions"]),
					period:     num0(p["Period"]), threshold: num0(p["Threshold"]), periods: num0(p["EvaluationPeriods"]),
				}
				if got != w {
					t.Errorf("%s:\n got %+v\nwant %+v", name, got, w)
				}
			}
		})
	}
}

func TestDashboardShowsEveryMetric(t *testing.T) {
	s := defaultStack(t)
	boards := s.resources("AWS::CloudWatch::Dashboard")
	if len(boards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(boards))
	}
	for _, b := range boards {
		body := canonical(props(b)["DashboardBody"])
		for _, m := range []string{
			metricRequestsSeen, metricAlertsCreated, metricAlertsResolved, metricAutoApprovals, metricAutoRefusals,
			metricHookDecisions, metricHookRefusals, metricPollDuration, metricBacklog, metricPollSucceeded, metricRepairs,
			metricWatchChanges, metricWatchRestarts,
			`MetricName=\\\"Errors\\\"`, `\"Invocations\"`, `\"Throttles\"`, `\"Duration\"`, `alarm`,
		} {
			if !strings.Contains(body, m) {
				t.Errorf("dashboard does not show %s", m)
			}
		}
	}
}

func TestOutputs(t *testing.T) {
	s := customStack(t)
	outs := s.json["Outputs"].(map[string]any)
	for _, name := range []string{"WebhookUrl", "TableName", "SecretArn", "SsmPrefix"} {
		if _, ok := outs[name]; !ok {
			t.Errorf("output %s missing", name)
		}
	}
	if v := outs["SsmPrefix"].(map[string]any)["Value"]; v != "/team/oncallgate/" {
		t.Errorf("SsmPrefix output = %v", v)
	}
	if v := canonical(outs["TableName"].(map[string]any)["Value"]); v != `{"Ref":"Table"}` {
		t.Errorf("TableName output = %v", v)
	}
}

func TestMissingBinariesFailClearly(t *testing.T) {
	err := CheckLambdaDir(tempDir(t))
	if err == nil || !strings.Contains(err.Error(), "make build-lambdas") {
		t.Fatalf("CheckLambdaDir(empty dir) = %v, want an error naming make build-lambdas", err)
	}
}

func alarmsByName(s *synthesized) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		out[props(a)["AlarmName"].(string)] = a
	}
	return out
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "Oncallgate-" + n
	}
	return out
}

func setOf(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func str0(v any) string {
	s, _ := v.(string)
	return s
}

func num0(v any) float64 {
	f, _ := v.(float64)
	return f
}
