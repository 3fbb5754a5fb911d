package pagerdutytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
)

const bot = "bot@example.com"

// send makes one raw request; headers nil means the full correct set.
func send(t *testing.T, s *pagerdutytest.Server, method, path, body string, headers map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if headers == nil {
		headers = map[string]string{
			"Authorization": "Token token=" + s.APIKey(),
			"Accept":        "application/vnd.pagerduty+json;version=2",
			"Content-Type":  "application/json",
			"From":          bot,
		}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func without(s *pagerdutytest.Server, drop string) map[string]string {
	h := map[string]string{
		"Authorization": "Token token=" + s.APIKey(),
		"Accept":        "application/vnd.pagerduty+json;version=2",
		"Content-Type":  "application/json",
		"From":          bot,
	}
	delete(h, drop)
	return h
}

func errorCode(body map[string]any) float64 {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return c
}

func TestSandboxEnforcesHeaders(t *testing.T) {
	s := pagerdutytest.Start(t)
	s.AddUser(bot, "Bot")
	svc := s.AddService("Svc")
	create := fmt.Sprintf(`{"incident":{"type":"incident","title":"t","service":{"id":%q,"type":"service_reference"}}}`, svc.ID)
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		headers  map[string]string
		want     int
		wantCode float64
	}{
		{name: "wrong token is 401", method: "GET", path: "/users", headers: map[string]string{"Authorization": "Token token=nope", "Accept": "application/vnd.pagerduty+json;version=2"}, want: 401, wantCode: 2006},
		{name: "missing token is 401", method: "GET", path: "/users", headers: without(s, "Authorization"), want: 401, wantCode: 2006},
		{name: "missing Accept is refused", method: "GET", path: "/users", headers: without(s, "Accept"), want: 406},
		{name: "write without From is 400", method: "POST", path: "/incidents", body: create, headers: without(s, "From"), want: 400, wantCode: 2001},
		{name: "write as an unknown user is 400", method: "POST", path: "/incidents", body: create, headers: map[string]string{"Authorization": "Token token=" + s.APIKey(), "Accept": "application/vnd.pagerduty+json;version=2", "Content-Type": "application/json", "From": "ghost@example.com"}, want: 400, wantCode: 2001},
		{name: "From compares case-insensitively", method: "POST", path: "/incidents", body: create, headers: map[string]string{"Authorization": "Token token=" + s.APIKey(), "Accept": "application/vnd.pagerduty+json;version=2", "Content-Type": "application/json", "From": "BOT@example.com"}, want: 201},
		{name: "reads need no From", method: "GET", path: "/users", headers: without(s, "From"), want: 200},
		{name: "unknown endpoint is 404", method: "GET", path: "/nothing", want: 404, wantCode: 2100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, body := send(t, s, tt.method, tt.path, tt.body, tt.headers)
			if got != tt.want {
				t.Fatalf("status %d, want %d (%v)", got, tt.want, body)
			}
			if tt.wantCode != 0 && errorCode(body) != tt.wantCode {
				t.Fatalf("error code %v, want %v (%v)", errorCode(body), tt.wantCode, body)
			}
		})
	}
}

func TestSandboxRefusesSecondOpenIncidentWithKey(t *testing.T) {
	s := pagerdutytest.Start(t)
	s.AddUser(bot, "Bot")
	svc := s.AddService("Svc")
	other := s.AddService("Other")
	body := func(serviceID string) string {
		return fmt.Sprintf(`{"incident":{"type":"incident","title":"t","incident_key":"k1","service":{"id":%q,"type":"service_reference"}}}`, serviceID)
	}
	if st, _, b := send(t, s, "POST", "/incidents", body(svc.ID), nil); st != 201 {
		t.Fatalf("first create: %d %v", st, b)
	}
	st, _, b := send(t, s, "POST", "/incidents", body(svc.ID), nil)
	if st != 400 || errorCode(b) != 2001 {
		t.Fatalf("second create: %d %v, want 400 code 2001", st, b)
	}
	e := b["error"].(map[string]any)
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("error has no message: %v", b)
	}
	if errs, _ := e["errors"].([]any); len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "k1") {
		t.Errorf("errors = %v, want one naming the key", e["errors"])
	}
	if st, _, b := send(t, s, "POST", "/incidents", body(other.ID), nil); st != 201 {
		t.Fatalf("same key in another service: %d %v, want 201", st, b)
	}
	s.Resolve(s.Incidents()[0].ID) // the one in svc
	if st, _, b := send(t, s, "POST", "/incidents", body(svc.ID), nil); st != 201 {
		t.Fatalf("create after resolve: %d %v, want 201", st, b)
	}
}

