package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Names shared by the functions' code, this stack and template.yaml.
const (
	// EnvSSMPrefix and EnvTable are the only environment variables the
	// functions get.
	EnvSSMPrefix = "ONCALLGATE_SSM_PREFIX"
	EnvTable     = "ONCALLGATE_TABLE"

	// Table layout (internal/store declares the same).
	tablePK      = "pk"
	tableSK      = "sk"
	openIndex    = "open-index"
	openIndexPK  = "gsi1pk"
	openIndexSK  = "gsi1sk"
	ttlAttribute = "expires_at"

	// MetricNamespace and the metric names the functions emit in Embedded
	// Metric Format (internal/metrics declares the same), with the
	// dimension Function=<FunctionSpec.Name>.
	MetricNamespace      = "Oncallgate"
	dimFunction          = "Function"
	metricRequestsSeen   = "RequestsSeen"
	metricAlertsCreated  = "AlertsCreated"
	metricAlertsResolved = "AlertsResolved"
	metricAutoApprovals  = "AutoApprovals"
	metricAutoRefusals   = "AutoApprovalRefusals"
	metricHookDecisions  = "WebhookDecisions"
	metricHookRefusals   = "WebhookRefusals"
	metricErrors         = "Errors"
	metricPollDuration   = "PollDurationMs"
	metricBacklog        = "Backlog"
	metricPollSucceeded  = "PollSucceeded"
	metricRepairs        = "Repairs"
	metricWatchChanges   = "WatchChanges"
	metricWatchRestarts  = "WatchRestarts"

	// codeFile is the executable every function's asset directory holds.
	codeFile = "bootstrap"
)

// FunctionSpec is what the stack and template.yaml must agree on for one
// function.
type FunctionSpec struct {
	// LogicalID is the CloudFormation logical ID (same in template.yaml).
	LogicalID string
	// Name is the directory under functions/ and bin/lambda/, and the value
	// of the Function metric dimension.
	Name string
	// Description is shown in the Lambda console.
	Description string
	// MemoryMB and Timeout size the function.
	MemoryMB int
	Timeout  time.Duration
}

// Functions are the three Lambda functions. The poller times out after 70 s
// and starts no work in its last deadline_margin (10 s): on a one-minute
// schedule a run that has more than a minute of work (a burst at the
// provider's rate limit) hands over to the next run without an idle gap, and
// the optional watch window (poller/watch_window 1m) keeps a watcher open
// the whole minute. Runs overlap by the seconds in-flight work takes; the
// reserved concurrency bounds the rest. PagerDuty gives a custom action 16 s
// to answer, so the webhook stops at 15 s.
var Functions = struct{ Poller, Webhook, Reconcile FunctionSpec }{
	Poller:    FunctionSpec{"PollerFunction", "poller", "oncallgate: opens, annotates and resolves alerts for Teleport access requests", 256, 70 * time.Second},
	Webhook:   FunctionSpec{"WebhookFunction", "webhook", "oncallgate: Approve/Deny callbacks from PagerDuty, Opsgenie and JSM", 256, 15 * time.Second},
	Reconcile: FunctionSpec{"ReconcileFunction", "reconcile", "oncallgate: repairs drift between Teleport, the table and the providers", 256, 300 * time.Second},
}

// StackProps configure NewStack.
type StackProps struct {
	awscdk.StackProps
	// Config is the validated deployment configuration.
	Config Config
	// LambdaDir holds one directory per function (poller, webhook,
	// reconcile), each with the linux/arm64 executable "bootstrap".
	LambdaDir string
}

// Stack is the synthesized stack and the constructs tests look at.
type Stack struct {
	awscdk.Stack
	Table  awsdynamodb.Table
	Secret awssecretsmanager.Secret
	// Poller, Webhook and Reconcile are the three functions.
	Poller, Webhook, Reconcile awslambda.Function
}

// CheckLambdaDir reports a clear error when an asset directory or its
// bootstrap is missing, instead of letting the CDK fail on a path.
func CheckLambdaDir(dir string) error {
	for _, spec := range []FunctionSpec{Functions.Poller, Functions.Webhook, Functions.Reconcile} {
		p := filepath.Join(dir, spec.Name, codeFile)
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("function %s: %w (build the binaries with `make build-lambdas`; `make synth` does it first)", spec.Name, err)
		}
		if st.IsDir() {
			return fmt.Errorf("function %s: %s is a directory, an executable expected", spec.Name, p)
		}
	}
	return nil
}

