package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oncallgate/oncallgate/internal/config"
)

// yamlLine is what every line that is not blank or a comment must look
// like: one key and its value (or a section's key alone).
var yamlLine = regexp.MustCompile(`^( {2})?[a-z_/]+:( \S.*)?$`)

func TestConfigureListsEverySettingAsYAML(t *testing.T) {
	for _, local := range []bool{false, true} {
		name := "deploy parameters"
		args := []string{"configure", "--prefix", "/acme/oncallgate"}
		if local {
			name, args = "local file", append(args, "--local")
		}
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, p := range config.Parameters {
				if !strings.Contains(out, "  # SSM /acme/oncallgate/"+p.Name+";") {
					t.Errorf("no SSM path comment for %s", p.Name)
				}
				if !regexp.MustCompile(`(?m)^  (# )?` + regexp.QuoteMeta(p.Name) + `: `).MatchString(out) {
					t.Errorf("no line for parameter %s", p.Name)
				}
				if p.Default != "" && !strings.Contains(out, "  # "+p.Name+": "+yamlValue(p.Default)+"\n") {
					t.Errorf("parameter %s is not shown with its default %s", p.Name, p.Default)
				}
			}
			for _, k := range config.SecretKeys {
				if !strings.Contains(out, k.Name) {
					t.Errorf("secret key %s missing", k.Name)
				}
			}
			for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
				trimmed := strings.TrimSpace(line)
				if trimmed == "" || strings.HasPrefix(trimmed, "#") {
					continue
				}
				if !yamlLine.MatchString(line) {
					t.Errorf("line %d is not `key: value`: %q", i+1, line)
				}
			}
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("output is not YAML: %v", err)
			}
			params, _ := doc["parameters"].(map[string]any)
			for _, p := range config.Parameters {
				_, active := params[p.Name]
				if active != (p.RequiredWhen == "always") {
					t.Errorf("parameter %s active = %v; only settings required always are uncommented", p.Name, active)
				}
			}
			if _, ok := doc["secret"]; ok != local {
				t.Errorf("secret section present = %v, want %v", ok, local)
			}
		})
	}
}

// The local file configure prints becomes a valid configuration once its
// required values are filled in, and stays invalid (naming what is
// missing) until then.
func TestConfigureLocalFileLoadsOnceFilledIn(t *testing.T) {
	_, out, _ := runCLI(t, "configure", "--local")
	dir := t.TempDir()
	path := filepath.Join(dir, "oncallgate.local.yaml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := readLocalFile(path)
	if err != nil {
		t.Fatalf("read the printed file: %v", err)
	}
	if _, err := f.config(); err == nil || !strings.Contains(err.Error(), "teleport/address") || !strings.Contains(err.Error(), "teleport_identity") {
		t.Fatalf("unfilled file: err = %v, want the missing address and identity named", err)
	}

	if err := os.WriteFile(filepath.Join(dir, "identity"), []byte("IDENTITY FILE CONTENT"), 0o600); err != nil {
		t.Fatal(err)
	}
	filled := strings.NewReplacer(
		`  teleport/address: ""`, `  teleport/address: teleport.example.com:443`,
		`  providers: ""`, `  providers: [pagerduty]`,
		`  # pagerduty/from_email: ""`, `  pagerduty/from_email: oncallgate@example.com`,
		`  teleport_identity_file: ""`, `  teleport_identity_file: identity`,
		`  # pagerduty_api_key: ""`, `  pagerduty_api_key: key-1`,
		`# check:`, `check:`, `#   services:`, `  services:`, `#   schedules:`, `  schedules:`,
	).Replace(out)
	if err := os.WriteFile(path, []byte(filled), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = readLocalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := f.config()
	if err != nil {
		t.Fatalf("filled file: %v", err)
	}
	switch {
	case cfg.Teleport.Address != "teleport.example.com:443", cfg.PagerDuty.FromEmail != "oncallgate@example.com":
		t.Errorf("parameters not read: %+v", cfg)
	case cfg.Secrets.TeleportIdentity != "IDENTITY FILE CONTENT" || cfg.Secrets.PagerDutyAPIKey != "key-1":
		t.Errorf("secrets not read: %v", cfg.Secrets)
	case cfg.Poller.Concurrency != 8 || cfg.PagerDuty.Urgency != "high":
		t.Errorf("defaults not applied: %+v", cfg.Poller)
	case f.Table != "oncallgate":
		t.Errorf("table = %q", f.Table)
	case strings.Join(f.Services, ",") != "Teleport Notifications" || strings.Join(f.Schedules, ",") != "Primary On-Call":
		t.Errorf("check lists = %v, %v", f.Services, f.Schedules)
	}
}

func TestLocalFileErrorsNameTheProblemWithoutSecrets(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown section", "parameters:\n  providers: pagerduty\nsecrets:\n  x: y\n", "field secrets not found"},
		{"nested parameter", "parameters:\n  pagerduty:\n    from_email: a@b.c\n", "parameters.pagerduty: want a plain value or a list"},
		{"no parameters", "table: t\n", "no parameters section"},
		{"identity twice", "parameters:\n  providers: pagerduty\nsecret:\n  teleport_identity: s3cr3t-identity\n  teleport_identity_file: id\n", "sets both teleport_identity and teleport_identity_file"},
		{"missing identity file", "parameters:\n  providers: pagerduty\nsecret:\n  teleport_identity_file: nowhere\n", "secret.teleport_identity_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readLocalFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error shows a secret value: %v", err)
			}
		})
	}
}
