package lambdart_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/lambdart"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// The benchmarks below measure the functions as Lambda runs them: their
// deployed build, started as a process by the emulator, against the
// loopback sandboxes. MB in their metrics is 2^20 bytes, as Lambda counts
// memory. Run them with `make bench`, or:
//
//	go test -run '^$' -bench . -benchtime 1x ./internal/lambdart/

// lambdaGoFlags are the Makefile's LAMBDA_GOFLAGS: with CGO_ENABLED=0, how
// the deployed bootstraps are built.
var lambdaGoFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// functionNames are the functions/<name> packages.
var functionNames = []string{"poller", "webhook", "reconcile"}

const (
	// deployedMemoryMB is the functions' MemorySize (template.yaml, CDK).
	deployedMemoryMB = 256
	// minLambdaMemoryMB is the smallest memory size Lambda offers.
	minLambdaMemoryMB = 128
	// peakRequests is how many pending requests BenchmarkPollerPeakRSS
	// polls.
	peakRequests = 1000
	// peakTimeout is the poller's timeout in BenchmarkPollerPeakRSS, well
	// above what opening peakRequests incidents takes: the function's
	// PagerDuty client keeps to pagerduty.DefaultRequestsPerMinute (900;
	// no parameter changes it), so that alone is over a minute.
	peakTimeout = 5 * time.Minute
)

var (
	lambdaMu    sync.Mutex
	lambdaBuilt = map[string]error{} // by output path
)

