// Package config loads oncallgate's settings: plain parameters from SSM
// Parameter Store under one prefix (default /oncallgate/) and credentials
// from one Secrets Manager secret holding a JSON object. It validates
// everything at once, naming each bad parameter by its full SSM path, and
// caches the result for config_ttl so settings change without a redeploy.
//
// Parameters is the single list of settings: defaults, documentation
// (docs/configuration.md is generated from it) and the unknown-parameter
// check all come from it.
//
// This package must never put a secret value in an error, a log line or any
// printed form of Config: Secrets redacts itself for fmt, slog and JSON. It
// fails closed: without a configuration that validated once, Get returns an
// error rather than defaults.
package config

//go:generate go test -run TestConfigurationDocIsCurrent -update .
