package core

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// Provider names a paging provider.
type Provider string

// Providers oncallgate talks to.
const (
	PagerDuty Provider = "pagerduty"
	Opsgenie  Provider = "opsgenie"
	JSM       Provider = "jsm" // Jira Service Management Operations, Opsgenie's successor
)

// ParseProvider accepts a provider name in any case.
func ParseProvider(s string) (Provider, error) {
	switch p := Provider(strings.ToLower(strings.TrimSpace(s))); p {
	case PagerDuty, Opsgenie, JSM:
		return p, nil
	}
	return "", fmt.Errorf("%w: unknown provider %q (want pagerduty, opsgenie or jsm)", ErrInvalid, s)
}

// Responder kinds for Opsgenie/JSM targets. PagerDuty targets are services
// and carry no kind.
const (
	KindSchedule   = "schedule"
	KindTeam       = "team"
	KindUser       = "user"
	KindEscalation = "escalation"
)

// Target is one place an alert is opened: a PagerDuty service, or an
// Opsgenie/JSM responder (schedule by default, team, user or escalation).
type Target struct {
	Provider Provider
	// Kind is the Opsgenie/JSM responder type; empty for PagerDuty.
	Kind string
	// Name is the service or responder name (or id) as written in the
	// annotation; matching against the provider is case-insensitive.
	Name string
}

// Key identifies the target in storage: provider, kind and the lower-cased
// name, so that "Payments" and "payments" share one mapping.
func (t Target) Key() string {
	if t.Kind == "" {
		return string(t.Provider) + "#" + strings.ToLower(t.Name)
	}
	return string(t.Provider) + "#" + t.Kind + ":" + strings.ToLower(t.Name)
}

func (t Target) String() string {
	if t.Kind == "" {
		return string(t.Provider) + " service " + t.Name
	}
	return string(t.Provider) + " " + t.Kind + " " + t.Name
}

// Routing is what a request's annotations ask of oncallgate.
type Routing struct {
	// Notify lists the targets to open an alert in, in annotation order.
	Notify []Target
	// OnCall lists, per provider, the services (PagerDuty) or schedules
	// (Opsgenie/JSM) whose on-call responders may be auto-approved.
	OnCall map[Provider][]string
}

// Empty reports whether the request asks nothing of oncallgate.
func (r Routing) Empty() bool { return len(r.Notify) == 0 && len(r.OnCall) == 0 }

// NotifyFor returns the notify targets of one provider.
func (r Routing) NotifyFor(p Provider) []Target {
	var out []Target
	for _, t := range r.Notify {
		if t.Provider == p {
			out = append(out, t)
		}
	}
	return out
}

// Annotation names (DESIGN.md). Matching is case-insensitive.
const (
	AnnPagerDutyNotify   = "pagerduty_notify_service"
	AnnPagerDutyServices = "pagerduty_services"
	AnnOpsgenieNotify    = "opsgenie_notify_services"
	AnnOpsgenieSchedules = "opsgenie_oncall_schedules"
	AnnJSMNotify         = "jsm_notify_services"
	AnnJSMSchedules      = "jsm_oncall_schedules"
	AnnTeleportNotify    = "teleport.dev/notify-services"
	AnnTeleportSchedules = "teleport.dev/schedules"
	AnnTeleportTeams     = "teleport.dev/teams"
)

// maxAnnotationValue bounds one annotation value; provider names are far
// shorter, and anything longer is a mistake we should report, not send.
const maxAnnotationValue = 256

type annotationUse struct {
	provider Provider // empty: the single configured provider
	notify   bool     // notify target (true) or on-call source (false)
	kind     string   // responder kind for Opsgenie/JSM notify targets
}

var annotationUses = map[string]annotationUse{
	AnnPagerDutyNotify:   {provider: PagerDuty, notify: true},
	AnnPagerDutyServices: {provider: PagerDuty},
	AnnOpsgenieNotify:    {provider: Opsgenie, notify: true, kind: KindSchedule},
	AnnOpsgenieSchedules: {provider: Opsgenie},
	AnnJSMNotify:         {provider: JSM, notify: true, kind: KindSchedule},
	AnnJSMSchedules:      {provider: JSM},
	AnnTeleportNotify:    {notify: true, kind: KindSchedule},
	AnnTeleportSchedules: {},
	AnnTeleportTeams:     {notify: true, kind: KindTeam},
}