func TestSandboxPaginates(t *testing.T) {
	s := pagerdutytest.Start(t, pagerdutytest.WithMaxPageSize(2))
	for i := range 5 {
		s.AddUser(fmt.Sprintf("user%d@example.com", i), "User")
	}
	tests := []struct {
		query     string
		wantN     int
		wantMore  bool
		wantLimit float64
		wantTotal any
	}{
		{query: "", wantN: 2, wantMore: true, wantLimit: 2, wantTotal: nil},
		{query: "?limit=100&offset=2", wantN: 2, wantMore: true, wantLimit: 2, wantTotal: nil},
		{query: "?limit=100&offset=4&total=true", wantN: 1, wantMore: false, wantLimit: 2, wantTotal: float64(5)},
		{query: "?limit=1&offset=9", wantN: 0, wantMore: false, wantLimit: 1, wantTotal: nil},
	}
	for _, tt := range tests {
		t.Run("users"+tt.query, func(t *testing.T) {
			st, _, b := send(t, s, "GET", "/users"+tt.query, "", nil)
			if st != 200 {
				t.Fatalf("status %d: %v", st, b)
			}
			users, _ := b["users"].([]any)
			if len(users) != tt.wantN || b["more"] != tt.wantMore || b["limit"] != tt.wantLimit || b["total"] != tt.wantTotal {
				t.Fatalf("got %d users, more=%v limit=%v total=%v; want %d, %v, %v, %v", len(users), b["more"], b["limit"], b["total"], tt.wantN, tt.wantMore, tt.wantLimit, tt.wantTotal)
			}
		})
	}
	if st, _, _ := send(t, s, "GET", "/users?limit=-1", "", nil); st != 400 {
		t.Errorf("negative limit: status %d, want 400", st)
	}
}

func TestSandboxLimitsCustomActionsPerService(t *testing.T) {
	s := pagerdutytest.Start(t)
	s.AddUser(bot, "Bot")
	svc := s.AddService("Svc")
	body := fmt.Sprintf(`{"extension":{"name":"a","endpoint_url":"https://example.com/x","extension_schema":{"id":"PCUSTWH","type":"extension_schema_reference"},"extension_objects":[{"id":%q,"type":"service_reference"}],"config":{"headers":[{"name":"h","value":"v"}]}}}`, svc.ID)
	for i := range 3 {
		if st, _, b := send(t, s, "POST", "/extensions", body, nil); st != 201 {
			t.Fatalf("extension %d: %d %v", i, st, b)
		}
	}
	if st, _, b := send(t, s, "POST", "/extensions", body, nil); st != 400 {
		t.Fatalf("fourth custom action: %d %v, want 400", st, b)
	}
	if exts := s.Extensions(); len(exts) != 3 || exts[0].Headers[0] != (pagerdutytest.Header{Name: "h", Value: "v"}) {
		t.Fatalf("extensions = %+v", exts)
	}
}

func TestSandboxFaults(t *testing.T) {
	t.Run("faults hit only matching requests, n times", func(t *testing.T) {
		s := pagerdutytest.Start(t)
		s.FailNext(2, pagerdutytest.Fault{Kind: pagerdutytest.ServerError, Method: "GET", PathPrefix: "/services"})
		if st, _, _ := send(t, s, "GET", "/users", "", nil); st != 200 {
			t.Fatalf("other path: %d, want 200", st)
		}
		for i := range 2 {
			if st, _, _ := send(t, s, "GET", "/services", "", nil); st != 500 {
				t.Fatalf("faulty call %d: %d, want 500", i, st)
			}
		}
		if st, _, _ := send(t, s, "GET", "/services", "", nil); st != 200 {
			t.Fatalf("after the faults: %d, want 200", st)
		}
		if s.Calls() != 4 || s.CallCount("GET /services") != 3 || s.CallCount("GET /users") != 1 {
			t.Fatalf("counts: %d total, %v", s.Calls(), s.CallCounts())
		}
	})
	t.Run("429 carries ratelimit headers only when asked", func(t *testing.T) {
		s := pagerdutytest.Start(t)
		s.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: 1500 * time.Millisecond})
		s.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.RateLimitedNoHeaders})
		st, h, b := send(t, s, "GET", "/users", "", nil)
		if st != 429 || h.Get("ratelimit-reset") != "2" || errorCode(b) != 2020 {
			t.Fatalf("first: %d reset=%q %v", st, h.Get("ratelimit-reset"), b)
		}
		st, h, _ = send(t, s, "GET", "/users", "", nil)
		if st != 429 || h.Get("ratelimit-reset") != "" || h.Get("ratelimit-limit") != "" {
			t.Fatalf("second: %d %v", st, h)
		}
	})
	t.Run("hang lasts until the client gives up", func(t *testing.T) {
		s := pagerdutytest.Start(t)
		s.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.Hang})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/users", nil)
		_, err := http.DefaultClient.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the client's deadline", err)
		}
	})
	t.Run("rate limit answers 429 past the budget", func(t *testing.T) {
		s := pagerdutytest.Start(t, pagerdutytest.WithRateLimit(2))
		for i := range 2 {
			if st, _, _ := send(t, s, "GET", "/users", "", nil); st != 200 {
				t.Fatalf("call %d: %d", i, st)
			}
		}
		st, h, _ := send(t, s, "GET", "/users", "", nil)
		if st != 429 || h.Get("ratelimit-remaining") != "0" || h.Get("ratelimit-reset") == "" {
			t.Fatalf("third call: %d %v", st, h)
		}
	})
}

