package testenv

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Moto is a running moto_server: a real AWS-protocol server for DynamoDB,
// SSM Parameter Store and Secrets Manager on a loopback port.
type Moto struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	cmd      *exec.Cmd
	proxy    *http.Server
	logPath  string
	stopOnce sync.Once
}

// Region used against moto.
const Region = "us-east-1"

var (
	sharedMoto     *Moto
	sharedMotoErr  error
	sharedMotoOnce sync.Once
)

// StartMoto returns the package-wide moto_server, starting it on first use.
// One server is shared by all tests of a test binary; tests isolate
// themselves by unique table names, parameter prefixes and secret names.
// The server is stopped by StopMoto (call it from TestMain) or when the test
// binary exits.
func StartMoto(tb testing.TB) *Moto {
	tb.Helper()
	sharedMotoOnce.Do(func() { sharedMoto, sharedMotoErr = startMoto() })
	if sharedMotoErr != nil {
		tb.Fatalf("start moto_server: %v (install it with: pip install 'moto[server]')", sharedMotoErr)
	}
	return sharedMoto
}

// StopMoto stops the shared moto_server if one was started.
func StopMoto() {
	if sharedMoto != nil {
		sharedMoto.Stop()
	}
}

// StartMotoProcess starts a moto_server of its own, outside any test (the
// operator CLI's sandbox mode). The caller stops it with Stop. It fails
// when moto_server is not installed (pip install 'moto[server]').
func StartMotoProcess() (*Moto, error) {
	m, err := startMoto()
	if err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	return m, nil
}

// Stop kills the moto_server process group and closes the loopback proxy
// in front of it. It may be called more than once.
func (m *Moto) Stop() {
	m.stopOnce.Do(func() {
		if m.proxy != nil {
			_ = m.proxy.Close()
		}
		if m.cmd != nil && m.cmd.Process != nil {
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			_ = m.cmd.Wait()
		}
		if m.logPath != "" {
			_ = os.Remove(m.logPath)
		}
	})
}

func startMoto() (*Moto, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	logFile, err := os.CreateTemp("", "moto-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group, so the python process and any children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	backend := fmt.Sprintf("http://127.0.0.1:%d", port)
	m := &Moto{cmd: cmd, logPath: logFile.Name()}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(backend + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			m.Endpoint, m.proxy, err = serialize(backend)
			if err != nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				_ = cmd.Wait()
				return nil, err
			}
			return m, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	out, _ := os.ReadFile(filepath.Clean(logFile.Name()))
	return nil, fmt.Errorf("moto_server did not answer on %s within 60s: %s", m.Endpoint, out)
}

// AWSConfig returns an SDK config pointed at moto with static dummy
// credentials and no retries, so a test sees every failure.
func (m *Moto) AWSConfig() aws.Config {
	return aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint:     aws.String(m.Endpoint),
		RetryMaxAttempts: 1,
	}
}

// Reset clears every resource moto holds. Tests that share moto should
// prefer unique names over Reset.
func (m *Moto) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// serialize starts a reverse proxy on loopback that hands moto one request
// at a time and returns its URL. moto_server serves each request on its own
// thread and moto's DynamoDB backend does not lock, so two conditional
// writes to one item can both pass their check; DynamoDB never allows that.
// Serializing restores the per-item atomicity the store relies on.
func serialize(backend string) (string, *http.Server, error) {
	target, err := url.Parse(backend)
	if err != nil {
		return "", nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// Tests cancel calls on purpose (simulated crashes); the proxy's
	// "context canceled" lines would only be noise.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	var mu sync.Mutex
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), srv, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
