package lambdart

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	defaultRegion = "us-east-1"
	// defaultMemoryMB is the memory size the function is told it has.
	defaultMemoryMB = "128"
	// lambdaPath is the PATH Lambda gives provided.al2023 functions.
	lambdaPath = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
)

// process is one run of the function binary.
type process struct {
	cmd        *exec.Cmd
	log        *os.File
	exited     chan struct{}
	initFailed chan struct{}

	mu      sync.Mutex
	err     error // from Wait, set before exited closes
	initErr *FunctionError
	logMark int64
}

// Run starts the function binary at bin as a child process, the way Lambda
// starts a provided-runtime `bootstrap`: working directory the binary's
// directory, an environment of Lambda's variables (AWS_LAMBDA_RUNTIME_API
// pointing at this server, AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, _HANDLER,
// LAMBDA_TASK_ROOT, ...) followed by env ("KEY=value"; a later entry wins,
// so env can override any default except AWS_LAMBDA_RUNTIME_API). Nothing
// of this process's own environment is passed on: give credentials and
// endpoints in env. AWS_EC2_METADATA_DISABLED=true is set by default so an
// SDK without credentials fails at once instead of looking for the
// instance metadata service.
//
// The function name defaults to the binary's name, or its directory's name
// when the binary is called bootstrap. Stdout and stderr go to a log file
// read by Logs and by each Result.
func (s *Server) Run(bin string, env []string) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return fmt.Errorf("run function %s: %w", bin, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("run function %s: %w", bin, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		select {
		case <-s.proc.exited:
		default:
			return ErrRunning
		}
		s.proc.removeLog()
	}

	name := filepath.Base(abs)
	if name == "bootstrap" {
		name = filepath.Base(filepath.Dir(abs))
	}
	name = strings.TrimSuffix(name, filepath.Ext(name))
	dir := filepath.Dir(abs)
	full := append(defaultEnv(name, dir), env...)
	full = append(full, "AWS_LAMBDA_RUNTIME_API="+s.addr)
	fn, region := lookup(full, "AWS_LAMBDA_FUNCTION_NAME"), lookup(full, "AWS_REGION")

	log, err := os.CreateTemp("", "lambdart-"+name+"-*.log")
	if err != nil {
		return fmt.Errorf("run function %s: create its log file: %w", name, err)
	}
	cmd := exec.Command(abs)
	cmd.Dir = dir
	cmd.Env = full
	cmd.Stdout, cmd.Stderr = log, log
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		_ = os.Remove(log.Name())
		return fmt.Errorf("run function %s: %w", name, err)
	}
	p := &process{cmd: cmd, log: log, exited: make(chan struct{}), initFailed: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	s.proc, s.function, s.region = p, fn, region
	return nil
}

// Stop kills the function process, if one is running, and waits for it.
// The server keeps serving: Run may start another process.
func (s *Server) Stop() error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	p.kill()
	<-p.exited
	return nil
}

// PID returns the operating system's process ID of the current function
// process, or of the last one after it exited (the ID may then belong to
// another process already); 0 before the first Run. It is for observing the
// process from outside, e.g. its memory in /proc/<pid>/status while it
// runs: signal or kill it through Stop, not through the ID.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Logs returns everything the current (or last) function process wrote to
// stdout and stderr.
func (s *Server) Logs() []byte {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	b, _ := os.ReadFile(p.log.Name())
	return b
}

// Exited reports whether the function process has exited, and how.
func (s *Server) Exited() (bool, error) {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return false, nil
	}
	select {
	case <-p.exited:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

func defaultEnv(name, dir string) []string {
	return []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + defaultMemoryMB,
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + strings.ReplaceAll(newRequestID(), "-", ""),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + defaultRegion,
		"AWS_DEFAULT_REGION=" + defaultRegion,
		"AWS_EC2_METADATA_DISABLED=true",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + dir,
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"PATH=" + lambdaPath,
	}
}

// lookup returns the last value of key in env.
func lookup(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
}

func (p *process) setInitError(fe *FunctionError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.initErr != nil {
		return
	}
	p.initErr = fe
	close(p.initFailed)
}

func (p *process) initError() *FunctionError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.initErr
}

// exitError describes the process's exit as Lambda does.
func (p *process) exitError() *FunctionError {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := "Runtime exited without providing a reason"
	var ee *exec.ExitError
	switch {
	case errors.As(p.err, &ee):
		msg = "Runtime exited with error: " + ee.Error()
	case p.err != nil:
		msg = "Runtime exited with error: " + p.err.Error()
	}
	return &FunctionError{Type: ErrorTypeExit, Message: msg}
}

// takeLogs returns the log written since the previous call.
func (p *process) takeLogs() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	fi, err := p.log.Stat()
	if err != nil || fi.Size() <= p.logMark {
		return nil
	}
	b := make([]byte, fi.Size()-p.logMark)
	n, _ := p.log.ReadAt(b, p.logMark)
	p.logMark += int64(n)
	return b[:n]
}

func (p *process) removeLog() {
	_ = p.log.Close()
	_ = os.Remove(p.log.Name())
}
