// Package opsgenie is oncallgate's adapter for the Opsgenie REST API: it
// opens, annotates and closes the alerts of access requests (core.Notifier)
// and answers who is on call in a schedule (core.ScheduleDirectory). The same
// alert client serves Jira Service Management Operations, whose integration
// API takes Opsgenie's alert bodies under another path (see package jsm).
//
// Why not github.com/opsgenie/opsgenie-go-sdk-v2 (v1.2.23): it builds request
// URLs itself from a host name (https unless the host lacks the string "api",
// a test hack) with the /v2/alerts paths fixed, so neither the JSM path nor a
// plain-HTTP sandbox on 127.0.0.1 can be reached cleanly; it retries inside
// every call with its own backoff (a Lambda invocation must bound its work
// and leave retries to the next run); it logs through its own logrus logger;
// and its errors carry status codes but no retry-after, so they would have to
// be re-parsed to classify them. The handful of endpoints we need are simple
// JSON calls, so this package is a small net/http client instead, with an
// injectable base URL and *http.Client, one named timeout per call, and
// failures classified into core's error kinds (errors.go).
//
// Opsgenie processes writes asynchronously: a create answers 202 with a
// request ID and the alert ID appears later at /v2/alerts/requests/{id}.
// Create polls that a bounded number of times and otherwise returns the
// request ID as AlertRef.PendingRef for the caller to record and Complete
// later.
//
// This package must not retry on its own, decide anything about access
// requests, or put the API key anywhere but the Authorization header: never
// in logs or error texts.
package opsgenie
