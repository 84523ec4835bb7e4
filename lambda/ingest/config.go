package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
)

// Environment variables the function reads (terraform/modules/stowken sets them).
const (
	EnvStore    = "STOWKEN_STORE"
	EnvRefs     = "STOWKEN_REFS"
	EnvLogLevel = "STOWKEN_LOG_LEVEL"
	// EnvSketches is vault.Options.Sketches (strconv.ParseBool); default false.
	EnvSketches = "STOWKEN_SKETCHES"
)

// Config is what the function runs with.
type Config struct {
	Store, Refs string
	// Bucket and Prefix are the store's bucket and key prefix ("" or ending in "/"), which
	// S3 notifications name.
	Bucket, Prefix string
	LogLevel       slog.Level
	// Sketches is vault.Options.Sketches.
	Sketches bool
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main). Every problem is
// reported, each naming the variable and what it wants.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{Store: strings.TrimSpace(getenv(EnvStore)), Refs: strings.TrimSpace(getenv(EnvRefs)), LogLevel: slog.LevelInfo}
	var errs []error
	if cfg.Store == "" || cfg.Refs == "" {
		errs = append(errs, fmt.Errorf("%s and %s must be set: want s3://BUCKET/PREFIX and dynamodb://TABLE", EnvStore, EnvRefs))
	} else if _, err := backends.Parse(cfg.Store, cfg.Refs); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q, %s=%q: %w", EnvStore, cfg.Store, EnvRefs, cfg.Refs, err))
	} else if u, err := url.Parse(cfg.Store); err == nil {
		cfg.Bucket, cfg.Prefix = u.Host, strings.Trim(u.Path, "/")
		if cfg.Prefix != "" {
			cfg.Prefix += "/"
		}
	}
	if s := strings.TrimSpace(getenv(EnvLogLevel)); s != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(s)); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want debug, info, warn or error", EnvLogLevel, s))
		}
	}
	if s := strings.TrimSpace(getenv(EnvSketches)); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", EnvSketches, s))
		}
		cfg.Sketches = b
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("stowken ingest: configuration: %w", errors.Join(errs...))
	}
	return cfg, nil
}
