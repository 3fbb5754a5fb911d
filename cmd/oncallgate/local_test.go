package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"gopkg.in/yaml.v3"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/sandbox"
	"github.com/oncallgate/oncallgate/internal/store"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// child is `oncallgate local` running as a process of its own.
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	line chan string
	done chan error
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION="+testenv.Region,
		"AWS_ENDPOINT_URL=", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errLog, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = errLog
	c := &child{cmd: cmd, line: make(chan string, 100), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			select {
			case c.line <- sc.Text():
			default:
			}
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			raw, _ := os.ReadFile(errLog.Name())
			t.Logf("child stdout:\n%s\nchild stderr (last 4000 bytes):\n%s", c.output(), tail(string(raw), 4000))
		}
	})
	return c
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLocalRunsTheSystemAndStopsCleanlyOnSIGTERM runs `oncallgate local`
// as a process over the sandbox world with a local file and a local
// DynamoDB endpoint: a request gets its incident, Approve pressed in
// PagerDuty reaches the local webhook and Teleport, the incident resolves,
// and SIGTERM ends the process with 0 and every mapping settled.
func TestLocalRunsTheSystemAndStopsCleanlyOnSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	moto := testenv.StartMoto(t)
	w, err := sandbox.Start(ctx, sandbox.Options{Moto: moto})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plugin.identity"), []byte(w.Secret["teleport_identity"]), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := map[string]string{}
	for k, v := range w.Secret {
		if k != "teleport_identity" {
			secret[k] = v
		}
	}
	secret["teleport_identity_file"] = "plugin.identity"
	params := map[string]string{}
	for k, v := range w.Parameters {
		if k != "secret_id" {
			params[k] = v
		}
	}
	table := "oncallgate-local-" + testenv.RandomName()
	raw, err := yaml.Marshal(map[string]any{"table": table, "parameters": params, "secret": secret})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "oncallgate.local.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	c := startChild(t, "local", "--config", cfgPath, "--create-table", "--dynamodb-endpoint", moto.Endpoint,
		"--listen", "127.0.0.1:0", "--poll-interval", "300ms", "--reconcile-interval", "1s", "--grace", "20s",
		"--log", filepath.Join(dir, "app.log"))
	listening := regexp.MustCompile(`webhook listening on (http://127\.0\.0\.1:\d+)`)
	var webhookURL string
	timeout := time.After(30 * time.Second)
	for webhookURL == "" {
		select {
		case l := <-c.line:
			if m := listening.FindStringSubmatch(l); m != nil {
				webhookURL = m[1]
			}
		case err := <-c.done:
			t.Fatalf("oncallgate local exited before serving: %v", err)
		case <-timeout:
			t.Fatal("oncallgate local did not start serving within 30s")
		}
	}

	// A request gets its incident.
	carol, err := w.Request(sandbox.Carol, "check the dashboards", "prod-readonly")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "carol's incident", func() bool { _, ok := w.Incident(carol); return ok })
	in, _ := w.Incident(carol)

	// Bob approves from PagerDuty through the local webhook.
	status, body, err := w.PressPagerDutyAction(ctx, &http.Client{Timeout: 20 * time.Second}, webhookURL, in.ID, sandbox.Bob, true)
	if err != nil || status != http.StatusOK || !strings.Contains(body, `"accepted"`) {
		t.Fatalf("approve through the local webhook: %d %s %v", status, body, err)
	}
	reviews := w.Teleport.Reviews(carol)
	if len(reviews) != 1 || reviews[0].Proposed != core.StateApproved || reviews[0].Delegator != "pagerduty:"+sandbox.Bob {
		t.Fatalf("reviews after the approval = %+v", reviews)
	}
	eventually(t, 15*time.Second, "carol's incident resolved", func() bool { in, _ := w.Incident(carol); return in.Status == "resolved" })

	// A second request is open when the process is told to stop; a third
	// arrives just before.
	erin, err := w.Request(sandbox.Erin, "handover", "prod-readonly")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "erin's incident", func() bool { _, ok := w.Incident(erin); return ok })
	dave, err := w.Request(sandbox.Dave, "migration", "db-admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("oncallgate local exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("oncallgate local did not exit within 30s of SIGTERM")
	}
	out := c.output()
	t.Logf("oncallgate local said:\n%s", out)
	for _, want := range []string{"table " + table + " is ready", "teleport: connected to cluster", "stopping: no new runs", "stopped cleanly"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// Nothing lost: every mapping is open with its alert or resolved, none
	// is left claimed.
	st := store.New(dynamodb.NewFromConfig(moto.AWSConfig()), table)
	wantStatus := map[string]core.AlertStatus{carol: core.AlertResolved, erin: core.AlertOpen}
	for id, want := range wantStatus {
		alerts, err := st.GetAlerts(ctx, id)
		if err != nil || len(alerts) != 1 || alerts[0].Status != want || alerts[0].AlertID == "" {
			t.Errorf("mappings of %s = %+v, %v; want one %s with its alert", id, alerts, err, want)
		}
	}
	open, _, err := st.ListOpenAlerts(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range open {
		if a.Status == core.AlertClaimed {
			t.Errorf("claimed mapping left behind: %+v", a)
		}
		if a.RequestID != erin && a.RequestID != dave {
			t.Errorf("unexpected open mapping %+v", a)
		}
	}
	if alerts, err := st.GetAlerts(ctx, dave); err != nil {
		t.Error(err)
	} else {
		for _, a := range alerts {
			if a.Status != core.AlertOpen || (a.AlertID == "" && a.PendingRef == "") {
				t.Errorf("dave's mapping not settled: %+v", a)
			}
		}
	}
}

func TestLocalRefusesAMissingTableWithoutCreateTable(t *testing.T) {
	e := checkWorld(t)
	path := writeLocalConfig(t, e, "no-such-table", nil, nil)
	code, _, errOut := runCLI(t, "local", "--config", path, "--dynamodb-endpoint", e.Moto.Endpoint, "--listen", "127.0.0.1:0")
	if code != exitFailure || !strings.Contains(errOut, "table no-such-table does not exist; pass --create-table") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestLocalStopsWhenItsContextEnds(t *testing.T) {
	e := checkWorld(t)
	path := writeLocalConfig(t, e, e.Table, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		defer pw.Close()
		done <- run(ctx, []string{"local", "--config", path, "--dynamodb-endpoint", e.Moto.Endpoint, "--listen", "127.0.0.1:0", "--poll-interval", "100ms", "--log", filepath.Join(t.TempDir(), "log")}, pw, io.Discard)
	}()
	sc := bufio.NewScanner(pr)
	var out strings.Builder
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "polling every 100ms") {
			cancel()
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d, want 0:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "stopped cleanly") {
		t.Errorf("output:\n%s", out.String())
	}
	if e.Teleport.CallCount("ListAccessRequests") == 0 {
		t.Error("local never polled Teleport")
	}
}
