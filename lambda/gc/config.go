package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/vault"
)

// Environment variables the function reads (terraform/modules/stowken sets them).
const (
	// EnvStore is the store, s3://BUCKET/PREFIX (required).
	EnvStore = "STOWKEN_STORE"
	// EnvRefs is the reference table, dynamodb://TABLE (required).
	EnvRefs = "STOWKEN_REFS"
	// EnvGrace is vault.GCOptions.Grace as a Go duration ("24h", "90m", "0s"); default DefaultGrace.
	EnvGrace = "STOWKEN_GC_GRACE"
	// EnvBudget is vault.GCOptions.Budget: at most this many segments deleted per run; 0 (the
	// default) means no limit.
	EnvBudget = "STOWKEN_GC_BUDGET"
	// EnvDryRun is vault.GCOptions.DryRun (strconv.ParseBool: true, false, 1, 0, ...); default false.
	EnvDryRun = "STOWKEN_GC_DRY_RUN"
	// EnvSafetyMargin is how long before the Lambda deadline the run stops (Go duration);
	// default DefaultSafetyMargin.
	EnvSafetyMargin = "STOWKEN_GC_SAFETY_MARGIN"
	// EnvLogLevel is the log level: debug, info (default), warn or error.
	EnvLogLevel = "STOWKEN_LOG_LEVEL"
	// EnvSketches is vault.Options.Sketches (strconv.ParseBool); default false: GC writes
	// the sketches of the conversations stored alone whose entries it gathers.
	EnvSketches = "STOWKEN_SKETCHES"
)

// Defaults for unset variables.
const (
	DefaultGrace        = 24 * time.Hour
	DefaultSafetyMargin = 30 * time.Second
)

// Config is what the function runs with.
type Config struct {
	Store, Refs string
	GC          vault.GCOptions
	// SafetyMargin is kept free before the invocation's deadline: the run stops this long
	// before it (or halfway through the remaining time when that is shorter).
	SafetyMargin time.Duration
	LogLevel     slog.Level
	// Sketches is vault.Options.Sketches.
	Sketches bool
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main). Every problem is
// reported, each naming the variable and what it wants.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Store:        strings.TrimSpace(getenv(EnvStore)),
		Refs:         strings.TrimSpace(getenv(EnvRefs)),
		GC:           vault.GCOptions{Grace: DefaultGrace, Lease: true},
		SafetyMargin: DefaultSafetyMargin,
		LogLevel:     slog.LevelInfo,
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case cfg.Store == "":
		bad("%s is not set: want s3://BUCKET/PREFIX", EnvStore)
	case cfg.Refs == "":
		bad("%s is not set: want dynamodb://TABLE", EnvRefs)
	default:
		_, err := backends.Parse(cfg.Store, cfg.Refs)
		switch {
		case errors.Is(err, location.ErrUnknownScheme):
			bad("%s=%q: the GC function needs an s3://BUCKET/PREFIX store (a local store is single-process and lives on one machine): %w", EnvStore, cfg.Store, err)
		case err != nil:
			bad("%s=%q, %s=%q: %w", EnvStore, cfg.Store, EnvRefs, cfg.Refs, err)
		}
	}
	if s := strings.TrimSpace(getenv(EnvGrace)); s != "" {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			bad("%s=%q: want a Go duration such as 24h, 90m or 0s: %v", EnvGrace, s, err)
		case d < 0:
			bad("%s=%q: must not be negative", EnvGrace, s)
		default:
			cfg.GC.Grace = d
		}
	}
	if s := strings.TrimSpace(getenv(EnvBudget)); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			bad("%s=%q: want a whole number of segments (0: no limit)", EnvBudget, s)
		case n < 0:
			bad("%s=%q: must not be negative (0: no limit)", EnvBudget, s)
		default:
			cfg.GC.Budget = n
		}
	}
	if s := strings.TrimSpace(getenv(EnvDryRun)); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad("%s=%q: want true or false", EnvDryRun, s)
		}
		cfg.GC.DryRun = b
	}
	if s := strings.TrimSpace(getenv(EnvSketches)); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad("%s=%q: want true or false", EnvSketches, s)
		}
		cfg.Sketches = b
	}
	if s := strings.TrimSpace(getenv(EnvSafetyMargin)); s != "" {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			bad("%s=%q: want a Go duration such as 30s: %v", EnvSafetyMargin, s, err)
		case d < 0:
			bad("%s=%q: must not be negative", EnvSafetyMargin, s)
		default:
			cfg.SafetyMargin = d
		}
	}
	if s := strings.TrimSpace(getenv(EnvLogLevel)); s != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(s)); err != nil {
			bad("%s=%q: want debug, info, warn or error", EnvLogLevel, s)
		}
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("stowken gc: configuration: %w", errors.Join(errs...))
	}
	return cfg, nil
}
