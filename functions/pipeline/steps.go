package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/openagents/trust/shared/bundle"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/oci"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
	"github.com/openagents/trust/shared/vuln"
)

// work holds the skill folder extracted from the stored archive for the steps
// of one Resume. Each Resume extracts afresh (a Lambda keeps nothing between
// invocations) into a private temporary directory removed by close.
type work struct {
	r   *Runner
	tmp string // private parent, mode 0700
	dir string // the extracted skill
}

func (w *work) close() {
	if w.tmp != "" {
		os.RemoveAll(w.tmp)
	}
}

// skillDir extracts the archive of sub once per Resume.
func (w *work) skillDir(ctx context.Context, sub *trust.Submission) (string, error) {
	if w.dir != "" {
		return w.dir, nil
	}
	archive, err := w.r.Catalog.FindSubmissionArchive(ctx, sub.ID)
	if err != nil {
		return "", fmt.Errorf("fetch archive of %s: %w", sub.ID, err)
	}
	tmp, err := os.MkdirTemp(w.r.WorkDir, "pipeline-")
	if err != nil {
		return "", fmt.Errorf("create work directory: %w", err)
	}
	w.tmp = tmp
	dir := filepath.Join(tmp, "skill")
	if _, err := bundle.Extract(ctx, bytes.NewReader(archive), bundle.FormatAuto, dir, w.r.Limits); err != nil {
		if bundle.RuleOf(err) != "" {
			return "", permanentf("%s", trust.ErrorMessage(err)) // names the rule and the entry
		}
		return "", asPermanent("extract archive", err)
	}
	w.dir = dir
	return dir, nil
}

// checkedDir is skillDir for the steps after extraction: the folder must still
// be what extraction recorded.
func (w *work) checkedDir(ctx context.Context, sub *trust.Submission) (string, error) {
	fresh := w.dir == ""
	dir, err := w.skillDir(ctx, sub)
	if err != nil || !fresh {
		return dir, err
	}
	got, err := digest.Content(dir)
	if err != nil {
		return "", asPermanent("digest skill", err)
	} else if got != sub.ContentDigest {
		return "", permanentf("stored archive no longer has the recorded content digest")
	}
	return dir, nil
}

// extract: received → extracted. Safe extraction, SKILL.md, digests, and the
// catalog's word on name@version (immutable once recorded).
func (r *Runner) extract(ctx context.Context, w *work, sub *trust.Submission) (*trust.Submission, error) {
	dir, err := w.skillDir(ctx, sub)
	if err != nil {
		return nil, err
	}
	m, err := skill.Load(dir)
	if err != nil {
		return nil, asPermanent("read SKILL.md", err)
	}
	if m.Version == "" {
		return nil, permanentf("SKILL.md gives no version: every submission names its version")
	}
	if err := trust.ValidateSkillRef(m.Name, m.Version); err != nil {
		return nil, asPermanent("SKILL.md", err)
	}
	content, err := digest.Content(dir)
	if err != nil {
		return nil, asPermanent("content digest", err)
	}
	perms, err := digest.Permissions(m.Permissions)
	if err != nil {
		return nil, asPermanent("permissions digest", err)
	}
	ref := m.Ref()
	switch sv, err := r.Catalog.FindSkillVersion(ctx, ref); {
	case err == nil && sv.Publisher != sub.Publisher:
		return nil, permanentf("skill %s is already published by another publisher", ref)
	case err == nil && (sv.ContentDigest != content || sv.PermissionsDigest != perms):
		return nil, permanentf("skill %s already exists with other content or permissions: a version is immutable, submit a new version", ref)
	case err == nil && sv.State == trust.SkillVersionRejected:
		return nil, permanentf("skill %s was rejected, and rejection is final: submit a new version", ref)
	case err != nil && trust.ErrorCode(err) != trust.ENOTFOUND:
		return nil, fmt.Errorf("find skill version %s: %w", ref, err)
	}
	p := m.Permissions
	return r.move(ctx, sub.ID, trust.SubmissionTransition{
		From: trust.SubmissionReceived, To: trust.SubmissionExtracted,
		Name: m.Name, Version: m.Version, ContentDigest: content, PermissionsDigest: perms, Permissions: &p,
	})
}

