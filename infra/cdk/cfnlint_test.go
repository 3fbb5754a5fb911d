package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTemplatesPassCfnLint lints template.yaml and the synthesized stack
// (default and custom configuration) with cfn-lint, run from the repository
// root so .cfnlintrc applies. `make test` installs cfn-lint where missing.
func TestTemplatesPassCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint is not installed; `make test-deps` installs it (python3 -m pip install cfn-lint)")
	}
	dir := tempDir(t)
	files := []string{"template.yaml"}
	for name, doc := range map[string]string{"example": exampleConfig(t), "custom": customConfig} {
		s := synth(t, name, doc)
		b, err := json.Marshal(s.json)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".template.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, f := range files {
		cmd := exec.Command(bin, f)
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cfn-lint %s: %v\n%s", f, err, out)
		}
	}
}
