package lambdart

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultTimeout is the function timeout Invoke uses when given none.
	DefaultTimeout = 30 * time.Second
	// MaxBufferedResponse is Lambda's limit on a buffered response (6 MB).
	MaxBufferedResponse = 6 * 1024 * 1024
	// MaxStreamedResponse is Lambda's limit on a streamed response (20 MiB).
	MaxStreamedResponse = 20 * 1024 * 1024
	// maxErrorBody bounds an error document posted by the runtime.
	maxErrorBody = 1024 * 1024
	// AccountID is the account in the invoked function ARN.
	AccountID = "123456789012"
	// readHeaderTimeout bounds a runtime client's request headers.
	readHeaderTimeout = 10 * time.Second

	apiRoot = "/2018-06-01/runtime"

	// Headers of the Runtime API (as aws-lambda-go's client reads them).
	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	// headerResponseMode is what streaming runtimes (Node's
	// streamifyResponse, the Rust runtime) send; aws-lambda-go streams
	// without it, by the HTTP integration content type alone.
	headerResponseMode  = "Lambda-Runtime-Function-Response-Mode"
	headerErrorType     = "Lambda-Runtime-Function-Error-Type"
	trailerErrorType    = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody    = "Lambda-Runtime-Function-Error-Body"
	httpIntegrationType = "application/vnd.awslambda.http-integration-response"
)

// preludeSeparator ends the JSON prelude of a function URL streaming
// response.
var preludeSeparator = make([]byte, 8)

// Result is what one invocation produced.
type Result struct {
	// RequestID is the invocation's Lambda-Runtime-Aws-Request-Id.
	RequestID string
	// Payload is the response body exactly as the runtime posted it (for a
	// streamed function URL response: prelude, separator and body), or the
	// error document when the handler failed.
	Payload []byte
	// ContentType the runtime gave the response.
	ContentType string
	// Error is set when the invocation failed; Payload then holds the error
	// document if the runtime sent one.
	Error *FunctionError
	// HTTP is the decoded function URL response when the runtime streamed
	// one (content type application/vnd.awslambda.http-integration-response);
	// nil otherwise.
	HTTP *HTTPResponse
	// Logs is what the process wrote to stdout and stderr since the previous
	// invocation finished (the first invocation also gets the init logs).
	Logs []byte
	// Duration from delivery of the event to the answer.
	Duration time.Duration
}

// HTTPResponse is a decoded function URL response.
type HTTPResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers,omitempty"`
	Cookies    []string          `json:"cookies,omitempty"`
	Body       []byte            `json:"-"`
}

// Cleaner is satisfied by *testing.T and *testing.B.
type Cleaner interface{ Cleanup(func()) }

// Server is the Runtime API of one function sandbox.
type Server struct {
	addr    string
	ln      net.Listener
	srv     *http.Server
	queue   chan *invocation
	closed  chan struct{}
	closing sync.Once

	mu       sync.Mutex
	inflight map[string]*invocation
	proc     *process
	function string
	region   string
}

type invocation struct {
	id      string
	event   []byte
	timeout time.Duration

	// Set by the next handler before delivered is closed.
	deadline  time.Time
	delivered chan struct{}

	// Guarded by Server.mu.
	posting  bool
	finished bool
	result   Result
	done     chan struct{}
}

// Start serves the Runtime API on a fresh 127.0.0.1 port. When given a test
// (anything with Cleanup), Close is registered with it.
func Start(c ...Cleaner) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the runtime API on loopback: %w", err)
	}
	s := &Server{
		addr:     ln.Addr().String(),
		ln:       ln,
		queue:    make(chan *invocation),
		closed:   make(chan struct{}),
		inflight: map[string]*invocation{},
		function: "function",
		region:   defaultRegion,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiRoot+"/invocation/next", s.next)
	mux.HandleFunc("POST "+apiRoot+"/invocation/{id}/response", s.response)
	mux.HandleFunc("POST "+apiRoot+"/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST "+apiRoot+"/init/error", s.initError)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "UnknownResource", "this emulator serves only the runtime API: "+r.Method+" "+r.URL.Path)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go func() { _ = s.srv.Serve(ln) }()
	for _, cl := range c {
		cl.Cleanup(func() { _ = s.Close() })
	}
	return s, nil
}

