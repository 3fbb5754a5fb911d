package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/oncallgate/oncallgate/internal/testenv"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name          string
		prefix, table string
		want          Env
		wantErr       string
	}{
		{"defaults the prefix", "", "oncallgate-table", Env{Prefix: "/oncallgate/", Table: "oncallgate-table"}, ""},
		{"normalizes the prefix", "team-a/oncallgate", "t", Env{Prefix: "/team-a/oncallgate/", Table: "t"}, ""},
		{"keeps a full prefix", "/prod/oncallgate/", "t", Env{Prefix: "/prod/oncallgate/", Table: "t"}, ""},
		{"table is required", "/oncallgate/", "", Env{}, "ONCALLGATE_TABLE"},
		{"blank table is missing", "", "  ", Env{}, "ONCALLGATE_TABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvPrefix, tt.prefix)
			t.Setenv(EnvTable, tt.table)
			got, err := FromEnv()
			if tt.wantErr != "" {
				if !errors.Is(err, ErrMissingEnv) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v: want ErrMissingEnv naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FromEnv() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestLoadAWSHonoursEndpointEnvironment builds the SDK config the way a
// Lambda main does and reads a configuration through it from moto, reached
// only through AWS_ENDPOINT_URL.
func TestLoadAWSHonoursEndpointEnvironment(t *testing.T) {
	f := newFixture(t)
	f.putTree(t, minimalParams())
	f.putSecret(t, mustJSON(t, fullSecret()))

	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            f.moto.Endpoint,
		"AWS_REGION":                  testenv.Region,
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	awsCfg, err := LoadAWS(f.ctx)
	if err != nil {
		t.Fatalf("LoadAWS: %v", err)
	}
	if _, err := ssm.NewFromConfig(awsCfg).GetParameter(f.ctx, &ssm.GetParameterInput{Name: aws.String(f.prefix + "providers")}); err != nil {
		t.Fatalf("ssm through LoadAWS config: %v", err)
	}
	cfg, err := NewAWSLoader(awsCfg, f.prefix, f.clock).Get(f.ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if cfg.Teleport.Address != "teleport.example.com:443" || cfg.Secrets.TeleportIdentity != identityValue {
		t.Fatalf("loaded %+v", cfg)
	}
}