// NewStack declares the oncallgate stack: the table, the secret, the SSM
// parameters, the three functions with their schedules, the webhook URL,
// least-privilege roles, alarms and a dashboard.
func NewStack(scope constructs.Construct, id string, props *StackProps) (*Stack, error) {
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	if err := CheckLambdaDir(props.LambdaDir); err != nil {
		return nil, err
	}
	sp := props.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String("oncallgate: Teleport access requests in front of whoever is on call (PagerDuty, Opsgenie, JSM)")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	s := &Stack{Stack: stack}

	s.Table = newTable(stack, cfg)
	s.Secret = newSecret(stack, cfg)
	newParameters(stack, cfg)

	env := map[string]*string{
		EnvSSMPrefix: jsii.String(cfg.SSMPrefix),
		EnvTable:     s.Table.TableName(),
	}
	access := functionAccess{table: s.Table, secret: s.Secret, prefix: cfg.SSMPrefix}
	poller := Functions.Poller
	poller.MemoryMB = cfg.PollerMemoryMB
	s.Poller = newFunction(stack, poller, props.LambdaDir, env, cfg, cfg.PollerReservedConcurrency, access)
	s.Webhook = newFunction(stack, Functions.Webhook, props.LambdaDir, env, cfg, 0, access)
	s.Reconcile = newFunction(stack, Functions.Reconcile, props.LambdaDir, env, cfg, cfg.ReconcileReservedConcurrency, access)

	schedule(stack, "PollerSchedule", cfg.PollerSchedule, s.Poller, "oncallgate: run the poller")
	schedule(stack, "ReconcileSchedule", cfg.ReconcileSchedule, s.Reconcile, "oncallgate: run the reconciler")

	// lambdaurl.Start in functions/webhook answers through response
	// streaming, which needs InvokeMode RESPONSE_STREAM. The URL is public
	// on purpose: PagerDuty and Opsgenie cannot sign AWS requests, so the
	// function authenticates every call itself (shared secret header or
	// PagerDuty signature) and fails closed.
	url := s.Webhook.AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType:   awslambda.FunctionUrlAuthType_NONE,
		InvokeMode: awslambda.InvokeMode_RESPONSE_STREAM,
	})

	newDashboard(stack, s, newAlarms(stack, cfg, s))

	output(stack, "WebhookUrl", url.Url(), "Webhook base URL (ends in /): PagerDuty actions call pagerduty/approve and pagerduty/deny below it, Opsgenie opsgenie, JSM jsm")
	output(stack, "TableName", s.Table.TableName(), "DynamoDB table holding requests, alert mappings and webhook deliveries")
	output(stack, "SecretArn", s.Secret.SecretArn(), "Secrets Manager secret to fill with put-secret-value (see docs/infrastructure.md)")
	output(stack, "SsmPrefix", jsii.String(cfg.SSMPrefix), "SSM Parameter Store path of the settings")
	return s, nil
}

func newTable(stack awscdk.Stack, cfg Config) awsdynamodb.Table {
	str := awsdynamodb.AttributeType_STRING
	props := &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(tablePK), Type: str},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(tableSK), Type: str},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(ttlAttribute),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(cfg.DeletionProtection),
		// The table holds the only record of which alert belongs to which
		// request: deleting the stack must not delete it.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	}
	if cfg.TableName != "" {
		props.TableName = jsii.String(cfg.TableName)
	}
	t := awsdynamodb.NewTable(stack, jsii.String("Table"), props)
	t.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(openIndex),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(openIndexPK), Type: str},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(openIndexSK), Type: str},
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	overrideLogicalID(t, "Table")
	return t
}

// newSecret creates the one secret with the placeholder "{}". The template
// therefore carries no secret; the operator writes the real document with
// put-secret-value, and CloudFormation leaves it alone until this
// placeholder itself changes. generateSecretString would not fit: the value
// is a document of keys issued elsewhere, not a random password.
func newSecret(stack awscdk.Stack, cfg Config) awssecretsmanager.Secret {
	sec := awssecretsmanager.NewSecret(stack, jsii.String("Secret"), &awssecretsmanager.SecretProps{
		SecretName:        jsii.String(cfg.SecretName),
		Description:       jsii.String("oncallgate: Teleport identity and PagerDuty/Opsgenie/JSM keys, one JSON document"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String("{}")),
	})
	overrideLogicalID(sec, "Secret")
	return sec
}

var constructIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9]+`)

func newParameters(stack awscdk.Stack, cfg Config) {
	names := make([]string, 0, len(cfg.Parameters))
	for n := range cfg.Parameters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		id := "Parameter" + constructIDUnsafe.ReplaceAllString(strings.ToUpper(n[:1])+n[1:], "_")
		awsssm.NewStringParameter(stack, jsii.String(id), &awsssm.StringParameterProps{
			ParameterName: jsii.String(cfg.SSMPrefix + n),
			StringValue:   jsii.String(cfg.Parameters[n]),
			Tier:          awsssm.ParameterTier_STANDARD,
			Description:   jsii.String("oncallgate setting " + n + " (managed by the Oncallgate stack)"),
		})
	}
}

// functionAccess is what every function may touch.
type functionAccess struct {
	table  awsdynamodb.Table
	secret awssecretsmanager.Secret
	prefix string
}

// tableActions are the only DynamoDB calls internal/store makes. No Scan,
// DeleteItem or batch writes: items leave the table by TTL.
var tableActions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}

// statements lists the role's permissions, each scoped to one resource of
// this stack. The function's log group is the only logs resource: the role
// does not get AWSLambdaBasicExecutionRole, which allows every log group.
func (a functionAccess) statements(logs awslogs.LogGroup) []awsiam.PolicyStatement {
	// GetParametersByPath is authorized against the path in the request, so
	// the path itself (with or without its trailing slash) is allowed next
	// to the parameters below it.
	path := strings.TrimSuffix(a.prefix, "/")
	return []awsiam.PolicyStatement{
		statement("Logs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, logs.LogGroupArn()),
		statement("Table", tableActions, a.table.TableArn()),
		statement("OpenIndex", []string{"dynamodb:Query"}, jsii.String(*a.table.TableArn()+"/index/"+openIndex)),
		statement("Settings", []string{"ssm:GetParametersByPath", "ssm:GetParameter"},
			awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"+path), nil),
			awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"+path+"/*"), nil)),
		// The secret is encrypted with the AWS managed key aws/secretsmanager,
		// whose key policy already lets Secrets Manager decrypt for any
		// principal of the account allowed GetSecretValue: no kms grant.
		statement("Secret", []string{"secretsmanager:GetSecretValue"}, a.secret.SecretArn()),
	}
}

func statement(sid string, actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	})
}

// newFunction declares one function with its own log group and role.
// reserved > 0 caps its concurrency.
func newFunction(stack awscdk.Stack, spec FunctionSpec, lambdaDir string, env map[string]*string, cfg Config, reserved int, access functionAccess) awslambda.Function {
	logs := awslogs.NewLogGroup(stack, jsii.String(spec.LogicalID+"Logs"), &awslogs.LogGroupProps{
		Retention: retention(cfg.LogRetentionDays),
	})
	role := awsiam.NewRole(stack, jsii.String(spec.LogicalID+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("oncallgate " + spec.Name + " function"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"oncallgate-" + spec.Name: awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
				Statements: func() *[]awsiam.PolicyStatement { s := access.statements(logs); return &s }(),
			}),
		},
	})
	overrideLogicalID(role, spec.LogicalID+"Role")
	props := &awslambda.FunctionProps{
		Description:  jsii.String(spec.Description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String(codeFile),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(lambdaDir, spec.Name)), nil),
		MemorySize:   jsii.Number(float64(spec.MemoryMB)),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(spec.Timeout.Seconds())),
		Environment:  &env,
		Role:         role,
		LogGroup:     logs,
	}
	if reserved > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(reserved))
	}
	fn := awslambda.NewFunction(stack, jsii.String(spec.LogicalID), props)
	overrideLogicalID(fn, spec.LogicalID)
	return fn
}

// schedule invokes fn on expr. The event is not retried: the next
// scheduled run does the same work, and a retry would only overlap it.
func schedule(stack awscdk.Stack, id, expr string, fn awslambda.Function, description string) {
	awsevents.NewRule(stack, jsii.String(id), &awsevents.RuleProps{
		Description: jsii.String(description),
		Schedule:    awsevents.Schedule_Expression(jsii.String(expr)),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
		})},
	})
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{RetryAttempts: jsii.Number(0)})
}

// retention maps a validated number of days to the CDK enum.
func retention(days int) awslogs.RetentionDays {
	return map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}[days]
}

func overrideLogicalID(c constructs.Construct, id string) {
	c.Node().DefaultChild().(awscdk.CfnElement).OverrideLogicalId(jsii.String(id))
}

func output(stack awscdk.Stack, id string, value *string, description string) {
	awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
}
