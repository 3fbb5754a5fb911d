package pagerduty

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// limiter is a token bucket shared by every call of one Client, so that a
// burst of work in one invocation stays under PagerDuty's per-key limit
// instead of collecting 429s. golang.org/x/time/rate is not among the
// module's dependencies and this needs only Wait, so it is written here.
//
// It runs on the real monotonic clock, not on core.Clock: it has to sleep,
// and a test clock that does not move would make it wait forever.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration // time to earn one token
	burst    float64
	tokens   float64
	last     time.Time
}

// newLimiter allows perMinute requests per minute with bursts of up to one
// second's worth (at least one request).
func newLimiter(perMinute int) *limiter {
	burst := float64(perMinute / 60)
	if burst < 1 {
		burst = 1
	}
	return &limiter{
		interval: time.Minute / time.Duration(perMinute),
		burst:    burst,
		tokens:   burst,
	}
}

// reserve takes a token and returns how long the caller must wait before
// using it (zero when one was available).
func (l *limiter) reserve(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens += float64(now.Sub(l.last)) / float64(l.interval)
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
	}
	l.last = now
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens * float64(l.interval))
}

// unreserve gives back a token a caller will not use.
func (l *limiter) unreserve() {
	l.mu.Lock()
	l.tokens++
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
	l.mu.Unlock()
}

// wait blocks until the caller may send one request. It returns ctx's error
// (wrapped) when ctx ends first, and fails at once, as a transient error
// carrying the wait, when ctx's deadline comes before the token would.
func (l *limiter) wait(ctx context.Context, call string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	d := l.reserve(time.Now())
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		l.unreserve()
		return core.Transient(fmt.Errorf("%s: client-side rate limit needs a wait of %s, longer than the time left: %w", call, d.Round(time.Millisecond), context.DeadlineExceeded), d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.unreserve()
		return fmt.Errorf("%s: waiting for the client-side rate limit: %w", call, ctx.Err())
	}
}