// scan: extracted → scanned. The findings are recorded (replacing any of an
// earlier attempt) before the move, with the decision and score.
func (r *Runner) scan(ctx context.Context, w *work, sub *trust.Submission) (*trust.Submission, error) {
	dir, err := w.checkedDir(ctx, sub)
	if err != nil {
		return nil, err
	}
	rep, err := scan.ScanWith(dir, r.Analyzers...)
	if err != nil {
		return nil, asPermanent("static analysis", err)
	}
	fs := make([]*trust.SubmissionFinding, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		fs = append(fs, &trust.SubmissionFinding{Source: SourceStatic, RuleID: f.RuleID, Category: f.Category,
			Severity: string(f.Severity), File: f.File, Line: f.Line, Evidence: f.Evidence, Why: f.Why})
	}
	if err := r.Catalog.ReplaceSubmissionFindings(ctx, sub.ID, SourceStatic, capFindings(SourceStatic, fs)); err != nil {
		return nil, fmt.Errorf("record findings of %s: %w", sub.ID, err)
	}
	score := rep.Score
	return r.move(ctx, sub.ID, trust.SubmissionTransition{
		From: trust.SubmissionExtracted, To: trust.SubmissionScanned, Decision: string(rep.Decision), Score: &score,
	})
}

// build: scanned → built. The pinned base plus the skill's layer, pushed; the
// same skill gives the same image digest, so a repeated push is harmless.
func (r *Runner) build(ctx context.Context, w *work, sub *trust.Submission) (*trust.Submission, error) {
	dir, err := w.checkedDir(ctx, sub)
	if err != nil {
		return nil, err
	}
	base, err := oci.LoadBase(r.BaseLayout, r.BaseImage)
	if err != nil {
		// A missing or damaged base is the operator's to fix, not the
		// publisher's fault: the submission waits.
		return nil, fmt.Errorf("load OCI base: %w", err)
	}
	img, err := oci.Build(ctx, base, dir, oci.BuildOptions{Name: sub.Name, Version: sub.Version, ContentDigest: sub.ContentDigest})
	if err != nil {
		return nil, asPermanent("build image", err, trust.ECONFLICT)
	}
	t := trust.SubmissionTransition{From: trust.SubmissionScanned, To: trust.SubmissionBuilt}
	if r.VulnDB != nil {
		pkgs, err := oci.Inventory(img)
		if err != nil {
			return nil, fmt.Errorf("inventory image: %w", err)
		}
		fs, points, decision := imageFindings(r.VulnDB.MatchPackages(pkgs))
		if err := r.Catalog.ReplaceSubmissionFindings(ctx, sub.ID, SourceImage, capFindings(SourceImage, fs)); err != nil {
			return nil, fmt.Errorf("record image findings of %s: %w", sub.ID, err)
		}
		if points > 0 {
			score := sub.Score + points
			t.Score, t.Decision = &score, string(worse(scan.Decision(sub.Decision), decision))
		}
	}
	imageDigest, err := r.push(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("push image: %w", err)
	}
	t.ImageDigest = imageDigest
	return r.move(ctx, sub.ID, t)
}

// imageFindings turns the advisories matching the image's packages into
// findings. A package the skill's own layer installs (under oci.Prefix: a
// vendored node_modules or site-packages) is the publisher's: it scores like a
// static finding (a known-malicious package is critical; an advisory without
// a severity counts as medium) and can flag or reject. A package of the pinned
// base image is the platform's to update: it is recorded at info severity and
// never changes the decision.
func imageFindings(matches []vuln.PackageMatch) (fs []*trust.SubmissionFinding, points int, decision scan.Decision) {
	worst := map[string]int{} // per advisory, its points
	for _, m := range matches {
		sev := m.Advisory.Severity
		if m.Advisory.Malicious {
			sev = scan.Critical
		} else if sev == "" {
			sev = scan.Medium
		}
		p := m.Package
		why := fmt.Sprintf("%s %s %s is affected by %s", p.Ecosystem, p.Name, p.Version, m.Advisory.ID)
		if m.Advisory.Malicious {
			why = fmt.Sprintf("%s %s %s is a known-malicious package (%s)", p.Ecosystem, p.Name, p.Version, m.Advisory.ID)
		}
		if !strings.HasPrefix(strings.TrimPrefix(p.Path, "/"), oci.Prefix) {
			why += "; in the pinned base image, the platform's to update"
			sev = scan.Info
		} else {
			worst[m.Advisory.ID] = max(worst[m.Advisory.ID], sev.Points())
		}
		fs = append(fs, &trust.SubmissionFinding{Source: SourceImage, RuleID: "IMG001", Category: scan.CatDependencies,
			Severity: string(sev), File: p.Path, Evidence: truncate(m.Advisory.ID+" "+m.Advisory.Summary, 200), Why: why})
	}
	for _, p := range worst {
		points += p
	}
	return fs, points, decisionFor(points)
}