// ParseRouting reads a request's annotations into a Routing for the
// configured providers. Names compare case-insensitively; values are
// trimmed and de-duplicated case-insensitively (first spelling wins).
// Teleport's generic teleport.dev/* names apply only when exactly one
// provider is configured. Annotations of providers that are not configured
// are ignored. Opsgenie/JSM notify values may carry a responder kind prefix
// ("team:SRE", "user:bob@example.com", "escalation:Ops", "schedule:Primary").
//
// A malformed value yields an *AnnotationError naming the request, the
// annotation and the value; nothing is routed for that request then.
func ParseRouting(req Request, configured []Provider) (Routing, error) {
	enabled := map[Provider]bool{}
	for _, p := range configured {
		enabled[p] = true
	}
	var single Provider
	if len(configured) == 1 {
		single = configured[0]
	}

	var r Routing
	seenNotify := map[string]bool{}
	seenOnCall := map[Provider]map[string]bool{}
	// Iterate in a fixed order so results do not depend on map order.
	for _, name := range annotationOrder {
		values, ok := lookupFold(req.Annotations, name)
		if !ok {
			continue
		}
		use := annotationUses[name]
		p := use.provider
		if p == "" {
			p = single
			if name == AnnTeleportTeams && p == PagerDuty {
				continue // PagerDuty has no teams to page through this annotation
			}
		}
		if p == "" || !enabled[p] {
			continue
		}
		parsed, err := annotationValues(req.ID, name, values)
		if err != nil {
			return Routing{}, err
		}
		for _, v := range parsed {
			if use.notify {
				t := Target{Provider: p, Name: v}
				if p != PagerDuty {
					t.Kind, t.Name = responderKind(use.kind, v)
					if t.Name == "" {
						return Routing{}, &AnnotationError{RequestID: req.ID, Annotation: name, Value: v, Problem: "responder name is empty after its kind prefix"}
					}
				}
				if !seenNotify[t.Key()] {
					seenNotify[t.Key()] = true
					r.Notify = append(r.Notify, t)
				}
				continue
			}
			if seenOnCall[p] == nil {
				seenOnCall[p] = map[string]bool{}
			}
			if k := strings.ToLower(v); !seenOnCall[p][k] {
				seenOnCall[p][k] = true
				if r.OnCall == nil {
					r.OnCall = map[Provider][]string{}
				}
				r.OnCall[p] = append(r.OnCall[p], v)
			}
		}
	}
	return r, nil
}

var annotationOrder = []string{
	AnnPagerDutyNotify, AnnPagerDutyServices,
	AnnOpsgenieNotify, AnnOpsgenieSchedules,
	AnnJSMNotify, AnnJSMSchedules,
	AnnTeleportNotify, AnnTeleportTeams, AnnTeleportSchedules,
}

// lookupFold finds an annotation by case-insensitive name, merging values
// of keys that differ only in case.
func lookupFold(ann map[string][]string, name string) ([]string, bool) {
	var out []string
	found := false
	for k, v := range ann {
		if strings.EqualFold(strings.TrimSpace(k), name) {
			found = true
			out = append(out, v...)
		}
	}
	return out, found
}

// annotationValues validates and normalises one annotation's values. A value
// written as a JSON list string ("[\"a\",\"b\"]"), a common slip when roles
// are templated, is unpacked; anything else that looks like a list is an error.
func annotationValues(reqID, name string, values []string) ([]string, error) {
	fail := func(v, problem string) error {
		return &AnnotationError{RequestID: reqID, Annotation: name, Value: v, Problem: problem}
	}
	if len(values) == 0 {
		return nil, fail("", "has no values; give at least one name or remove the annotation")
	}
	var out []string
	for _, raw := range values {
		v := strings.TrimSpace(raw)
		if strings.HasPrefix(v, "[") {
			var list []string
			if err := json.Unmarshal([]byte(v), &list); err != nil {
				return nil, fail(raw, "looks like a list but is not a JSON list of strings; write one name per list item")
			}
			inner, err := annotationValues(reqID, name, list)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		switch {
		case v == "":
			return nil, fail(raw, "empty name")
		case len(v) > maxAnnotationValue:
			return nil, fail(v[:32]+"…", fmt.Sprintf("longer than %d characters", maxAnnotationValue))
		case strings.IndexFunc(v, unicode.IsControl) >= 0:
			return nil, fail(raw, "contains control characters")
		}
		out = append(out, v)
	}
	return out, nil
}

func responderKind(def, v string) (kind, name string) {
	if k, n, ok := strings.Cut(v, ":"); ok {
		switch k = strings.ToLower(strings.TrimSpace(k)); k {
		case KindSchedule, KindTeam, KindUser, KindEscalation:
			return k, strings.TrimSpace(n)
		}
	}
	return def, v
}
