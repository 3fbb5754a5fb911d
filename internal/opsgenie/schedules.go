package opsgenie

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/oncallgate/oncallgate/internal/core"
)

type onCalls struct {
	Data struct {
		OnCallRecipients []string `json:"onCallRecipients"`
	} `json:"data"`
}

// OnCallEmails implements core.ScheduleDirectory: the usernames (emails) of
// whoever is on call now in the schedule called name, flattened through
// escalations and teams by Opsgenie. ErrNotFound for an unknown schedule.
func (c *Client) OnCallEmails(ctx context.Context, schedule string) ([]string, error) {
	q := url.Values{"scheduleIdentifierType": {"name"}, "flat": {"true"}}
	var oc onCalls
	err := c.do(ctx, "GET", "/v2/schedules/"+url.PathEscape(schedule)+"/on-calls", q, nil, &oc)
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("%s schedule %q not found: %w", c.cfg.Provider, schedule, err)
	}
	if err != nil {
		return nil, fmt.Errorf("list on-call of %s schedule %q: %w", c.cfg.Provider, schedule, err)
	}
	return oc.Data.OnCallRecipients, nil
}