// decisionFor is the decision a score alone gives (scan's thresholds).
func decisionFor(points int) scan.Decision {
	switch {
	case points >= scan.RejectScore:
		return scan.Reject
	case points >= scan.FlagScore:
		return scan.Flag
	}
	return scan.Approve
}

// layoutLocks serializes pushes to one OCI layout directory within this
// process: oci.Push rewrites the layout's index.json and takes no lock. (A
// registry URL needs none; one process writes a layout in the local stack.)
var layoutLocks sync.Map // dest → *sync.Mutex

func (r *Runner) push(ctx context.Context, img v1.Image) (string, error) {
	if !strings.HasPrefix(r.Registry, "http://") && !strings.HasPrefix(r.Registry, "https://") {
		mu, _ := layoutLocks.LoadOrStore(filepath.Clean(r.Registry), &sync.Mutex{})
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
	}
	return oci.Push(ctx, img, r.Registry)
}

// analyze: built → analyzed. Without a Behavior, nothing runs: the move
// records that behavioral analysis was not run, and adds no finding. With one,
// its findings are recorded (replacing an earlier attempt's) and its decision
// and score are combined with the static ones: the worse decision wins, the
// scores add up.
func (r *Runner) analyze(ctx context.Context, w *work, sub *trust.Submission) (*trust.Submission, error) {
	if r.Behavior == nil {
		return r.move(ctx, sub.ID, trust.SubmissionTransition{
			From: trust.SubmissionBuilt, To: trust.SubmissionAnalyzed, Reason: BehaviorNotRun,
		})
	}
	if sub.Score < r.BehaviorMinScore {
		return r.move(ctx, sub.ID, trust.SubmissionTransition{
			From: trust.SubmissionBuilt, To: trust.SubmissionAnalyzed,
			Reason: fmt.Sprintf("%s (static score %d, below %d)", BehaviorLowRisk, sub.Score, r.BehaviorMinScore),
		})
	}
	dir, err := w.checkedDir(ctx, sub)
	if err != nil {
		return nil, err
	}
	found, decision, err := r.Behavior.Analyze(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("behavioral analysis: %w", err)
	}
	fs := make([]*trust.SubmissionFinding, 0, len(found))
	points := map[string]int{} // per rule, its worst severity's points
	for _, f := range found {
		fs = append(fs, &trust.SubmissionFinding{Source: SourceBehavior, RuleID: f.RuleID, Category: f.Category,
			Severity: string(f.Severity), File: f.File, Line: f.Line, Evidence: f.Evidence, Why: f.Why})
		points[f.RuleID] = max(points[f.RuleID], f.Severity.Points())
	}
	if err := r.Catalog.ReplaceSubmissionFindings(ctx, sub.ID, SourceBehavior, capFindings(SourceBehavior, fs)); err != nil {
		return nil, fmt.Errorf("record behavior findings of %s: %w", sub.ID, err)
	}
	score := sub.Score
	for _, p := range points {
		score += p
	}
	return r.move(ctx, sub.ID, trust.SubmissionTransition{
		From: trust.SubmissionBuilt, To: trust.SubmissionAnalyzed,
		Decision: string(worse(scan.Decision(sub.Decision), decision)), Score: &score,
	})
}

// worse returns the more severe of two decisions (reject > flag > approve;
// anything unknown counts as flag, so it goes to a human).
func worse(a, b scan.Decision) scan.Decision {
	rank := func(d scan.Decision) int {
		switch d {
		case scan.Approve:
			return 0
		case scan.Reject:
			return 2
		}
		return 1
	}
	return []scan.Decision{scan.Approve, scan.Flag, scan.Reject}[max(rank(a), rank(b))]
}

// decide: analyzed → approved, flagged or rejected, from the scan's decision.
func (r *Runner) decide(ctx context.Context, sub *trust.Submission) (*trust.Submission, error) {
	t := trust.SubmissionTransition{From: trust.SubmissionAnalyzed}
	switch scan.Decision(sub.Decision) {
	case scan.Approve:
		t.To = trust.SubmissionApproved
	case scan.Flag:
		t.To = trust.SubmissionFlagged
	case scan.Reject:
		// The reason names the worst findings: read them (a transition's
		// answer need not carry them).
		full, err := r.Catalog.FindSubmissionByID(ctx, sub.ID)
		if err != nil {
			return nil, fmt.Errorf("find submission %s: %w", sub.ID, err)
		}
		t.To, t.Reason = trust.SubmissionRejected, rejectReason(full)
	default:
		return nil, permanentf("no scan decision recorded")
	}
	return r.move(ctx, sub.ID, t)
}

