package main

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// samTemplate is template.yaml with CloudFormation short tags (!Ref,
// !GetAtt, !Sub...) turned into their JSON form, so it compares with the
// CDK output.
func samTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	v, err := cfnValue(root.Content[0])
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return v.(map[string]any)
}

func cfnValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			v = f
		case "!!bool":
			v = n.Value == "true"
		case "!!null":
			v = nil
		default:
			v = n.Value
		}
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: CloudFormation does not take YAML aliases", n.Line)
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	switch fn := strings.TrimPrefix(n.Tag, "!"); fn {
	case "Ref", "Condition":
		return map[string]any{fn: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			resource, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{resource, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + fn: v}, nil
	}
}

// TestSAMTemplateMatchesCDKStack keeps template.yaml and the CDK stack in
// step on everything a function's behaviour depends on.
func TestSAMTemplateMatchesCDKStack(t *testing.T) {
	sam := samTemplate(t)
	cdk := defaultStack(t)
	if sam["Transform"] != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %v", sam["Transform"])
	}
	samRes := sam["Resources"].(map[string]any)
	globals := sam["Globals"].(map[string]any)["Function"].(map[string]any)
	cdkSchedules := scheduleTargets(cdk)

	for _, spec := range allFunctions() {
		t.Run(spec.LogicalID, func(t *testing.T) {
			res, ok := samRes[spec.LogicalID].(map[string]any)
			if !ok || res["Type"] != "AWS::Serverless::Function" {
				t.Fatalf("template.yaml has no AWS::Serverless::Function %s", spec.LogicalID)
			}
			if bm := res["Metadata"].(map[string]any)["BuildMethod"]; bm != "makefile" {
				t.Errorf("BuildMethod = %v, want makefile (Makefile target build-%s)", bm, spec.LogicalID)
			}
			p := map[string]any{}
			for k, v := range globals {
				p[k] = v
			}
			for k, v := range props(res) {
				p[k] = v
			}
			c := props(cdk.resource(t, spec.LogicalID))
			for _, k := range []string{"Handler", "Runtime", "Architectures", "MemorySize", "Timeout"} {
				if !reflect.DeepEqual(p[k], c[k]) {
					t.Errorf("%s: SAM %s, CDK %s", k, canonical(p[k]), canonical(c[k]))
				}
			}
			if p["CodeUri"] != "." {
				t.Errorf("CodeUri = %v, want . (the Makefile at the root builds it)", p["CodeUri"])
			}
			samEnv := sortedKeys(p["Environment"].(map[string]any)["Variables"].(map[string]any))
			cdkEnv := sortedKeys(c["Environment"].(map[string]any)["Variables"].(map[string]any))
			if !reflect.DeepEqual(samEnv, cdkEnv) {
				t.Errorf("environment keys: SAM %v, CDK %v", samEnv, cdkEnv)
			}
			samReserved := p["ReservedConcurrentExecutions"]
			if cond, ok := samReserved.(map[string]any); ok {
				samReserved = cond["Fn::If"].([]any)[1] // the value when reserving (the default)
			}
			if !reflect.DeepEqual(samReserved, c["ReservedConcurrentExecutions"]) {
				t.Errorf("reserved concurrency: SAM %v, CDK %v", canonical(p["ReservedConcurrentExecutions"]), c["ReservedConcurrentExecutions"])
			}

			var samSchedule string
			for _, ev := range mapOrEmpty(p["Events"]) {
				e := ev.(map[string]any)
				if e["Type"] == "Schedule" {
					samSchedule = e["Properties"].(map[string]any)["Schedule"].(string)
				}
			}
			if samSchedule != cdkSchedules[spec.LogicalID] {
				t.Errorf("schedule: SAM %q, CDK %q", samSchedule, cdkSchedules[spec.LogicalID])
			}

			roleID := p["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			samActions := statementActions(props(samRes[roleID].(map[string]any)))
			cdkRole := c["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			cdkActions := statementActions(props(cdk.resource(t, cdkRole)))
			if !reflect.DeepEqual(samActions, cdkActions) {
				t.Errorf("role permissions: SAM %v, CDK %v", samActions, cdkActions)
			}
		})
	}

	t.Run("webhook URL", func(t *testing.T) {
		urlCfg := props(samRes["WebhookFunction"].(map[string]any))["FunctionUrlConfig"].(map[string]any)
		for _, u := range cdk.resources("AWS::Lambda::Url") {
			for _, k := range []string{"AuthType", "InvokeMode"} {
				if urlCfg[k] != props(u)[k] {
					t.Errorf("%s: SAM %v, CDK %v", k, urlCfg[k], props(u)[k])
				}
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		samTable := props(samRes["Table"].(map[string]any))
		cdkTable := props(cdk.resource(t, "Table"))
		for _, k := range []string{"BillingMode", "KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "TimeToLiveSpecification", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled"} {
			if !reflect.DeepEqual(samTable[k], cdkTable[k]) {
				t.Errorf("%s: SAM %s, CDK %s", k, canonical(samTable[k]), canonical(cdkTable[k]))
			}
		}
		if r := samRes["Table"].(map[string]any)["DeletionPolicy"]; r != "Retain" {
			t.Errorf("SAM table DeletionPolicy = %v", r)
		}
	})

	t.Run("secret and outputs", func(t *testing.T) {
		sec := props(samRes["Secret"].(map[string]any))
		if sec["SecretString"] != "{}" {
			t.Errorf("SAM secret value = %v, want the placeholder {}", sec["SecretString"])
		}
		if def := sam["Parameters"].(map[string]any)["SecretName"].(map[string]any)["Default"]; def != DefaultSecretName {
			t.Errorf("SAM SecretName default = %v", def)
		}
		if def := sam["Parameters"].(map[string]any)["SsmPrefix"].(map[string]any)["Default"]; def != DefaultSSMPrefix {
			t.Errorf("SAM SsmPrefix default = %v", def)
		}
		samOut, cdkOut := sortedKeys(sam["Outputs"].(map[string]any)), sortedKeys(cdk.json["Outputs"].(map[string]any))
		if !reflect.DeepEqual(samOut, cdkOut) {
			t.Errorf("outputs: SAM %v, CDK %v", samOut, cdkOut)
		}
	})
}

// statementActions maps each statement's Sid to its sorted actions.
func statementActions(role map[string]any) map[string]string {
	out := map[string]string{}
	for _, pol := range list(role["Policies"]) {
		doc := pol.(map[string]any)["PolicyDocument"].(map[string]any)
		for _, st := range list(doc["Statement"]) {
			m := st.(map[string]any)
			out[fmt.Sprint(m["Sid"])] = strings.Join(strs(m["Action"]), ",")
		}
	}
	return out
}

func mapOrEmpty(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
