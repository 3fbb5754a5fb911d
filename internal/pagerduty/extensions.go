package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
)

// Names of the custom incident actions EnsureActions installs, as Teleport's
// PagerDuty plugin named them (users know these buttons).
const (
	ApproveActionName = "Approve Request"
	DenyActionName    = "Deny Request"
	// CustomWebhookSchemaKey is the key of PagerDuty's "Custom Incident
	// Action" extension schema.
	CustomWebhookSchemaKey = "custom_webhook"
)

// ExtensionSchema is one kind of PagerDuty extension.
type ExtensionSchema struct {
	ID    string
	Key   string
	Label string
}

// actionConfig is the config object of a custom_webhook extension: the
// custom headers PagerDuty sends with every press of the button. It is the
// only way to authenticate those calls (they carry no signature).
type actionConfig struct {
	Headers []actionHeader `json:"headers"`
}

type actionHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ListExtensionSchemas lists the extension schemas of the account (all
// pages).
func (c *Client) ListExtensionSchemas(ctx context.Context) ([]ExtensionSchema, error) {
	var out []ExtensionSchema
	err := c.listAll(ctx, "/extension_schemas", url.Values{}, func(raw json.RawMessage) (pd.APIListObject, int, error) {
		var page pd.ListExtensionSchemaResponse
		if err := json.Unmarshal(raw, &page); err != nil {
			return pd.APIListObject{}, 0, err
		}
		for _, s := range page.ExtensionSchemas {
			out = append(out, ExtensionSchema{ID: s.ID, Key: s.Key, Label: s.Label})
		}
		return page.APIListObject, len(page.ExtensionSchemas), nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pagerduty extension schemas: %w", err)
	}
	return out, nil
}

// EnsureActions makes sure each named service has exactly one
// "Approve Request" and one "Deny Request" custom incident action, POSTing to
// endpointURL with action=approve / action=deny added to its query and
// sending the custom header headerName: headerSecret. Missing actions are
// created, actions whose URL or header differ are updated in place, and
// nothing is ever duplicated, so running it again changes nothing. It counts
// actions created, updated and left unchanged, and stops at the first
// failure (counts so far are returned with the error). The secret never
// appears in an error.
func (c *Client) EnsureActions(ctx context.Context, serviceNames []string, endpointURL string, headerName, headerSecret string) (created, updated, unchanged int, err error) {
	approveURL, denyURL, err := actionURLs(endpointURL)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ensure pagerduty custom actions: %w", err)
	}
	if strings.TrimSpace(headerName) == "" || headerSecret == "" {
		return 0, 0, 0, fmt.Errorf("ensure pagerduty custom actions: %w: a header name and a secret are required (custom actions carry no signature)", core.ErrInvalid)
	}
	schemas, err := c.ListExtensionSchemas(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ensure pagerduty custom actions: %w", err)
	}
	var schemaID string
	for _, s := range schemas {
		if s.Key == CustomWebhookSchemaKey {
			schemaID = s.ID
			break
		}
	}
	if schemaID == "" {
		return 0, 0, 0, fmt.Errorf("ensure pagerduty custom actions: %w", &NotFoundError{What: "extension schema", Name: CustomWebhookSchemaKey})
	}
	config := actionConfig{Headers: []actionHeader{{Name: strings.TrimSpace(headerName), Value: headerSecret}}}
	wants := []struct{ name, url string }{{ApproveActionName, approveURL}, {DenyActionName, denyURL}}

	seen := map[string]bool{}
	for _, name := range serviceNames {
		key := strings.ToLower(strings.TrimSpace(name))
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		svc, err := c.FindService(ctx, name)
		if err != nil {
			return created, updated, unchanged, fmt.Errorf("ensure pagerduty custom actions: %w", err)
		}
		existing, err := c.serviceExtensions(ctx, svc.ID, schemaID)
		if err != nil {
			return created, updated, unchanged, fmt.Errorf("ensure pagerduty custom actions in service %q: %w", svc.Name, err)
		}
		for _, w := range wants {
			ext := pd.Extension{
				APIObject:        pd.APIObject{Type: "extension"},
				Name:             w.name,
				EndpointURL:      w.url,
				ExtensionSchema:  pd.APIObject{ID: schemaID, Type: "extension_schema_reference"},
				ExtensionObjects: []pd.APIObject{{ID: svc.ID, Type: "service_reference"}},
				Config:           config,
			}
			cur, ok := findExtension(existing, w.name)
			switch {
			case !ok:
				if err := c.do(ctx, http.MethodPost, "/extensions", nil, map[string]any{"extension": ext}, nil); err != nil {
					return created, updated, unchanged, fmt.Errorf("create pagerduty custom action %q in service %q: %w", w.name, svc.Name, err)
				}
				created++
				logging.FromContext(ctx).Info("pagerduty custom action created", "service", svc.Name, "action", w.name)
			case cur.EndpointURL == w.url && sameConfig(cur.Config, config):
				unchanged++
			default:
				path, err := idPath("/extensions", cur.ID)
				if err == nil {
					ext.Name = cur.Name // keep the existing spelling
					err = c.do(ctx, http.MethodPut, path, nil, map[string]any{"extension": ext}, nil)
				}
				if err != nil {
					return created, updated, unchanged, fmt.Errorf("update pagerduty custom action %q in service %q: %w", w.name, svc.Name, err)
				}
				updated++
				logging.FromContext(ctx).Info("pagerduty custom action updated", "service", svc.Name, "action", w.name, "extension_id", cur.ID)
			}
		}
	}
	return created, updated, unchanged, nil
}

// serviceExtensions lists the extensions of one schema attached to a service.
func (c *Client) serviceExtensions(ctx context.Context, serviceID, schemaID string) ([]pd.Extension, error) {
	q, err := values(pd.ListExtensionOptions{ExtensionObjectID: serviceID, ExtensionSchemaID: schemaID})
	if err != nil {
		return nil, err
	}
	var out []pd.Extension
	err = c.listAll(ctx, "/extensions", q, func(raw json.RawMessage) (pd.APIListObject, int, error) {
		var page pd.ListExtensionResponse
		if err := json.Unmarshal(raw, &page); err != nil {
			return pd.APIListObject{}, 0, err
		}
		for _, e := range page.Extensions {
			if e.ExtensionSchema.ID == schemaID && attachedTo(e, serviceID) {
				out = append(out, e)
			}
		}
		return page.APIListObject, len(page.Extensions), nil
	})
	return out, err
}

func attachedTo(e pd.Extension, serviceID string) bool {
	for _, o := range e.ExtensionObjects {
		if o.ID == serviceID {
			return true
		}
	}
	return false
}

// findExtension returns the first extension named name (case-insensitive).
func findExtension(exts []pd.Extension, name string) (pd.Extension, bool) {
	for _, e := range exts {
		if strings.EqualFold(strings.TrimSpace(e.Name), name) {
			return e, true
		}
	}
	return pd.Extension{}, false
}

// sameConfig reports whether an extension's config (as decoded from JSON)
// holds exactly the wanted headers.
func sameConfig(got any, want actionConfig) bool {
	raw, err := json.Marshal(got)
	if err != nil {
		return false
	}
	var cfg actionConfig
	if err := json.Unmarshal(raw, &cfg); err != nil || len(cfg.Headers) != len(want.Headers) {
		return false
	}
	for i := range cfg.Headers {
		if cfg.Headers[i] != want.Headers[i] {
			return false
		}
	}
	return true
}

// actionURLs adds action=approve and action=deny to endpoint's query.
func actionURLs(endpoint string) (approve, deny string, err error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", "", fmt.Errorf("%w: endpoint %q is not an absolute http(s) URL", core.ErrInvalid, endpoint)
	}
	with := func(action string) string {
		v := *u
		q := v.Query()
		q.Set("action", action)
		v.RawQuery = q.Encode()
		return v.String()
	}
	return with("approve"), with("deny"), nil
}
