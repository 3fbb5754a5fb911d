package main

import (
	"strings"
	"testing"

	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/testenv"
	"github.com/oncallgate/oncallgate/internal/webhook"
)

func TestActionsInstallIsIdempotentAndFollowsTheURL(t *testing.T) {
	e := testenv.NewEnv(t)
	e.PD.AddService("Teleport Notifications")
	e.PD.AddService("Payments API")
	awsEnv(t, e.Moto)
	prefix := e.WriteConfig(nil, nil)
	install := func(url string) (int, string, string) {
		return runCLI(t, "actions", "install", "--prefix", prefix, "--url", url, "--services", "Teleport Notifications, payments api")
	}

	code, out, errOut := install("https://abc.lambda-url.us-east-1.on.aws/")
	if code != exitOK || !strings.Contains(out, "4 created, 0 updated, 0 unchanged") {
		t.Fatalf("first install: exit %d\n%s%s", code, out, errOut)
	}
	exts := e.PD.Extensions()
	if len(exts) != 4 {
		t.Fatalf("want 4 actions, got %d", len(exts))
	}
	names := map[string]int{}
	for _, x := range exts {
		names[x.Name]++
		if !strings.HasPrefix(x.EndpointURL, "https://abc.lambda-url.us-east-1.on.aws/pagerduty?action=") {
			t.Errorf("%s endpoint = %q", x.Name, x.EndpointURL)
		}
		found := false
		for _, h := range x.Headers {
			if h.Name == webhook.SecretHeader && h.Value == "pd-webhook-secret" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s lacks the %s header: %+v", x.Name, webhook.SecretHeader, x.Headers)
		}
	}
	if names[pagerduty.ApproveActionName] != 2 || names[pagerduty.DenyActionName] != 2 {
		t.Fatalf("action names = %v", names)
	}

	if code, out, _ := install("https://abc.lambda-url.us-east-1.on.aws/"); code != exitOK || !strings.Contains(out, "0 created, 0 updated, 4 unchanged") {
		t.Fatalf("second install changed something: exit %d %s", code, out)
	}
	if code, out, _ := install("https://new.lambda-url.us-east-1.on.aws"); code != exitOK || !strings.Contains(out, "0 created, 4 updated, 0 unchanged") {
		t.Fatalf("URL change: exit %d %s", code, out)
	}
	if n := len(e.PD.Extensions()); n != 4 {
		t.Fatalf("duplicates after URL change: %d actions", n)
	}
	for _, x := range e.PD.Extensions() {
		if !strings.HasPrefix(x.EndpointURL, "https://new.lambda-url.us-east-1.on.aws/pagerduty?action=") {
			t.Errorf("%s endpoint not updated: %q", x.Name, x.EndpointURL)
		}
	}
}

func TestActionsInstallRefusesBadInput(t *testing.T) {
	e := testenv.NewEnv(t)
	e.PD.AddService("Teleport Notifications")
	awsEnv(t, e.Moto)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no url", []string{"--prefix", e.WriteConfig(nil, nil), "--services", "Teleport Notifications"}, exitUsage, "--url"},
		{"no services", []string{"--prefix", e.WriteConfig(nil, nil), "--url", "https://x.example.com/"}, exitUsage, "--services"},
		{"unknown service", []string{"--prefix", e.WriteConfig(nil, nil), "--url", "https://x.example.com/", "--services", "Nope"}, exitFailure, `pagerduty service "Nope" not found`},
		{"no webhook secret", []string{"--prefix", e.WriteConfig(nil, map[string]string{"pagerduty_webhook_secret": ""}), "--url", "https://x.example.com/", "--services", "Teleport Notifications"}, exitFailure, "no pagerduty_webhook_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append([]string{"actions", "install"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tt.wantCode, tt.wantErr)
			}
			if strings.Contains(errOut, "pd-webhook-secret") {
				t.Fatal("the secret leaked into stderr")
			}
		})
	}
}
