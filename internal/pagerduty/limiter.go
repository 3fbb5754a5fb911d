package pagerduty

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// resetGranularity is the precision of ratelimit-reset (whole seconds): two
// answers whose windows end no more than this apart describe the same
// window.
const resetGranularity = time.Second

// limiter paces the requests of one Client. A request goes out only when
// three things allow it:
//   - no pause is running: a 429 holds every caller until its reset;
//   - the server's allowance is not used up: the latest rate-limit headers
//     said how many requests remain until the window resets, and every
//     request sent since counts against that;
//   - a token of the client's own bucket (Config.RequestsPerMinute, bursts
//     of one second's worth), so that one busy invocation stays under the
//     limit without having to be told.
//
// golang.org/x/time/rate is not among the module's dependencies and this
// needs more than its Wait, so it is written here.
//
// It runs on the real monotonic clock, not on core.Clock: it has to sleep,
// and a test clock that does not move would make it wait forever.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration // time to earn one token
	burst    float64
	tokens   float64
	last     time.Time

	// pauseUntil is when the pause after a 429 ends; it only moves later.
	pauseUntil time.Time
	// allowance is how many more requests the server lets through before
	// allowanceEnd (the end of its window); it counts down as requests
	// go out and means nothing after allowanceEnd.
	allowance    int
	allowanceEnd time.Time
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

// take lets a caller send now, or says how long it must wait and why.
// haveToken says the caller already holds a bucket token from an earlier
// take; token says whether it holds one now (a caller told to wait for the
// bucket keeps the token it was promised, and must unreserve it if it gives
// up). A zero wait means the caller may send, and its request has been
// counted against the server's allowance.
func (l *limiter) take(haveToken bool) (wait time.Duration, why string, token bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.pauseUntil) {
		return l.pauseUntil.Sub(now), "pagerduty answered 429 and every call pauses until its reset", haveToken
	}
	if l.allowance <= 0 && now.Before(l.allowanceEnd) {
		return l.allowanceEnd.Sub(now), "pagerduty's rate-limit headers allow no more requests until the reset", haveToken
	}
	if !haveToken {
		if d := l.reserve(now); d > 0 {
			return d, "client-side rate limit", true
		}
	}
	if now.Before(l.allowanceEnd) {
		l.allowance--
	}
	return 0, "", true
}

// reserve takes a token and returns how long the caller must wait before
// using it (zero when one was available). Callers hold l.mu.
func (l *limiter) reserve(now time.Time) time.Duration {
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
// carrying the wait, when ctx's deadline comes before the caller's turn.
// After every sleep it looks again, since a 429 or an answer's headers may
// have moved its turn while it slept.
func (l *limiter) wait(ctx context.Context, call string) error {
	token := false
	giveUp := func() {
		if token {
			l.unreserve()
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			giveUp()
			return fmt.Errorf("%s: %w", call, err)
		}
		d, why, tok := l.take(token)
		token = tok
		if d <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			giveUp()
			return core.Transient(fmt.Errorf("%s: %s; the wait of %s is longer than the time left: %w", call, why, d.Round(time.Millisecond), context.DeadlineExceeded), d)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			giveUp()
			return fmt.Errorf("%s: waiting for the rate limit (%s): %w", call, why, ctx.Err())
		}
	}
}

// observe learns from the rate-limit headers of an answer received at now:
// ratelimit-remaining more requests until ratelimit-reset from now. An
// answer without both headers changes nothing.
//
// Within one server window the allowance only falls: an answer to a request
// sent before others reports more remaining than those others have used, so
// it must not give them back. The count stays approximate all the same:
// requests in flight when an answer arrives were not yet counted by the
// server, and other clients of the same key spend it too (their use shows
// up in the next answer).
func (l *limiter) observe(now time.Time, h http.Header) {
	remaining, ok := countHeader(h, "ratelimit-remaining")
	if !ok {
		return
	}
	reset, ok := secondsHeader(h, "ratelimit-reset")
	if !ok {
		return
	}
	end := now.Add(reset)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.allowanceEnd) || end.Sub(l.allowanceEnd).Abs() > resetGranularity {
		// No window known, or the answer describes another one: trust it.
		l.allowance, l.allowanceEnd = remaining, end
		return
	}
	l.allowance = min(l.allowance, remaining)
	if end.After(l.allowanceEnd) {
		l.allowanceEnd = end
	}
}

// pause holds every caller until now+d (or later, if a pause already runs
// longer).
func (l *limiter) pause(now time.Time, d time.Duration) {
	end := now.Add(d)
	l.mu.Lock()
	if end.After(l.pauseUntil) {
		l.pauseUntil = end
	}
	l.mu.Unlock()
}

// countHeader parses a header holding a non-negative whole number.
func countHeader(h http.Header, name string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