// lambdaBinary builds functions/<name> as `make build-lambdas` does
// (CGO_ENABLED=0, lambdaGoFlags), but for goos/goarch, once per test
// binary, and returns the path of its bootstrap.
func lambdaBinary(b *testing.B, name, goos, goarch string) string {
	b.Helper()
	lambdaMu.Lock()
	defer lambdaMu.Unlock()
	out := filepath.Join(binDir, "lambda-"+goos+"-"+goarch, name, "bootstrap")
	err, done := lambdaBuilt[out]
	if !done {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		args := append(append([]string{"build"}, lambdaGoFlags...), "-o", out, "./functions/"+name)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		if output, cerr := cmd.CombinedOutput(); cerr != nil {
			err = fmt.Errorf("build %s for %s/%s as for Lambda: %w\n%s", name, goos, goarch, cerr, output)
		}
		lambdaBuilt[out] = err
	}
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// deployedEnv is functionEnv with the deployed memory size.
func deployedEnv(e *testenv.Env, prefix string) []string {
	return append(functionEnv(e, prefix), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(deployedMemoryMB))
}

// invokeLambda delivers event with the given function timeout and fails
// the benchmark, with the function's logs, unless the function answered.
func invokeLambda(b *testing.B, s *lambdart.Server, event []byte, timeout time.Duration) lambdart.Result {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	res, err := s.Invoke(ctx, event, timeout)
	if err != nil {
		b.Fatalf("%v\nlogs:\n%s", err, s.Logs())
	}
	if res.Error != nil {
		b.Fatalf("function failed: %v\nlogs:\n%s", res.Error, s.Logs())
	}
	return res
}

// durations holds one measurement per iteration.
type durations []time.Duration

func (d durations) mean() time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// coldStart is one function's first invocation after a cold start.
type coldStart struct {
	name  string
	event func(b *testing.B) []byte
	// check fails the benchmark unless res is the answer expected from a
	// world without pending requests.
	check func(b *testing.B, res lambdart.Result)
}

var coldStarts = []coldStart{
	{
		name:  "poller",
		event: func(b *testing.B) []byte { return sampleEvent(b, "poller-schedule.json") },
		check: func(b *testing.B, res lambdart.Result) {
			if r := decodeReport(b, res); !r.OK || r.Result.Pending != 0 || r.Result.Errors != 0 {
				b.Fatalf("poller answered %s", res.Payload)
			}
		},
	},
	{
		// A press on an alert oncallgate never opened: like a real press,
		// it loads the configuration, authenticates and reads the table;
		// unlike one, it changes nothing, so every iteration does the same.
		name:  "webhook",
		event: func(b *testing.B) []byte { return sampleEvent(b, "webhook-pagerduty-approve.json") },
		check: func(b *testing.B, res lambdart.Result) {
			if res.HTTP == nil || res.HTTP.StatusCode != http.StatusNotFound {
				b.Fatalf("webhook answered %q, want a function URL response 404 (unknown alert)", res.Payload)
			}
		},
	},
	{
		name:  "reconcile",
		event: func(b *testing.B) []byte { return sampleEvent(b, "reconcile-schedule.json") },
		check: func(b *testing.B, res lambdart.Result) {
			if r := decodeReport(b, res); !r.OK || r.Repairs.Errors != 0 {
				b.Fatalf("reconcile answered %s", res.Payload)
			}
		},
	},
}

// BenchmarkColdStart starts each function's deployed build (for the host's
// OS and architecture) b.N times, a fresh process each time, and measures
// from starting the process to the answer of its first invocation, whose
// event is waiting when the runtime first asks for one, as when Lambda
// cold-starts a function for an event. The world has no pending request.
// What Lambda does before the process starts (fetching the code, the
// microVM) is not included, nor are Lambda's CPU share at 256 MB and real
// network round trips to AWS, Teleport and PagerDuty: the numbers are the
// function's own part, on this machine, against loopback.
//
// Metrics: ms/cold-start (mean; -min and -max), split into ms/init (from
// the start to the runtime's first request for an event: Go runtime
// start-up and main's wiring) and ms/first-invoke (from delivery of the
// event to the answer: the handler's first run, which loads the
// configuration and connects to Teleport), and on Linux MB/peak-rss, the
// highest VmHWM after the first invocation: the function's baseline
// memory with nothing to do.
func BenchmarkColdStart(b *testing.B) {
	e := testenv.NewEnv(b)
	e.PD.AddService("Teleport Notifications")
	prefix := e.WriteConfig(nil, map[string]string{"pagerduty_webhook_secret": "example-webhook-secret"})
	env := deployedEnv(e, prefix)
	for _, c := range coldStarts {
		b.Run(c.name, func(b *testing.B) {
			bin := lambdaBinary(b, c.name, runtime.GOOS, runtime.GOARCH)
			event := c.event(b)
			s, err := lambdart.Start(b)
			if err != nil {
				b.Fatal(err)
			}
			var total, invoke durations
			var peak int64 // bytes
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := s.Run(bin, env); err != nil {
					b.Fatal(err)
				}
				res := invokeLambda(b, s, event, functionTimeout)
				elapsed := time.Since(start)
				b.StopTimer()
				c.check(b, res)
				total, invoke = append(total, elapsed), append(invoke, res.Duration)
				if runtime.GOOS == "linux" {
					peak = max(peak, vmHWM(b, s.PID()))
				}
				if err := s.Stop(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(ms(total.mean()), "ms/cold-start")
			b.ReportMetric(ms(slices.Min(total)), "ms/cold-start-min")
			b.ReportMetric(ms(slices.Max(total)), "ms/cold-start-max")
			b.ReportMetric(ms(total.mean()-invoke.mean()), "ms/init")
			b.ReportMetric(ms(invoke.mean()), "ms/first-invoke")
			if runtime.GOOS == "linux" {
				b.ReportMetric(mib(peak), "MB/peak-rss")
			}
		})
	}
}

// BenchmarkBinarySize reports the size of each function's bootstrap built
// as for Lambda, for the host (what the other benchmarks run) and for
// linux/arm64 (what is deployed): MB/binary, and MB/zip for a deployment
// package holding just that bootstrap (deflate at the default level; what
// Lambda stores and fetches on a cold start, limited to 50 MB for a direct
// upload). The iterations only stat the file.
func BenchmarkBinarySize(b *testing.B) {
	targets := []string{runtime.GOOS + "/" + runtime.GOARCH}
	if targets[0] != "linux/arm64" {
		targets = append(targets, "linux/arm64")
	}
	for _, name := range functionNames {
		b.Run(name, func(b *testing.B) {
			for _, target := range targets {
				goos, goarch, _ := strings.Cut(target, "/")
				b.Run(goos+"-"+goarch, func(b *testing.B) {
					bin := lambdaBinary(b, name, goos, goarch)
					zipped, err := zippedSize(bin)
					if err != nil {
						b.Fatal(err)
					}
					b.ResetTimer()
					var size int64
					for range b.N {
						fi, err := os.Stat(bin)
						if err != nil {
							b.Fatal(err)
						}
						size = fi.Size()
					}
					b.ReportMetric(mib(size), "MB/binary")
					b.ReportMetric(mib(zipped), "MB/zip")
				})
			}
		})
	}
}

// zippedSize is the size of a zip archive holding bin as bootstrap.
func zippedSize(bin string) (int64, error) {
	f, err := os.Open(bin)
	if err != nil {
		return 0, fmt.Errorf("zip %s: %w", bin, err)
	}
	defer f.Close()
	var n byteCounter
	zw := zip.NewWriter(&n)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		return 0, fmt.Errorf("zip %s: %w", bin, err)
	}
	if _, err := io.Copy(w, f); err != nil {
		return 0, fmt.Errorf("zip %s: %w", bin, err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("zip %s: %w", bin, err)
	}
	return int64(n), nil
}

// byteCounter is an io.Writer that only counts.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// BenchmarkPollerPeakRSS measures the peak resident memory (VmHWM) of the
// poller's deployed build polling 1,000 pending access requests that are
// each to be notified to a PagerDuty service. One process is invoked
// twice: cold, opening all 1,000 incidents (new), then warm with nothing
// to do (steady); VmHWM is reset in between (clear_refs), so each
// invocation has its own peak, though the steady one starts from what the
// first left resident. A second process then polls the same requests
// cold, in steady state (steady-cold: a sandbox Lambda recycled).
//
// Each iteration is a fresh world and takes over a minute (see
// peakTimeout), so run it with -benchtime 1x; ns/op is the wall time of
// the first process's two invocations. With b.N > 1, the peaks are the
// highest seen and the durations the means.
//
// Metrics: MB/peak-rss-new, MB/peak-rss-steady, MB/peak-rss-steady-cold,
// MB/peak-rss (the highest of them), pct-of-256MB (that against the
// deployed memory size), MB/lambda-min-memory (the smallest memory size
// Lambda offers that holds that peak, with no headroom), s/invoke-new and
// s/invoke-steady. Linux only: it reads /proc/<pid>/status.
func BenchmarkPollerPeakRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads VmHWM from /proc/<pid>/status, which only Linux has")
	}
	bin := lambdaBinary(b, "poller", runtime.GOOS, runtime.GOARCH)
	event := sampleEvent(b, "poller-schedule.json")
	var peakNew, peakSteady, peakSteadyCold int64 // bytes
	steadySeparate := true
	var invokeNew, invokeSteady durations

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e := testenv.NewEnv(b)
		e.PD.AddService("Teleport Notifications")
		for range peakRequests {
			e.Request("alice@example.com", []string{"dev"}, notifyAnnotations)
		}
		env := deployedEnv(e, e.WriteConfig(nil, nil))
		s, err := lambdart.Start(b)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		if err := s.Run(bin, env); err != nil {
			b.Fatal(err)
		}
		pid := s.PID()
		res := invokeLambda(b, s, event, peakTimeout)
		checkPoll(b, res, peakRequests)
		invokeNew = append(invokeNew, res.Duration)
		peakNew = max(peakNew, vmHWM(b, pid))
		if err := resetPeakRSS(pid); err != nil {
			b.Logf("cannot reset the peak RSS between invocations (%v): MB/peak-rss-steady is left out", err)
			steadySeparate = false
		}
		res = invokeLambda(b, s, event, peakTimeout)
		checkPoll(b, res, 0)
		invokeSteady = append(invokeSteady, res.Duration)
		if steadySeparate {
			peakSteady = max(peakSteady, vmHWM(b, pid))
		} else {
			peakNew = max(peakNew, vmHWM(b, pid))
		}
		b.StopTimer()
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
		if n := len(e.PD.Incidents()); n != peakRequests {
			b.Fatalf("%d incidents, want %d", n, peakRequests)
		}

		if err := s.Run(bin, env); err != nil {
			b.Fatal(err)
		}
		res = invokeLambda(b, s, event, peakTimeout)
		checkPoll(b, res, 0)
		peakSteadyCold = max(peakSteadyCold, vmHWM(b, s.PID()))
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()

	peak := max(peakNew, peakSteady, peakSteadyCold)
	b.ReportMetric(mib(peakNew), "MB/peak-rss-new")
	if steadySeparate {
		b.ReportMetric(mib(peakSteady), "MB/peak-rss-steady")
	}
	b.ReportMetric(mib(peakSteadyCold), "MB/peak-rss-steady-cold")
	b.ReportMetric(mib(peak), "MB/peak-rss")
	b.ReportMetric(100*mib(peak)/deployedMemoryMB, "pct-of-256MB")
	b.ReportMetric(max(minLambdaMemoryMB, math.Ceil(mib(peak))), "MB/lambda-min-memory")
	b.ReportMetric(invokeNew.mean().Seconds(), "s/invoke-new")
	b.ReportMetric(invokeSteady.mean().Seconds(), "s/invoke-steady")
}

// checkPoll fails the benchmark unless the poller saw every pending
// request, without errors, and opened wantCreated alerts.
func checkPoll(b *testing.B, res lambdart.Result, wantCreated int) {
	b.Helper()
	r := decodeReport(b, res)
	if !r.OK || r.Result.Pending != peakRequests || r.Result.AlertsCreated != wantCreated || r.Result.Errors != 0 {
		b.Fatalf("poller answered %s, want %d pending, %d created, no errors", res.Payload, peakRequests, wantCreated)
	}
}

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(b *testing.B, pid int) int64 {
	b.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatalf("read the function's status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		// "VmHWM:	   61234 kB"
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM of process %d: %v", pid, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmHWM in the status of process %d:\n%s", pid, status)
	return 0
}

// resetPeakRSS sets VmHWM of process pid back to its current RSS (Linux
// 4.0 and later: "5" written to /proc/<pid>/clear_refs).
func resetPeakRSS(pid int) error {
	f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open clear_refs: %w", err)
	}
	if _, err := f.WriteString("5"); err != nil {
		_ = f.Close()
		return fmt.Errorf("write clear_refs: %w", err)
	}
	return f.Close()
}
