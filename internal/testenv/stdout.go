package testenv

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Stdout stands in for a function's standard output (or any log sink) in tests: the
// logger and the metrics emitter write to it from concurrent workers, and
// the test reads the JSON lines back.
type Stdout struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Stdout) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Stdout) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the lines written so far.
func (s *Stdout) Lines() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n"))
}

// EMF returns the CloudWatch Embedded Metric Format records (JSON lines
// with an "_aws" member) among lines.
func EMF(lines [][]byte) []map[string]any {
	var out []map[string]any
	for _, line := range lines {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["_aws"] != nil {
			out = append(out, rec)
		}
	}
	return out
}

// Reset forgets everything written so far.
func (s *Stdout) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