// Addr is the host:port for AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.addr }

// Close stops the function process, if any, and the server.
func (s *Server) Close() error {
	err := s.Stop()
	s.closing.Do(func() {
		close(s.closed)
		_ = s.srv.Close()
		s.mu.Lock()
		if s.proc != nil {
			s.proc.removeLog()
		}
		s.mu.Unlock()
	})
	return err
}

// Invoke delivers event to the function and waits for its answer. timeout
// is the function's configured timeout (DefaultTimeout when zero): it sets
// the deadline the runtime sees, counted from delivery, and when it passes
// the process is killed and the result is a Sandbox.Timedout error. A
// function failure is reported in Result.Error with a nil error; the error
// return is for the emulator's own problems (ctx done, Close, bad event).
//
// Invoke waits for the runtime to ask for an invocation; without a process
// started by Run, that is for as long as ctx allows.
func (s *Server) Invoke(ctx context.Context, event []byte, timeout time.Duration) (Result, error) {
	if !json.Valid(event) {
		return Result{}, fmt.Errorf("invoke: %w", ErrInvalidEvent)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	inv := &invocation{id: newRequestID(), event: event, timeout: timeout, delivered: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	var exited, initFailed <-chan struct{}
	if p != nil {
		exited, initFailed = p.exited, p.initFailed
	}
	select {
	case <-s.closed:
		return Result{}, fmt.Errorf("invoke %s: %w", inv.id, ErrClosed)
	default:
	}

	select {
	case s.queue <- inv:
	case <-initFailed:
		return s.finish(p, inv, Result{Error: p.initError()}), nil
	case <-exited:
		if err := p.initError(); err != nil {
			return s.finish(p, inv, Result{Error: err}), nil
		}
		return s.finish(p, inv, Result{Error: p.exitError()}), nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invoke %s: wait for the runtime to ask for the event: %w", inv.id, ctx.Err())
	case <-s.closed:
		return Result{}, fmt.Errorf("invoke %s: %w", inv.id, ErrClosed)
	}
	<-inv.delivered
	start := time.Now()
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()

	var res Result
	select {
	case <-inv.done:
		res = inv.result
	case <-exited:
		// A response in flight completes when the connection drops.
		s.mu.Lock()
		posting := inv.posting
		s.mu.Unlock()
		if posting {
			<-inv.done
			res = inv.result
		} else {
			res = s.abandon(inv, Result{Error: p.exitError()})
		}
	case <-timer.C:
		res = s.abandon(inv, Result{Error: &FunctionError{Type: ErrorTypeTimeout, Message: fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())}})
		if p != nil {
			p.kill()
			<-p.exited
		}
	case <-ctx.Done():
		s.abandon(inv, Result{})
		return Result{}, fmt.Errorf("invoke %s: wait for the answer: %w", inv.id, ctx.Err())
	case <-s.closed:
		return Result{}, fmt.Errorf("invoke %s: %w", inv.id, ErrClosed)
	}
	res.Duration = time.Since(start)
	return s.finish(p, inv, res), nil
}

// finish stamps the request ID and the invocation's logs.
func (s *Server) finish(p *process, inv *invocation, res Result) Result {
	res.RequestID = inv.id
	if p != nil {
		res.Logs = p.takeLogs()
	}
	return res
}

// abandon completes inv with res unless the runtime answered meanwhile, and
// returns whichever result stands.
func (s *Server) abandon(inv *invocation, res Result) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inv.finished {
		return inv.result
	}
	inv.finished, inv.result = true, res
	delete(s.inflight, inv.id)
	close(inv.done)
	return res
}

// next hands the runtime the next event, waiting for one.
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	var inv *invocation
	select {
	case inv = <-s.queue:
	case <-r.Context().Done():
		return
	case <-s.closed:
		apiError(w, http.StatusGone, "Closed", "the emulator is shutting down")
		return
	}
	s.mu.Lock()
	inv.deadline = time.Now().Add(inv.timeout)
	s.inflight[inv.id] = inv
	fn, region := s.function, s.region
	s.mu.Unlock()
	close(inv.delivered)

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, "arn:aws:lambda:"+region+":"+AccountID+":function:"+fn)
	h.Set(headerTraceID, newTraceID())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.event)
}

