package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openagents/trust/shared/analyzers"
	"github.com/openagents/trust/shared/scan"
)

// runScan is `trustctl scan [--json|--sarif] [--osv DIR] DIR...`: the
// pipeline's static analysis, per skill, with the same extra analyzers
// (secrets, dependencies). It exits 0 only when every skill is approved.
func runScan(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "scan", "[--json|--sarif] DIR...")
	asJSON := fs.Bool("json", false, "print one JSON report per line")
	asSARIF := fs.Bool("sarif", false, "print one SARIF 2.1.0 log for all skills")
	top := fs.Int("top", 3, "findings shown per skill in text output")
	osv := fs.String("osv", env.Getenv(analyzers.EnvOSVDir), "OSV advisory directory for the dependency check (env "+analyzers.EnvOSVDir+"; empty: none)")
	dirs, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(dirs) == 0 {
		return usagef("at least one skill folder required")
	} else if *asJSON && *asSARIF {
		return usagef("--json and --sarif are exclusive")
	}
	// Exactly the analyzers the pipeline runs (shared/analyzers).
	extra, err := analyzers.Default(analyzers.Options{OSVDir: *osv, OSVCacheDir: env.Getenv(analyzers.EnvOSVCacheDir)})
	if err != nil {
		return err
	}
	var reports []*scan.Report
	allApproved := true
	for _, dir := range dirs {
		r, err := scan.ScanWith(dir, extra...)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %s\n", dir, describe(err))
			allApproved = false
			continue
		}
		reports = append(reports, r)
		if r.Decision != scan.Approve {
			allApproved = false
		}
		switch {
		case *asJSON:
			b, _ := json.Marshal(r)
			fmt.Fprintln(env.Stdout, string(b))
		case !*asSARIF:
			writeScanLine(env.Stdout, r, *top)
		}
	}
	if *asSARIF {
		if err := writeSARIF(env.Stdout, reports); err != nil {
			return err
		}
	}
	if !allApproved {
		return errRefused
	}
	return nil
}

func writeScanLine(w io.Writer, r *scan.Report, top int) {
	var parts []string
	for i, f := range r.Findings {
		if i == top {
			parts = append(parts, fmt.Sprintf("+%d more", len(r.Findings)-top))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s %s:%d", f.RuleID, f.Severity, f.File, f.Line))
	}
	fmt.Fprintf(w, "%-7s %4d  %s  %s\n", r.Decision, r.Score, r.Dir, strings.Join(parts, "; "))
}

// SARIF 2.1.0, the subset code-scanning tools read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	ShortDescription sarifText      `json:"shortDescription"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

func sarifLevel(s scan.Severity) string {
	switch s {
	case scan.Critical, scan.High:
		return "error"
	case scan.Medium:
		return "warning"
	}
	return "note"
}

func writeSARIF(w io.Writer, reports []*scan.Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "trustctl scan"}}, Results: []sarifResult{}}
	rules := map[string]sarifRule{}
	for _, r := range reports {
		for _, f := range r.Findings {
			if _, ok := rules[f.RuleID]; !ok {
				rules[f.RuleID] = sarifRule{ID: f.RuleID, ShortDescription: sarifText{f.Why},
					Properties: map[string]any{"category": f.Category}}
			}
			loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(filepath.Join(r.Dir, f.File))}}}
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
			}
			run.Results = append(run.Results, sarifResult{
				RuleID: f.RuleID, Level: sarifLevel(f.Severity),
				Message:    sarifText{f.Why + ": " + f.Evidence},
				Locations:  []sarifLocation{loc},
				Properties: map[string]any{"severity": f.Severity, "skillDecision": r.Decision, "skillScore": r.Score},
			})
		}
	}
	for _, r := range rules {
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, r)
	}
	sort.Slice(run.Tool.Driver.Rules, func(i, j int) bool { return run.Tool.Driver.Rules[i].ID < run.Tool.Driver.Rules[j].ID })
	if run.Tool.Driver.Rules == nil {
		run.Tool.Driver.Rules = []sarifRule{}
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}
