// Package testenv is the test harness the other packages' tests share: a
// real moto_server for DynamoDB, SSM and Secrets Manager, a controllable
// clock, and helpers that wire the sandboxes together. It is test-only
// support code and must never be imported by a Lambda function.
package testenv

import (
	"sync"
	"time"
)

// Clock is a core.Clock tests move by hand. The zero value starts at a fixed
// instant; it is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	}
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.Now()
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