func TestSandboxIncidentFilters(t *testing.T) {
	s := pagerdutytest.Start(t)
	alice := s.AddUser("alice@example.com", "Alice")
	bob := s.AddUser("bob@example.com", "Bob")
	svc := s.AddService("Svc")
	a1 := s.AddIncident(svc.ID, alice.ID, "triggered", pagerdutytest.WithKey("k"))
	s.AddIncident(svc.ID, alice.ID, "resolved", pagerdutytest.WithKey("k"))
	b1 := s.AddIncident(svc.ID, bob.ID, "acknowledged")
	tests := []struct {
		query string
		want  []string
	}{
		{query: "?incident_key=k&statuses[]=triggered&statuses[]=acknowledged", want: []string{a1.ID}},
		{query: "?user_ids[]=" + bob.ID, want: []string{b1.ID}},
		{query: "?incident_key=none", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, _, b := send(t, s, "GET", "/incidents"+tt.query, "", nil)
			var got []string
			for _, in := range b["incidents"].([]any) {
				got = append(got, in.(map[string]any)["id"].(string))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if st, _, _ := send(t, s, "GET", "/incidents?statuses[]=bogus", "", nil); st != 400 {
		t.Errorf("bogus status: %d, want 400", st)
	}
}

func TestSandboxRateLimitHeaders(t *testing.T) {
	t.Run("every answer carries the window while a limit is set", func(t *testing.T) {
		s := pagerdutytest.Start(t, pagerdutytest.WithRateLimit(3))
		steps := []struct {
			name          string
			headers       map[string]string
			wantStatus    int
			wantRemaining string
		}{
			{name: "refused token", headers: map[string]string{"Authorization": "Token token=nope", "Accept": "application/vnd.pagerduty+json;version=2"}, wantStatus: 401, wantRemaining: "2"},
			{name: "second", wantStatus: 200, wantRemaining: "1"},
			{name: "last of the budget", wantStatus: 200, wantRemaining: "0"},
			{name: "past the budget", wantStatus: 429, wantRemaining: "0"},
		}
		for _, st := range steps {
			status, h, b := send(t, s, "GET", "/users", "", st.headers)
			if status != st.wantStatus || h.Get("ratelimit-limit") != "3" || h.Get("ratelimit-remaining") != st.wantRemaining {
				t.Fatalf("%s: %d limit=%q remaining=%q %v; want %d, 3, %s", st.name, status, h.Get("ratelimit-limit"), h.Get("ratelimit-remaining"), b, st.wantStatus, st.wantRemaining)
			}
			if reset, err := strconv.Atoi(h.Get("ratelimit-reset")); err != nil || reset < 1 || reset > 60 {
				t.Fatalf("%s: ratelimit-reset %q, want whole seconds in [1, 60]", st.name, h.Get("ratelimit-reset"))
			}
			if status == 429 && errorCode(b) != 2020 {
				t.Fatalf("%s: error code %v, want 2020", st.name, errorCode(b))
			}
		}
		if got := s.RateLimitedCount(); got != 1 {
			t.Fatalf("RateLimitedCount = %d, want 1", got)
		}
	})
	t.Run("no headers without a limit", func(t *testing.T) {
		s := pagerdutytest.Start(t)
		st, h, _ := send(t, s, "GET", "/users", "", nil)
		if st != 200 || h.Get("ratelimit-limit") != "" || h.Get("ratelimit-remaining") != "" || h.Get("ratelimit-reset") != "" {
			t.Fatalf("%d %v, want 200 without rate-limit headers", st, h)
		}
	})
	t.Run("injected 429s are counted", func(t *testing.T) {
		s := pagerdutytest.Start(t)
		s.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.RateLimited, Reset: time.Second})
		s.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.RateLimitedNoHeaders})
		s.FailNext(1, pagerdutytest.Fault{Kind: pagerdutytest.ServerError})
		for range 4 {
			send(t, s, "GET", "/users", "", nil)
		}
		if got := s.RateLimitedCount(); got != 2 {
			t.Fatalf("RateLimitedCount = %d, want 2", got)
		}
	})
}

