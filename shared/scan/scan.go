// Package scan is the static analysis of one skill folder: it reads every text
// file (never executes anything), runs the Markdown, shell, Python/JavaScript,
// encoded-blob, binary, indicator and rule-pack analyzers, follows credential
// material to network calls within the skill, compares what the code does with
// the permissions and claims of SKILL.md, and turns the findings into a
// decision.
//
// Scoring: each rule contributes its severity's points once (the highest
// severity it reached), summed over rules: info 0, low 5, medium 20, high 40,
// critical 80. A score of 80 or more rejects, 40 or more flags, below that
// approves. See docs/scan.md.
package scan

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

// Decision is the outcome of a scan.
type Decision string

const (
	Approve Decision = "approve"
	Flag    Decision = "flag"
	Reject  Decision = "reject"
)

// Thresholds on the score.
const (
	FlagScore   = 40
	RejectScore = 80
)

// Severity of a finding.
type Severity string

const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Points is what a severity adds to the score.
func (s Severity) Points() int {
	switch s {
	case Low:
		return 5
	case Medium:
		return 20
	case High:
		return 40
	case Critical:
		return 80
	}
	return 0
}

// Categories (the ToxicSkills list).
const (
	CatPromptInjection = "prompt-injection"
	CatMaliciousCode   = "malicious-code"
	CatDownloads       = "suspicious-downloads"
	CatCredentials     = "credential-handling"
	CatSecrets         = "secrets"
	CatThirdParty      = "third-party-content"
	CatDependencies    = "unverifiable-dependencies"
	CatMoney           = "direct-money-access"
	CatSystemServices  = "modifying-system-services"
)

// Finding is one thing the scan found.
type Finding struct {
	RuleID   string   `json:"rule_id"`
	Category string   `json:"category"`
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Evidence string   `json:"evidence"`
	Why      string   `json:"why"`
}

// Report is the result of scanning one skill folder.
type Report struct {
	Dir      string    `json:"dir"`
	Name     string    `json:"name,omitempty"`
	Decision Decision  `json:"decision"`
	Score    int       `json:"score"`
	Findings []Finding `json:"findings"`
}

// Limits on what is read.
const (
	maxFileSize = 1 << 20
	maxFiles    = 2000
	maxEvidence = 120
	binarySniff = 8000
)

// FileAnalyzer is an extra analyzer the scan runs on every regular file it
// reads (text or binary, at most maxFileSize bytes), such as the dependency
// check against a vulnerability database. name is slash-separated and relative
// to the skill folder. It must be safe for concurrent use.
type FileAnalyzer interface {
	AnalyzeFile(name string, data []byte) []Finding
}

// Scan analyzes the skill folder dir. It only reads files.
func Scan(dir string) (*Report, error) { return ScanWith(dir) }

// ScanWith analyzes the skill folder dir with the built-in analyzers and extra.
func ScanWith(dir string, extra ...FileAnalyzer) (*Report, error) {
	s := newScanner()
	r := &Report{Dir: dir}
	var perms *trust.Permissions
	if m, err := skill.Load(dir); err == nil {
		r.Name = m.Name
		p := m.Permissions
		perms = &p
	} else {
		s.add(Finding{RuleID: "MF001", Category: CatThirdParty, Severity: Low, File: skill.ManifestFile,
			Evidence: truncate(err.Error()), Why: "SKILL.md is missing or does not parse strictly; declared permissions are unknown"})
	}
	var decl *declared
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if n++; n > maxFiles {
			return filepath.SkipAll
		}
		info, err := d.Info()
		if err != nil || info.Size() > maxFileSize {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		for _, a := range extra {
			for _, f := range a.AnalyzeFile(rel, data) {
				s.add(f)
			}
		}
		if bytes.IndexByte(data[:min(len(data), binarySniff)], 0) >= 0 {
			s.binary(rel, data)
			return nil
		}
		text := string(data)
		if rel == skill.ManifestFile {
			decl = readDeclared(text)
		}
		s.file(rel, text)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.undeclared(perms)
	s.correlate(decl)
	r.Findings = s.findings
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Severity.Points() != b.Severity.Points() {
			return a.Severity.Points() > b.Severity.Points()
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	r.Score = score(r.Findings)
	r.Decision = decide(r.Score)
	return r, nil
}

func score(fs []Finding) int {
	best := map[string]int{}
	for _, f := range fs {
		if p := f.Severity.Points(); p > best[f.RuleID] {
			best[f.RuleID] = p
		}
	}
	total := 0
	for _, p := range best {
		total += p
	}
	return total
}

func decide(score int) Decision {
	switch {
	case score >= RejectScore:
		return Reject
	case score >= FlagScore:
		return Flag
	}
	return Approve
}

// truncate shortens evidence to one line of at most maxEvidence bytes.
func truncate(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > maxEvidence {
		cut := maxEvidence
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// redact keeps the first four characters of a secret.
func redact(s string) string {
	if len(s) <= 4 {
		return "[redacted]"
	}
	return s[:4] + "…[redacted]"
}
