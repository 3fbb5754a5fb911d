package core

import (
	"testing"
	"time"
)

func TestMessageTexts(t *testing.T) {
	created := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	req := Request{ID: "r1", User: "alice@example.com", Roles: []string{"prod-admin", "db"}, Reason: "deploy hotfix", Created: created}
	tests := []struct {
		name, got, want string
	}{
		{"title", AlertTitle(req), "Access request from alice@example.com"},
		{"body with reason and link", AlertBody(req, RequestLink("teleport.example.com:443", "r1"), false),
			"alice@example.com requested permissions for roles prod-admin, db on Teleport at 21 Nov 26 09:30 UTC.\nReason: deploy hotfix\nTo approve or deny the request, proceed to https://teleport.example.com:443/web/requests/r1"},
		{"body without reason or link", AlertBody(Request{User: "bob", Roles: []string{"dev"}, Created: created}, "", false),
			"bob requested permissions for roles dev on Teleport at 21 Nov 26 09:30 UTC."},
		{"body with actions line", AlertBody(Request{User: "bob", Roles: []string{"dev"}, Created: created}, "", true),
			"bob requested permissions for roles dev on Teleport at 21 Nov 26 09:30 UTC.\nOn-call responders can also approve or deny with the Approve and Deny actions on this alert."},
		{"review note", ReviewNote(Review{Author: "carol", Proposed: StateApproved, Reason: "looks fine", Created: created}),
			"carol reviewed the request at 21 Nov 26 09:30 UTC.\nResolution: APPROVED.\nReason: looks fine."},
		{"review note without reason", ReviewNote(Review{Author: "carol", Proposed: StateDenied, Created: created}),
			"carol reviewed the request at 21 Nov 26 09:30 UTC.\nResolution: DENIED."},
		{"resolution note", ResolutionNote(StateApproved, "ok by carol"), "Access request has been approved\nReason: ok by carol"},
		{"resolution note expired", ResolutionNote(StateExpired, ""), "Access request has been expired"},
		{"auto-approval reason", OnCallReason("alice@example.com", "service(s)", []string{"Payments API", "Search"}, nil),
			"Access requested by user alice@example.com who is on call in service(s) Payments API,Search"},
		{"link keeps scheme", RequestLink("http://localhost:3080/", "r1"), "http://localhost:3080/web/requests/r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", tt.got, tt.want)
			}
		})
	}
}

func TestApprovalPolicyRolesAllowed(t *testing.T) {
	p := ApprovalPolicy{AllowedRoles: []string{"Dev", "db-read"}}
	if ok, _ := p.RolesAllowed([]string{"dev"}); !ok {
		t.Error("dev should be allowed (case-insensitive)")
	}
	if ok, denied := p.RolesAllowed([]string{"dev", "prod-admin"}); ok || denied != "prod-admin" {
		t.Errorf("prod-admin should be denied, got ok=%v denied=%q", ok, denied)
	}
	if ok, _ := (ApprovalPolicy{}).RolesAllowed([]string{"anything"}); !ok {
		t.Error("empty allowlist allows any role")
	}
}

func TestIsEmail(t *testing.T) {
	for in, want := range map[string]bool{"alice@example.com": true, "alice": false, "Alice <alice@example.com>": false, "": false} {
		if got := IsEmail(in); got != want {
			t.Errorf("IsEmail(%q) = %v", in, got)
		}
	}
}
