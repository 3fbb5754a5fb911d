package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSandboxTellsTheWholeStory runs `oncallgate sandbox` as a user would,
// starting its own moto_server, and checks the timeline's key lines.
func TestSandboxTellsTheWholeStory(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "sandbox.log")
	code, out, errOut := runCLI(t, "sandbox", "--log", logPath)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := []string{
		// 1. an incident opened, with title and link, and why
		`carol@example.com requests the role prod-readonly`,
		`pagerduty   incident #2 "Access request from carol@example.com" opened in "Teleport Notifications"`,
		`link: https://teleport.example.com/web/requests/`,
		`why: role prod-readonly carries the annotation pagerduty_notify_service: [Teleport Notifications]`,
		`why: carol@example.com is not on call at any escalation level in Payments API`,
		`polled again: 0 incidents created`,
		// 2. auto-approval with its reason, and the resolution note
		`approved automatically: review submitted to Teleport as access-plugin`,
		`reason: Access requested by user alice@example.com who is on call in service(s) Payments API and has active incident(s) #1 Payments API error rate above 2%`,
		`note: Access request has been approved`,
		// 3. Approve Request pressed in PagerDuty, review with delegator
		`opsgenie    alert "Access request from dave@example.com"`,
		`bob@example.com presses "Approve Request" on incident #4`,
		`webhook answered 200 accepted`,
		`review APPROVED by access-plugin on behalf of pagerduty:bob@example.com`,
		`incident #4 resolved`,
		`opsgenie    alert #`,
		// 4. expiry
		`erin's request expired`,
		`note: Access request has been expired`,
		// next steps
		"Next steps", "oncallgate configure", "oncallgate check", "oncallgate local", "make deploy",
		"The app's JSON logs of this tour are in " + logPath,
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("timeline lacks %q", w)
		}
	}
	if !regexp.MustCompile(`(?m)^\s+\+\d+\.\ds  teleport    `).MatchString(out) {
		t.Error("timeline entries have no time offset")
	}
	if !strings.Contains(errOut, "ready (") {
		t.Errorf("no progress report on stderr: %q", errOut)
	}
	if strings.Contains(out, `"level":`) {
		t.Error("JSON logs leaked into the timeline")
	}
	logs, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(logs), `"msg":"poll finished"`) {
		t.Errorf("app logs not written to %s: %v", logPath, err)
	}
	if strings.Contains(string(logs), `"level":"ERROR"`) {
		t.Errorf("the tour logged errors:\n%s", logs)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", out)
	}
}