func TestSandboxLatency(t *testing.T) {
	t.Run("answers come after at least the minimum", func(t *testing.T) {
		const lo, hi = 150 * time.Millisecond, 200 * time.Millisecond
		s := pagerdutytest.Start(t, pagerdutytest.WithLatency(lo, hi))
		for i := range 3 {
			start := time.Now()
			if st, _, b := send(t, s, "GET", "/users", "", nil); st != 200 {
				t.Fatalf("call %d: %d %v", i, st, b)
			}
			if d := time.Since(start); d < lo {
				t.Fatalf("call %d answered after %s, want at least %s", i, d, lo)
			}
		}
	})
	t.Run("a client giving up ends the wait", func(t *testing.T) {
		s := pagerdutytest.Start(t, pagerdutytest.WithLatency(time.Hour, time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/users", nil)
		if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the client's deadline", err)
		}
		if got := s.Calls(); got != 0 {
			t.Fatalf("Calls = %d, want 0: the request never got past the delay", got)
		}
		closeWithin(t, s, 30*time.Second) // hangs if the delayed handler still sleeps
	})
	t.Run("closing ends the wait and the delay holds no lock", func(t *testing.T) {
		s := pagerdutytest.Start(t, pagerdutytest.WithLatency(time.Hour, time.Hour))
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest("GET", s.URL()+"/users", nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		time.Sleep(100 * time.Millisecond) // most likely inside the delay by now
		s.AddUser(bot, "Bot")              // would block on a lock held while sleeping
		if got := len(s.Incidents()); got != 0 {
			t.Fatalf("%d incidents", got)
		}
		closeWithin(t, s, 30*time.Second)
		if err := <-done; err == nil {
			t.Fatal("the delayed request was answered, want the connection closed")
		}
	})
}

// closeWithin closes s, failing the test if that takes longer than d.
func closeWithin(t *testing.T, s *pagerdutytest.Server, d time.Duration) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(d):
		t.Fatalf("Close did not return within %s", d)
	}
}

// fixedClock is a sandbox clock that never moves.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func TestSandboxRecordsWhenCreatesArrive(t *testing.T) {
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	s := pagerdutytest.Start(t, pagerdutytest.WithClock(fixedClock(past)))
	s.AddUser(bot, "Bot")
	svc := s.AddService("Svc")
	added := s.AddIncident(svc.ID, s.AddUser("alice@example.com", "Alice").ID, "triggered")
	before := time.Now()
	body := fmt.Sprintf(`{"incident":{"type":"incident","title":"t","service":{"id":%q,"type":"service_reference"}}}`, svc.ID)
	if st, _, b := send(t, s, "POST", "/incidents", body, nil); st != 201 {
		t.Fatalf("create: %d %v", st, b)
	}
	after := time.Now()
	incs := s.Incidents()
	if len(incs) != 2 || incs[0].ID != added.ID {
		t.Fatalf("incidents = %+v", incs)
	}
	if !incs[0].ReceivedAt.IsZero() {
		t.Errorf("added incident has ReceivedAt %s, want zero", incs[0].ReceivedAt)
	}
	created := incs[1]
	if !created.CreatedAt.Equal(past) {
		t.Errorf("CreatedAt = %s, want the sandbox clock's %s", created.CreatedAt, past)
	}
	if created.ReceivedAt.Before(before) || created.ReceivedAt.After(after) {
		t.Errorf("ReceivedAt = %s, want the wall-clock time of the call, in [%s, %s]", created.ReceivedAt, before, after)
	}
}
