package core

import (
	"fmt"
	"strings"
	"time"
)

// Message texts. Users know these from Teleport's own plugins; keep them
// word for word (REFERENCE.md "Message texts").

// AlertTitle is the incident title / alert message.
func AlertTitle(req Request) string {
	return "Access request from " + req.User
}

// RequestLink is the web UI link to a request, or "" when no proxy address
// is configured.
func RequestLink(proxyAddr, requestID string) string {
	proxyAddr = strings.TrimSuffix(strings.TrimSpace(proxyAddr), "/")
	if proxyAddr == "" {
		return ""
	}
	if !strings.Contains(proxyAddr, "://") {
		proxyAddr = "https://" + proxyAddr
	}
	return proxyAddr + "/web/requests/" + requestID
}

// AlertBody is the incident body / alert description. actions adds the line
// saying the approve/deny buttons on the alert work too.
func AlertBody(req Request, link string, actions bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s requested permissions for roles %s on Teleport at %s.",
		req.User, strings.Join(req.Roles, ", "), req.Created.UTC().Format(time.RFC822))
	if req.Reason != "" {
		fmt.Fprintf(&b, "\nReason: %s", req.Reason)
	}
	if link != "" {
		fmt.Fprintf(&b, "\nTo approve or deny the request, proceed to %s", link)
	}
	if actions {
		b.WriteString("\nOn-call responders can also approve or deny with the Approve and Deny actions on this alert.")
	}
	return b.String()
}

// NewAlertMessage builds the message of a request's alerts.
func NewAlertMessage(req Request, proxyAddr string, actions bool) AlertMessage {
	link := RequestLink(proxyAddr, req.ID)
	details := map[string]string{
		"request_id": req.ID,
		"user":       req.User,
		"roles":      strings.Join(req.Roles, ", "),
	}
	if req.Reason != "" {
		details["reason"] = req.Reason
	}
	if link != "" {
		details["link"] = link
	}
	return AlertMessage{
		RequestID: req.ID,
		DedupKey:  DedupKey(req.ID),
		Title:     AlertTitle(req),
		Body:      AlertBody(req, link, actions),
		User:      req.User,
		Roles:     req.Roles,
		Link:      link,
		Details:   details,
	}
}

// ReviewNote is the note posted for one review.
func ReviewNote(r Review) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s reviewed the request at %s.\nResolution: %s.", r.Author, r.Created.UTC().Format(time.RFC822), r.Proposed)
	if r.Reason != "" {
		fmt.Fprintf(&b, "\nReason: %s.", r.Reason)
	}
	return b.String()
}

// ResolutionNote is the note posted when a request leaves the pending state.
func ResolutionNote(state State, reason string) string {
	s := "Access request has been " + state.Verb()
	if reason != "" {
		s += "\nReason: " + reason
	}
	return s
}

// OnCallReason is the auto-approval review reason. It names the rule that
// fired: where the requester is on call and, when required, the incidents.
// what is "service(s)" for PagerDuty and "schedule(s)" for Opsgenie/JSM.
func OnCallReason(user, what string, where []string, incidents []string) string {
	s := fmt.Sprintf("Access requested by user %s who is on call in %s %s", user, what, strings.Join(where, ","))
	if len(incidents) > 0 {
		s += fmt.Sprintf(" and has active incident(s) %s", strings.Join(incidents, ", "))
	}
	return s
}
