package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// Alarm construct IDs (also their names' suffix). Tests and
// docs/infrastructure.md list the same.
const (
	alarmPollerNotSucceeding  = "PollerNotSucceeding"
	alarmWebhookRefusalSpike  = "WebhookRefusalSpike"
	alarmBacklogGrowing       = "BacklogGrowing"
	alarmReconcileRunsFailing = "ReconcileRunsFailing"
)

// appMetric is one of the metrics the functions emit in Embedded Metric
// Format, for the function spec.
func appMetric(name string, spec FunctionSpec, statistic string, period awscdk.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(MetricNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{dimFunction: jsii.String(spec.Name)},
		Statistic:     jsii.String(statistic),
		Period:        period,
	})
}

// alarmActions returns the SNS actions alarms use: a topic the stack creates
// for alarm_email, an existing topic for alarm_topic_arn, both, or none.
func alarmActions(stack awscdk.Stack, cfg Config) []awscloudwatch.IAlarmAction {
	var actions []awscloudwatch.IAlarmAction
	if cfg.AlarmEmail != "" {
		topic := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
			DisplayName: jsii.String("oncallgate alarms"),
		})
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
		actions = append(actions, awscloudwatchactions.NewSnsAction(topic))
	}
	if cfg.AlarmTopicARN != "" {
		topic := awssns.Topic_FromTopicArn(stack, jsii.String("ExistingAlarmTopic"), jsii.String(cfg.AlarmTopicARN))
		actions = append(actions, awscloudwatchactions.NewSnsAction(topic))
	}
	return actions
}

