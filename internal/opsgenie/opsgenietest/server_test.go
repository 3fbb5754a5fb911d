package opsgenietest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
)

func post(t *testing.T, srv *opsgenietest.Server, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/v2/alerts", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestSandboxEnforcesAuthAndPayloadLimits(t *testing.T) {
	key := "GenieKey " + opsgenietest.DefaultAPIKey
	long := func(n int) string { return strings.Repeat("x", n) }
	manyTags := `["` + strings.Repeat(`t","`, 20) + `t"]`
	tests := []struct {
		name     string
		auth     string
		body     string
		wantCode int
		wantErr  string
	}{
		{"no key", "", `{"message":"m"}`, http.StatusUnauthorized, ""},
		{"wrong scheme", "Bearer " + opsgenietest.DefaultAPIKey, `{"message":"m"}`, http.StatusUnauthorized, ""},
		{"wrong key", "GenieKey nope", `{"message":"m"}`, http.StatusUnauthorized, ""},
		{"empty message", key, `{"message":""}`, http.StatusUnprocessableEntity, "message"},
		{"message over 130", key, `{"message":"` + long(131) + `"}`, http.StatusUnprocessableEntity, "message"},
		{"alias over 512", key, `{"message":"m","alias":"` + long(513) + `"}`, http.StatusUnprocessableEntity, "alias"},
		{"description over 15000", key, `{"message":"m","description":"` + long(15001) + `"}`, http.StatusUnprocessableEntity, "description"},
		{"more than 20 tags", key, `{"message":"m","tags":` + manyTags + `}`, http.StatusUnprocessableEntity, "tags"},
		{"priority P6", key, `{"message":"m","priority":"P6"}`, http.StatusUnprocessableEntity, "priority"},
		{"unknown responder type", key, `{"message":"m","responders":[{"type":"service","name":"x"}]}`, http.StatusUnprocessableEntity, "responders[0]"},
		{"at the limits", key, `{"message":"` + long(130) + `","alias":"` + long(512) + `","priority":"P5"}`, http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := opsgenietest.Start(t, opsgenietest.WithAnyResponder())
			code, body := post(t, srv, tt.auth, tt.body)
			if code != tt.wantCode {
				t.Fatalf("status = %d (%v), want %d", code, body, tt.wantCode)
			}
			if body["requestId"] == nil {
				t.Errorf("answer %v has no requestId", body)
			}
			if tt.wantErr != "" {
				errs, _ := body["errors"].(map[string]any)
				if errs[tt.wantErr] == nil {
					t.Errorf("errors = %v, want an entry for %s", errs, tt.wantErr)
				}
			}
			if code != http.StatusAccepted && len(srv.Alerts()) != 0 {
				t.Error("a rejected create made an alert")
			}
		})
	}
}

func TestSandboxServesTeamsAndSchedulesByNameOrID(t *testing.T) {
	srv := opsgenietest.Start(t)
	teamID := srv.AddTeam("SRE")
	schedID := srv.AddSchedule("Payments", "alice@example.com")
	tests := []struct {
		name     string
		path     string
		wantCode int
		wantBody string
	}{
		{"team by name", "/v2/teams/sre?identifierType=name", http.StatusOK, teamID},
		{"team by id", "/v2/teams/" + teamID, http.StatusOK, `"SRE"`},
		{"unknown team", "/v2/teams/nope?identifierType=name", http.StatusNotFound, "No team exists"},
		{"schedule on-calls by id, nested", "/v2/schedules/" + schedID + "/on-calls", http.StatusOK, `"onCallParticipants"`},
		{"schedule on-calls by name, flat", "/v2/schedules/Payments/on-calls?scheduleIdentifierType=name&flat=true", http.StatusOK, `"onCallRecipients":["alice@example.com"]`},
		{"unknown schedule", "/v2/schedules/Nope/on-calls?scheduleIdentifierType=name", http.StatusNotFound, "No schedule exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+tt.path, nil)
			req.Header.Set("Authorization", "GenieKey "+opsgenietest.DefaultAPIKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var raw json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode || !strings.Contains(string(raw), tt.wantBody) {
				t.Errorf("GET %s = %d %s, want %d with %s", tt.path, resp.StatusCode, raw, tt.wantCode, tt.wantBody)
			}
		})
	}
}