// take marks the invocation named in the path as being answered, or
// answers the runtime with the reason it cannot be.
func (s *Server) take(w http.ResponseWriter, r *http.Request) (*invocation, bool) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.inflight[id]
	switch {
	case !ok:
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in flight has request ID "+id)
		return nil, false
	case inv.posting:
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+id+" is already being answered")
		return nil, false
	}
	inv.posting = true
	return inv, true
}

// complete records the answer and wakes Invoke.
func (s *Server) complete(inv *invocation, res Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inv.finished {
		return // Invoke gave up (timeout, ctx): the late answer is dropped
	}
	inv.finished, inv.result = true, res
	delete(s.inflight, inv.id)
	close(inv.done)
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	inv, ok := s.take(w, r)
	if !ok {
		return
	}
	ct := r.Header.Get("Content-Type")
	httpStream := strings.EqualFold(mediaType(ct), httpIntegrationType)
	streamed := httpStream || strings.EqualFold(r.Header.Get(headerResponseMode), "streaming")
	limit := int64(MaxBufferedResponse)
	if streamed {
		limit = MaxStreamedResponse
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	res := Result{Payload: body, ContentType: ct}
	switch {
	case err != nil:
		// The runtime died or hung up mid-body.
		res.Error = &FunctionError{Type: ErrorTypeExit, Message: "response body cut short: " + err.Error()}
		s.complete(inv, res)
		return
	case int64(len(body)) > limit:
		res.Payload = nil
		res.Error = &FunctionError{Type: ErrorTypeTooLarge, Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", limit)}
		s.complete(inv, res)
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", res.Error.Message)
		return
	}
	// A failure after the body started (aws-lambda-go: a reader that
	// errors) arrives in trailers, readable once the body is drained.
	if typ := r.Trailer.Get(trailerErrorType); typ != "" {
		res.Error = trailerError(typ, r.Trailer.Get(trailerErrorBody))
	}
	if httpStream && res.Error == nil {
		resp, err := decodeHTTPResponse(body)
		if err != nil {
			res.Error = &FunctionError{Type: ErrorTypeBadHTTPResponse, Message: err.Error()}
		}
		res.HTTP = resp
	}
	s.complete(inv, res)
	accepted(w)
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	inv, ok := s.take(w, r)
	if !ok {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	s.complete(inv, Result{Payload: body, ContentType: r.Header.Get("Content-Type"), Error: parseError(body, r.Header.Get(headerErrorType))})
	accepted(w)
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	fe := parseError(body, r.Header.Get(headerErrorType))
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "no function process was started by this emulator")
		return
	}
	p.setInitError(fe)
	accepted(w)
}

// parseError reads an error document ({"errorType","errorMessage",...});
// a body that is not one becomes the message.
func parseError(body []byte, headerType string) *FunctionError {
	var fe FunctionError
	if err := json.Unmarshal(body, &fe); err != nil || (fe.Type == "" && fe.Message == "") {
		fe = FunctionError{Message: string(body)}
	}
	if fe.Type == "" {
		fe.Type = headerType
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return &fe
}

// trailerError decodes a mid-stream failure: the body trailer is the
// base64 of the error document.
func trailerError(typ, b64 string) *FunctionError {
	doc, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return &FunctionError{Type: typ, Message: "undecodable error trailer"}
	}
	return parseError(doc, typ)
}

// decodeHTTPResponse splits a function URL streaming response into its
// JSON prelude and body at the first 8 NUL bytes.
func decodeHTTPResponse(b []byte) (*HTTPResponse, error) {
	i := bytes.Index(b, preludeSeparator)
	if i < 0 {
		return nil, errors.New("function URL response has no prelude separator (8 NUL bytes)")
	}
	var resp HTTPResponse
	if err := json.Unmarshal(b[:i], &resp); err != nil {
		return nil, fmt.Errorf("function URL response prelude is not JSON: %w", err)
	}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	resp.Body = b[i+len(preludeSeparator):]
	return &resp, nil
}

func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(FunctionError{Type: typ, Message: msg})
}

// newRequestID returns a random UUID (version 4), as Lambda's request IDs.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID returns an X-Ray trace header, not sampled.
func newTraceID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}
