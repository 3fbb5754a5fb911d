// Package jsm is oncallgate's adapter for Jira Service Management
// Operations, Opsgenie's successor. Alerts go through JSM's integration
// API, which takes Opsgenie's alert bodies, so NewNotifier reuses the
// opsgenie alert client on another base URL and path. On-call lookups
// (core.ScheduleDirectory) go through the JSM Ops REST API and the Jira user
// API, because JSM answers with Atlassian account IDs where Opsgenie answered
// with emails.
//
// What the vendor documentation (developer.atlassian.com, read 2026-11)
// confirms:
//   - Alerts: POST https://api.atlassian.com/jsm/ops/integration/v2/alerts
//     with "Authorization: GenieKey <API integration key>" and Opsgenie's
//     body (message, alias, description, responders, actions, tags, details,
//     source); create, acknowledge, close and add-note answer asynchronously.
//   - Ops REST API root https://api.atlassian.com/jsm/ops/api/{cloudId}, Basic
//     auth with an Atlassian account's email and API token.
//   - GET /v1/schedules lists schedules as {"values":[{"id","name",...}],
//     "links":{"next":"/v1/schedules?offset=..&size=.."}} with offset/size
//     paging; there is no lookup by name, so names are matched here
//     (case-insensitively) and the name-to-ID map is cached per Directory.
//   - GET /v1/schedules/{scheduleId}/on-calls?flat=true returns the user IDs
//     (Atlassian account IDs) of the on-call participants; flat=false returns
//     {"onCallParticipants":[{"id","type",...}]} nested through teams and
//     escalations.
//   - Jira's GET /rest/api/3/user?accountId= returns {"accountId",
//     "emailAddress","displayName",...}; emailAddress is left out (or null)
//     when the person's profile visibility hides it, and the caller needs
//     the "Browse users and groups" permission. Scoped API tokens reach
//     Jira only through https://api.atlassian.com/ex/jira/{cloudId}, which
//     is therefore the default user API root (UserAPIBaseURL overrides it,
//     e.g. with https://<site>.atlassian.net).
//
// What is assumed, because the documentation does not show it:
//   - the JSON field of the flat on-call answer is "onCallUsers" (a list of
//     account IDs); the decoder also accepts the nested onCallParticipants
//     form and Opsgenie's onCallRecipients, whichever is present;
//   - the integration API serves the request-status and get-alert endpoints
//     of Opsgenie's alert API (/requests/{id}, /{identifier}?identifierType=)
//     under the same path, as Opsgenie's API integrations did;
//   - error bodies carry "message", "errorMessages" or "errors"; all three
//     are read when present.
//
// Moving from the opsgenie provider to this one (host, credentials,
// annotation names, Opsgenie's end of support on 2027-04-05) is described
// in docs/jsm-migration.md.
//
// This package must not decide anything about access requests, retry on its
// own, or put the integration key or API token anywhere but request
// headers: never in logs or error texts.
package jsm
