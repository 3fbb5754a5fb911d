package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md and README.md from config.Parameters")

// docPaths are the pages that show the generated tables.
var docPaths = []string{"../../docs/configuration.md", "../../README.md"}

const (
	beginTable = "<!-- BEGIN GENERATED: config.Parameters (go generate ./internal/config) -->\n"
	endTable   = "<!-- END GENERATED -->\n"
)

// TestConfigurationDocIsCurrent fails when docs/configuration.md or the
// README does not show config.Parameters and config.SecretKeys as they are.
// Regenerate with `go generate ./internal/config` (or `go test
// ./internal/config -run TestConfigurationDocIsCurrent -update`).
func TestConfigurationDocIsCurrent(t *testing.T) {
	for _, p := range docPaths {
		t.Run(filepath.Base(p), func(t *testing.T) { checkDoc(t, p) })
	}
}

func checkDoc(t *testing.T, docPath string) {
	path := filepath.FromSlash(docPath)
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	text := string(doc)
	i, j := strings.Index(text, beginTable), strings.Index(text, endTable)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-table markers %q ... %q", path, beginTable, endTable)
	}
	want := text[:i+len(beginTable)] + "\n" + MarkdownTables(DefaultPrefix) + "\n" + text[j:]
	if want == text {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
		return
	}
	t.Fatalf("%s is out of date with config.Parameters; run: go generate ./internal/config", path)
}

func TestParametersAreDocumentedOnce(t *testing.T) {
	for _, list := range [][]ParameterDoc{Parameters, SecretKeys} {
		seen := map[string]bool{}
		for _, p := range list {
			if seen[p.Name] {
				t.Errorf("%s listed twice", p.Name)
			}
			seen[p.Name] = true
			if p.Description == "" {
				t.Errorf("%s has no description", p.Name)
			}
			switch p.RequiredWhen {
			case "", requiredAlways, whenPagerDuty, whenOpsgenie, whenJSM:
			default:
				t.Errorf("%s: unknown RequiredWhen %q", p.Name, p.RequiredWhen)
			}
		}
	}
	// Every documented parameter is read: a tree holding all of them
	// produces no unknown-parameter warning.
	params := minimalParams()
	for _, p := range Parameters {
		if _, ok := params[p.Name]; !ok && p.Default != "" {
			params[p.Name] = p.Default
		}
	}
	cfg, err := Parse(params, mustJSON(t, fullSecret()))
	if err != nil {
		t.Fatalf("documented defaults do not parse: %v", err)
	}
	if len(cfg.Warnings) > 0 {
		t.Fatalf("warnings for documented names: %q", cfg.Warnings)
	}
}
