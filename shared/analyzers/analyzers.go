// Package analyzers assembles the extra scan.FileAnalyzers that run on top
// of the built-in static analysis: secret detection (shared/scan/secrets)
// and the dependency check (shared/vuln). The submission pipeline,
// `trustctl scan` and `make eval` all call Default, so they run exactly the
// same set.
package analyzers

import (
	"fmt"
	"os"

	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/scan/secrets"
	"github.com/openagents/trust/shared/vuln"
)

// Environment variables for mains that read their configuration from the
// environment.
const (
	EnvOSVDir      = "TRUST_OSV_DB"        // Options.OSVDir, as functions.Config names it
	EnvOSVCacheDir = "TRUST_OSV_CACHE_DIR" // Options.OSVCacheDir
)

// Options configure the analyzers.
type Options struct {
	// OSVDir is a directory (or a .zip export) of OSV advisories. Empty
	// means no vulnerability database: the dependency analyzer still
	// reports typosquats and unverifiable or unpinned dependencies, and
	// says on each dependency file that no database was configured.
	OSVDir string

	// OSVCacheDir, if set, keeps a snapshot of the indexed database on
	// disk, so the next process starts in milliseconds instead of parsing
	// every advisory (vuln.OpenCached). Empty: no snapshot.
	OSVCacheDir string
}

// OptionsFromEnv reads Options from the environment.
func OptionsFromEnv() Options {
	return Options{OSVDir: os.Getenv(EnvOSVDir), OSVCacheDir: os.Getenv(EnvOSVCacheDir)}
}

// Default returns the analyzers in a fixed order: secrets, then
// dependencies. A configured OSVDir that does not load is an error (the
// scan fails closed rather than silently skipping the check): EINVALID for
// a missing directory or a malformed advisory. The database is cached per
// directory, so calling Default again is cheap.
func Default(opts Options) ([]scan.FileAnalyzer, error) {
	dep := &vuln.Analyzer{}
	if opts.OSVDir != "" {
		db, err := vuln.OpenCached(opts.OSVDir, opts.OSVCacheDir)
		if err != nil {
			return nil, fmt.Errorf("load OSV database: %w", err)
		}
		dep.DB = db
	}
	return []scan.FileAnalyzer{secrets.Analyzer{}, dep}, nil
}
