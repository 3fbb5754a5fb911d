package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
)

// MaxBody bounds a delivery's body; real payloads are a few KiB.
const MaxBody = 64 << 10

// Secrets authenticate the routes. An empty secret closes its route.
type Secrets struct {
	PagerDuty string
	// PagerDutySigning are v3 webhook signing secrets; when set, a valid
	// X-PagerDuty-Signature is required on the PagerDuty route.
	PagerDutySigning []string
	Opsgenie         string
	JSM              string
}

// Deps is what one delivery needs; loaded per delivery so configuration
// changes apply without a redeploy (the loader caches).
type Deps struct {
	Decider *core.Decider
	Secrets Secrets
}

// Handler serves the webhook routes:
//
//	POST /pagerduty?action=approve|deny  (also /pagerduty/approve, /pagerduty/deny)
//	POST /opsgenie
//	POST /jsm
//	GET  /healthz
type Handler struct {
	Load  func(ctx context.Context) (Deps, error)
	Clock core.Clock
	// Observe, when set, is told every outcome (for metrics).
	Observe func(provider core.Provider, status string, refusal core.Refusal)
}

// Response is the JSON body of every answer.
type Response struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	path := strings.TrimSuffix(r.URL.Path, "/")
	if path == "/healthz" && r.Method == http.MethodGet {
		write(w, http.StatusOK, Response{Status: "ok"})
		return
	}
	provider, approve, route := route(path, r.URL.Query().Get("action"))
	if !route {
		write(w, http.StatusNotFound, Response{Status: "refused", Message: "no such route"})
		return
	}
	ctx = logging.With(ctx, "route", path)
	if r.Method != http.MethodPost {
		write(w, http.StatusMethodNotAllowed, Response{Status: "refused", Message: "POST only"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		h.refuse(ctx, w, provider, http.StatusRequestEntityTooLarge, ErrTooLarge, fmt.Sprintf("body over %d bytes", MaxBody))
		return
	}
	deps, err := h.Load(ctx)
	if err != nil {
		// Fail closed: without configuration nothing can be authenticated.
		logging.FromContext(ctx).Error("webhook cannot load its configuration", "error", err.Error())
		h.observe(provider, "error", "")
		write(w, http.StatusServiceUnavailable, Response{Status: "error", Message: "configuration unavailable"})
		return
	}
	if err := authenticate(provider, r.Header, body, deps.Secrets); err != nil {
		h.refuse(ctx, w, provider, http.StatusUnauthorized, err, err.Error())
		return
	}
	var action core.Action
	switch provider {
	case core.PagerDuty:
		if approve == nil {
			h.refuse(ctx, w, provider, http.StatusBadRequest, ErrMalformed, "the action URL must say action=approve or action=deny")
			return
		}
		action, err = ParsePagerDuty(body, *approve)
	default:
		action, err = ParseOpsgenie(body, provider, h.Clock.Now())
	}
	if err != nil {
		h.refuse(ctx, w, provider, http.StatusBadRequest, err, "malformed payload")
		return
	}
	out, err := deps.Decider.Decide(ctx, action)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, core.ErrTransient) {
			status = http.StatusServiceUnavailable // the sender retries
		}
		logging.FromContext(ctx).Error("webhook action failed; nothing was changed in Teleport", "error", err.Error(), "error_kind", core.ErrorKind(err))
		h.observe(provider, "error", "")
		write(w, status, Response{Status: "error", Message: "could not process the action; nothing was changed"})
		return
	}
	h.observe(provider, out.Status, out.Refusal)
	write(w, statusOf(out), Response{Status: out.Status, Message: out.Message})
}

func (h *Handler) refuse(ctx context.Context, w http.ResponseWriter, p core.Provider, status int, err error, msg string) {
	logging.FromContext(ctx).Warn("webhook delivery refused", "status", status, "error", err.Error())
	h.observe(p, core.OutcomeRefused, core.Refusal(strings.ReplaceAll(err.Error(), " ", "_")))
	write(w, status, Response{Status: core.OutcomeRefused, Message: msg})
}

func (h *Handler) observe(p core.Provider, status string, r core.Refusal) {
	if h.Observe != nil {
		h.Observe(p, status, r)
	}
}

func route(path, action string) (p core.Provider, approve *bool, ok bool) {
	yes, no := true, false
	switch path {
	case "/pagerduty":
		switch strings.ToLower(action) {
		case "approve":
			return core.PagerDuty, &yes, true
		case "deny":
			return core.PagerDuty, &no, true
		}
		return core.PagerDuty, nil, true
	case "/pagerduty/approve":
		return core.PagerDuty, &yes, true
	case "/pagerduty/deny":
		return core.PagerDuty, &no, true
	case "/opsgenie":
		return core.Opsgenie, nil, true
	case "/jsm":
		return core.JSM, nil, true
	}
	return "", nil, false
}

func authenticate(p core.Provider, hdr http.Header, body []byte, s Secrets) error {
	presented := hdr.Get(SecretHeader)
	switch p {
	case core.PagerDuty:
		if !CheckSecret(s.PagerDuty, presented) {
			return ErrUnauthenticated
		}
		sig := hdr.Get(SignatureHeader)
		if sig != "" || len(s.PagerDutySigning) > 0 {
			if !VerifySignature(sig, body, s.PagerDutySigning) {
				return ErrBadSignature
			}
		}
		return nil
	case core.Opsgenie:
		if !CheckSecret(s.Opsgenie, presented) {
			return ErrUnauthenticated
		}
		return nil
	case core.JSM:
		if !CheckSecret(s.JSM, presented) {
			return ErrUnauthenticated
		}
		return nil
	}
	return ErrUnauthenticated
}

func statusOf(o core.Outcome) int {
	switch o.Status {
	case core.OutcomeAccepted, core.OutcomeDuplicate:
		return http.StatusOK
	}
	switch o.Refusal {
	case core.RefuseUnknownAlert:
		return http.StatusNotFound
	case core.RefuseNotPending:
		return http.StatusConflict
	case core.RefuseReviewsDisabled, core.RefuseProviderDisabled:
		return http.StatusUnprocessableEntity
	}
	return http.StatusForbidden
}

func write(w http.ResponseWriter, status int, r Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(r)
}