// rejectReason summarizes why static analysis rejected sub.
func rejectReason(sub *trust.Submission) string {
	reason := fmt.Sprintf("static analysis rejected the skill (score %d)", sub.Score)
	n := 0
	for _, f := range sub.Findings {
		if f.Severity != string(scan.Critical) && f.Severity != string(scan.High) {
			continue
		}
		if n == 3 {
			reason += "; …"
			break
		}
		sep := "; "
		if n == 0 {
			sep = ": "
		}
		reason += fmt.Sprintf("%s%s %s in %s", sep, f.RuleID, f.Severity, f.File)
		n++
	}
	return truncate(reason, maxReason)
}

// sign: approved → signed. The skill version is recorded with every digest
// (the image digest included), approved, and signed; the signature must carry
// the image digest that was built and pushed.
func (r *Runner) sign(ctx context.Context, sub *trust.Submission) (*trust.Submission, error) {
	if !trust.ValidDigest(sub.ImageDigest) {
		return nil, permanentf("no image digest recorded: an unbuilt skill is never signed")
	}
	// Only KYC-verified publishers publish: checked again here, since the
	// state may have changed since intake (a review can take days). A
	// publisher that is not verified now leaves the submission waiting in
	// approved; the scheduled resume signs it once Stripe verifies again.
	pub, err := r.Catalog.FindPublisherByID(ctx, sub.Publisher)
	if err != nil {
		return nil, fmt.Errorf("find publisher %s: %w", sub.Publisher, err)
	} else if pub.KYCState != trust.KYCVerified {
		return nil, trust.Errorf(trust.EFORBIDDEN, "publisher %s is not KYC-verified (%s): not signed; the submission waits in approved", sub.Publisher, pub.KYCState)
	}
	ref := trust.SkillRef{Name: sub.Name, Version: sub.Version}
	sv, err := r.Catalog.CreateSkillVersion(ctx, &trust.SkillVersion{
		Name: sub.Name, Version: sub.Version, Publisher: sub.Publisher,
		ContentDigest: sub.ContentDigest, PermissionsDigest: sub.PermissionsDigest, ImageDigest: sub.ImageDigest,
		Permissions: sub.Permissions, State: trust.SkillVersionPending,
	})
	if err != nil {
		return nil, asPermanent("record skill version "+ref.String(), err, trust.ECONFLICT)
	}
	if sv.State != trust.SkillVersionApproved {
		if _, err := r.Catalog.UpdateSkillVersionState(ctx, ref, trust.SkillVersionApproved); err != nil {
			return nil, asPermanent("approve skill version "+ref.String(), err, trust.ECONFLICT)
		}
	}
	sig, err := r.Signer.Sign(ctx, ref)
	if err != nil {
		// The signer's ECONFLICT is about its key (not active, outside its
		// window): an operator's problem, so the submission waits.
		return nil, asPermanent("sign "+ref.String(), err)
	}
	if sig.ImageDigest != sub.ImageDigest || sig.ContentDigest != sub.ContentDigest || sig.PermissionsDigest != sub.PermissionsDigest {
		// Fail closed: recall what was signed (rejection withdraws the
		// version's signatures) before failing the submission.
		if _, err := r.Catalog.UpdateSkillVersionState(ctx, ref, trust.SkillVersionRejected); err != nil {
			return nil, fmt.Errorf("recall skill version %s: %w", ref, err)
		}
		return nil, permanentf("signature of %s does not cover the built image and content digests", ref)
	}
	return r.move(ctx, sub.ID, trust.SubmissionTransition{
		From: trust.SubmissionApproved, To: trust.SubmissionSigned,
	})
}

// capFindings keeps at most trust.MaxSubmissionFindings findings of one
// source, the most severe first, the last place taken by a note of how many
// were left out: the catalog refuses more, and a skill built to produce
// thousands must not stall in the pipeline. The score and decision come
// from the full analysis, so nothing left out changes them.
func capFindings(source string, fs []*trust.SubmissionFinding) []*trust.SubmissionFinding {
	if len(fs) <= trust.MaxSubmissionFindings {
		return fs
	}
	sorted := slices.Clone(fs)
	slices.SortStableFunc(sorted, func(a, b *trust.SubmissionFinding) int {
		return scan.Severity(b.Severity).Points() - scan.Severity(a.Severity).Points()
	})
	kept := sorted[:trust.MaxSubmissionFindings-1]
	return append(kept, &trust.SubmissionFinding{Source: source, RuleID: "FINDINGS-CAP", Severity: string(scan.Info),
		Why: fmt.Sprintf("%d more findings not recorded (at most %d per source are kept, the most severe first)",
			len(fs)-len(kept), trust.MaxSubmissionFindings)})
}
