package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/webhook"
)

const actionsDescription = `Installs or updates the PagerDuty custom incident actions "Approve Request"
and "Deny Request" on each named service, pointing at the webhook function URL
(the stack output WebhookUrl) and sending the pagerduty_webhook_secret from the
secret as the X-Oncallgate-Secret header. Run it again after the URL or the
secret changes: missing actions are created, changed ones updated, none is ever
duplicated. The PagerDuty key and From email come from the configuration
(--prefix for a deployment, --config for a local file). Opsgenie and JSM actions
are set up in their Webhook integration instead (see the README).`

// runActions is `oncallgate actions install`.
func runActions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "install" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			args = []string{"install", "--help"}
		} else {
			fmt.Fprintln(stderr, "usage: oncallgate actions install --url WEBHOOK_URL --services 'A,B' (--prefix /oncallgate/ | --config FILE)")
			return exitUsage
		}
	}
	fs := newFlagSet("actions install", "--url URL --services A,B (--prefix P | --config FILE)", actionsDescription)
	file := fs.String("config", "", "local configuration file")
	prefix := fs.String("prefix", "", "SSM prefix of the deployed configuration, e.g. /oncallgate/")
	rawURL := fs.String("url", "", "the webhook function URL (stack output WebhookUrl)")
	services := fs.String("services", "", "comma-separated PagerDuty services to install the actions on")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	if (*file == "") == (*prefix == "") {
		return usageError(fs, stderr, "give exactly one of --config FILE and --prefix PREFIX")
	}
	endpoint, err := pagerDutyEndpoint(*rawURL)
	if err != nil {
		return usageError(fs, stderr, "--url: %v", err)
	}
	names := splitComma(*services)
	if len(names) == 0 {
		return usageError(fs, stderr, "--services: name at least one PagerDuty service")
	}

	var cfg *config.Config
	origin := "config file " + *file
	if *file != "" {
		var f *localFile
		if f, err = readLocalFile(*file); err == nil {
			cfg, err = f.config()
		}
	} else {
		cfg, origin, err = loadFromSSM(ctx, *prefix)
	}
	if err != nil {
		fmt.Fprintf(stderr, "load the configuration from %s: %v\n", origin, err)
		return exitFailure
	}
	if !cfg.Enabled(core.PagerDuty) {
		fmt.Fprintf(stderr, "pagerduty is not among the providers in %s\n", origin)
		return exitFailure
	}
	if cfg.Secrets.PagerDutyWebhookSecret == "" {
		fmt.Fprintln(stderr, "the secret has no pagerduty_webhook_secret: set one first, the actions would be refused without it")
		return exitFailure
	}
	pd := pagerduty.New(pagerduty.Config{
		BaseURL: cfg.PagerDuty.APIURL, APIKey: cfg.Secrets.PagerDutyAPIKey, FromEmail: cfg.PagerDuty.FromEmail,
		HTTPClient: &http.Client{Timeout: checkHTTPTimeout},
	})
	created, updated, unchanged, err := pd.EnsureActions(ctx, names, endpoint, webhook.SecretHeader, cfg.Secrets.PagerDutyWebhookSecret)
	fmt.Fprintf(stdout, "PagerDuty actions on %s -> %s: %d created, %d updated, %d unchanged\n", strings.Join(names, ", "), endpoint, created, updated, unchanged)
	if err != nil {
		fmt.Fprintf(stderr, "install actions: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// pagerDutyEndpoint turns the function URL into the PagerDuty route.
func pagerDutyEndpoint(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("want the function URL, e.g. https://abc.lambda-url.us-east-1.on.aws/, got %q", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/pagerduty") {
		u.Path += "/pagerduty"
	}
	u.RawQuery = ""
	return u.String(), nil
}