// newAlarms declares the alarms: errors and throttles of each function (the
// AWS/Lambda metrics), a poller that has not succeeded for
// alarm_poll_missed_minutes (missing data counts: a poller that does not run
// at all is the failure to catch), reconcile runs ending with errors
// (Errors carries a [Function] dimension set for this), a spike of refused webhook calls (someone
// probing the URL, or a rotated secret not updated) and a growing backlog.
func newAlarms(stack awscdk.Stack, cfg Config, s *Stack) []awscloudwatch.Alarm {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	one := awscdk.Duration_Minutes(jsii.Number(1))
	var alarms []awscloudwatch.Alarm
	add := func(id, description string, props *awscloudwatch.AlarmProps) {
		props.AlarmName = jsii.String(*stack.StackName() + "-" + id)
		props.AlarmDescription = jsii.String(description)
		alarms = append(alarms, awscloudwatch.NewAlarm(stack, jsii.String(id), props))
	}
	for _, f := range []struct {
		spec FunctionSpec
		fn   awslambda.Function
	}{{Functions.Poller, s.Poller}, {Functions.Webhook, s.Webhook}, {Functions.Reconcile, s.Reconcile}} {
		add(f.spec.LogicalID+"Errors", fmt.Sprintf("The %s function failed (crash, timeout or returned error) in the last 5 minutes.", f.spec.Name), &awscloudwatch.AlarmProps{
			Metric:             f.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		add(f.spec.LogicalID+"Throttles", fmt.Sprintf("The %s function was throttled in the last 5 minutes (runs overlapping beyond the reserved concurrency, or the account limit).", f.spec.Name), &awscloudwatch.AlarmProps{
			Metric:             f.fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	add(alarmPollerNotSucceeding, fmt.Sprintf("No successful poll for %d minutes: new access requests get no alert.", cfg.AlarmPollMissedMinutes), &awscloudwatch.AlarmProps{
		Metric:             appMetric(metricPollSucceeded, Functions.Poller, "Sum", one),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(float64(cfg.AlarmPollMissedMinutes)),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	add(alarmReconcileRunsFailing, "Two reconcile runs in a row ended with errors: drift is not being repaired.", &awscloudwatch.AlarmProps{
		Metric:             appMetric(metricErrors, Functions.Reconcile, "Sum", awscdk.Duration_Minutes(jsii.Number(15))),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(2),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	add(alarmWebhookRefusalSpike, fmt.Sprintf("More than %d webhook calls refused in 5 minutes (bad secret or signature, unknown responder).", cfg.AlarmWebhookRefusals), &awscloudwatch.AlarmProps{
		Metric:             appMetric(metricHookRefusals, Functions.Webhook, "Sum", five),
		Threshold:          jsii.Number(float64(cfg.AlarmWebhookRefusals)),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	add(alarmBacklogGrowing, fmt.Sprintf("The poller left more than %d requests for later for 15 minutes: it cannot keep up.", cfg.AlarmBacklog), &awscloudwatch.AlarmProps{
		Metric:             appMetric(metricBacklog, Functions.Poller, "Maximum", five),
		Threshold:          jsii.Number(float64(cfg.AlarmBacklog)),
		EvaluationPeriods:  jsii.Number(3),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	actions := alarmActions(stack, cfg)
	for _, a := range alarms {
		for _, act := range actions {
			a.AddAlarmAction(act)
			a.AddOkAction(act)
		}
	}
	return alarms
}

// newDashboard declares one dashboard with the functions' AWS/Lambda
// metrics, the application metrics and the alarms.
func newDashboard(stack awscdk.Stack, s *Stack, alarms []awscloudwatch.Alarm) awscloudwatch.Dashboard {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	fns := []awslambda.Function{s.Poller, s.Webhook, s.Reconcile}
	specs := []FunctionSpec{Functions.Poller, Functions.Webhook, Functions.Reconcile}
	lambdaMetric := func(metric func(awslambda.Function, *awscloudwatch.MetricOptions) awscloudwatch.Metric, statistic string) *[]awscloudwatch.IMetric {
		out := make([]awscloudwatch.IMetric, len(fns))
		for i, fn := range fns {
			out[i] = metric(fn, &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String(statistic), Label: jsii.String(specs[i].Name)})
		}
		return &out
	}
	graph := func(title string, left *[]awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: left, Width: jsii.Number(8), Height: jsii.Number(6)})
	}
	app := func(spec FunctionSpec, statistic string, names ...string) *[]awscloudwatch.IMetric {
		out := make([]awscloudwatch.IMetric, len(names))
		for i, n := range names {
			out[i] = appMetric(n, spec, statistic, five)
		}
		return &out
	}
	// Errors carry a Kind dimension whose values the code decides; a search
	// expression shows whichever kinds appear.
	errorsByKind := &[]awscloudwatch.IMetric{awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,Kind} MetricName="%s"', 'Sum', 300)`, MetricNamespace, dimFunction, metricErrors)),
		Label:      jsii.String(""),
		Period:     five,
	})}
	statusAlarms := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		statusAlarms[i] = a
	}
	alarmWidget := awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title:  jsii.String("Alarms"),
		Alarms: &statusAlarms,
		Width:  jsii.Number(24),
		Height: jsii.Number(4),
	})
	d := awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: stack.StackName(),
	})
	d.AddWidgets(alarmWidget)
	d.AddWidgets(
		graph("Invocations", lambdaMetric(awslambda.Function.MetricInvocations, "Sum")),
		graph("Lambda errors", lambdaMetric(awslambda.Function.MetricErrors, "Sum")),
		graph("Throttles", lambdaMetric(awslambda.Function.MetricThrottles, "Sum")),
	)
	d.AddWidgets(
		graph("Duration p99 (ms)", lambdaMetric(awslambda.Function.MetricDuration, "p99")),
		graph("Poller: successful polls", app(Functions.Poller, "Sum", metricPollSucceeded)),
		graph("Poller: backlog (max)", app(Functions.Poller, "Maximum", metricBacklog)),
	)
	d.AddWidgets(
		graph("Run duration (ms, max)", &[]awscloudwatch.IMetric{
			appMetric(metricPollDuration, Functions.Poller, "Maximum", five).With(&awscloudwatch.MetricOptions{Label: jsii.String("poller")}),
			appMetric(metricPollDuration, Functions.Reconcile, "Maximum", five).With(&awscloudwatch.MetricOptions{Label: jsii.String("reconcile")}),
		}),
		graph("Poller: requests and alerts", app(Functions.Poller, "Sum", metricRequestsSeen, metricAlertsCreated, metricAlertsResolved)),
		graph("Poller: auto-approvals", app(Functions.Poller, "Sum", metricAutoApprovals, metricAutoRefusals)),
		graph("Poller: watch window changes and restarts", app(Functions.Poller, "Sum", metricWatchChanges, metricWatchRestarts)),
	)
	d.AddWidgets(
		graph("Webhook: decisions and refusals", app(Functions.Webhook, "Sum", metricHookDecisions, metricHookRefusals)),
		graph("Reconcile: repairs and alerts", app(Functions.Reconcile, "Sum", metricRepairs, metricAlertsCreated, metricAlertsResolved)),
		graph("Reconcile: backlog (max)", app(Functions.Reconcile, "Maximum", metricBacklog)),
		graph("Errors by kind", errorsByKind),
	)
	return d
}
