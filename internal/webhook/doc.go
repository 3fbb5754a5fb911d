// Package webhook is oncallgate's inbound HTTP surface: the routes that
// PagerDuty custom incident actions and Opsgenie/JSM custom alert actions
// call. It authenticates each delivery (shared secret header, PagerDuty v3
// signatures), parses the payload into a core.Action and hands it to
// core.Decider. It decides nothing itself and never talks to Teleport.
//
// Everything fails closed: a delivery that cannot be authenticated or
// parsed is refused before core sees it.
package webhook
