package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/oncallgate/oncallgate/internal/app"
	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/logging"
)

// identityFileKey is the local file's secret key naming the Teleport
// identity file by path, instead of pasting it as teleport_identity.
const identityFileKey = "teleport_identity_file"

// maxConfigFile bounds the local file and the identity file it names.
const maxConfigFile = 1 << 20

// localFileHelp documents the local configuration file in --help texts.
const localFileHelp = `The local file (oncallgate configure --local prints one with every setting) is YAML with four sections: "parameters" holds the SSM parameters by their name below the prefix (teleport/address, providers, pagerduty/from_email, ...; lists may be YAML lists or comma-separated strings); "secret" holds the keys of the Secrets Manager secret (teleport_identity, pagerduty_api_key, ...), where teleport_identity_file may name the identity file by path (relative to the file) instead of pasting it; "table" names the DynamoDB table; "check" lists the PagerDuty services and Opsgenie/JSM schedules check looks up. The file holds secrets: keep it out of version control.`

// localFile is a parsed local configuration file.
type localFile struct {
	Path       string
	Table      string
	Parameters map[string]string
	// Secret holds the secret's JSON keys; teleport_identity is filled from
	// teleport_identity_file.
	Secret    map[string]string
	Services  []string
	Schedules []string
	// watched are the files the configuration was read from.
	watched []string
}

// fileDoc is the file's YAML shape.
type fileDoc struct {
	Table      string               `yaml:"table"`
	Parameters map[string]yaml.Node `yaml:"parameters"`
	Secret     map[string]yaml.Node `yaml:"secret"`
	Check      struct {
		Services  []string `yaml:"services"`
		Schedules []string `yaml:"schedules"`
	} `yaml:"check"`
}

// readLocalFile reads and decodes path. Errors name the file and the key,
// never a secret value.
func readLocalFile(path string) (*localFile, error) {
	raw, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: %v (a local file has the sections table, parameters, secret and check; see oncallgate configure --local)", path, err)
	}
	f := &localFile{
		Path:       path,
		Table:      strings.TrimSpace(doc.Table),
		Parameters: map[string]string{},
		Secret:     map[string]string{},
		Services:   trimAll(doc.Check.Services),
		Schedules:  trimAll(doc.Check.Schedules),
		watched:    []string{path},
	}
	if len(doc.Parameters) == 0 {
		return nil, fmt.Errorf("config file %s: no parameters section (see oncallgate configure --local)", path)
	}
	for name, node := range doc.Parameters {
		v, err := scalarOrList(node)
		if err != nil {
			return nil, fmt.Errorf("config file %s: parameters.%s: %w", path, name, err)
		}
		f.Parameters[name] = v
	}
	for key, node := range doc.Secret {
		v, err := scalarOrList(node)
		if err != nil {
			return nil, fmt.Errorf("config file %s: secret.%s: %w", path, key, err)
		}
		f.Secret[key] = v
	}
	if p := strings.TrimSpace(f.Secret[identityFileKey]); p != "" {
		if strings.TrimSpace(f.Secret["teleport_identity"]) != "" {
			return nil, fmt.Errorf("config file %s: secret sets both teleport_identity and %s; keep one", path, identityFileKey)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		id, err := readSmall(p)
		if err != nil {
			return nil, fmt.Errorf("config file %s: secret.%s: %w", path, identityFileKey, err)
		}
		f.Secret["teleport_identity"] = string(id)
		f.watched = append(f.watched, p)
	}
	delete(f.Secret, identityFileKey)
	return f, nil
}

func readSmall(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > maxConfigFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxConfigFile)
	}
	return raw, nil
}

// scalarOrList turns a YAML value into the parameter's string form: a
// scalar as written, a list of scalars joined with commas, null as "".
func scalarOrList(n yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return "", errors.New("a list may hold only plain values")
			}
			items = append(items, item.Value)
		}
		return strings.Join(items, ","), nil
	case 0:
		return "", nil
	}
	return "", errors.New("want a plain value or a list (write nested names with slashes, e.g. pagerduty/auto_approval/enabled)")
}

func trimAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// config validates the file's parameters and secret exactly as the Lambda
// functions validate SSM and Secrets Manager (config.Parse). The secret's
// version is a digest of its content, so that a changed identity makes the
// Teleport client reconnect.
func (f *localFile) config() (*config.Config, error) {
	doc, err := json.Marshal(f.Secret)
	if err != nil {
		return nil, fmt.Errorf("config file %s: encode secret: %w", f.Path, err)
	}
	cfg, err := config.Parse(f.Parameters, doc)
	if err != nil {
		return nil, fmt.Errorf("config file %s is invalid (parameter names are shown below the default prefix):\n%w", f.Path, err)
	}
	sum := sha256.Sum256(doc)
	cfg.Secrets.Version = "file-" + hex.EncodeToString(sum[:6])
	return cfg, nil
}

// fileSource is an app.ConfigSource over a local file. It reads the file
// again when it (or the identity file it names) changed, and fails closed:
// a file that no longer validates is an error, never the previous or the
// default settings.
type fileSource struct {
	path string

	mu     sync.Mutex
	cfg    *config.Config
	file   *localFile
	stamps map[string]time.Time
}

var _ app.ConfigSource = (*fileSource)(nil)

func newFileSource(path string) *fileSource { return &fileSource{path: path} }

// Get implements app.ConfigSource.
func (s *fileSource) Get(ctx context.Context) (*config.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg != nil && !s.changed() {
		return s.cfg, nil
	}
	f, err := readLocalFile(s.path)
	if err != nil {
		s.cfg = nil
		return nil, err
	}
	cfg, err := f.config()
	if err != nil {
		s.cfg = nil
		return nil, err
	}
	stamps := map[string]time.Time{}
	for _, p := range f.watched {
		if st, err := os.Stat(p); err == nil {
			stamps[p] = st.ModTime()
		}
	}
	if s.cfg != nil {
		logging.FromContext(ctx).Info("configuration file changed; using the new settings", "path", s.path)
	}
	for _, w := range cfg.Warnings {
		logging.FromContext(ctx).Warn("configuration warning", "warning", w)
	}
	s.cfg, s.file, s.stamps = cfg, f, stamps
	return cfg, nil
}

// File returns the last file read successfully.
func (s *fileSource) File() *localFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file
}

func (s *fileSource) changed() bool {
	for p, t := range s.stamps {
		st, err := os.Stat(p)
		if err != nil || !st.ModTime().Equal(t) {
			return true
		}
	}
	return len(s.stamps) == 0
}

// firstNonEmpty returns the first value that is not blank.
func firstNonEmpty(values ...string) string {
	if i := slices.IndexFunc(values, func(v string) bool { return strings.TrimSpace(v) != "" }); i >= 0 {
		return strings.TrimSpace(values[i])
	}
	return ""
}
