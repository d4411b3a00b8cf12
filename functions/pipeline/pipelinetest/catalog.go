// Package pipelinetest is an in-memory fake of the edge catalog's publisher,
// submission, skill-version, keyring and signature services, for the tests of
// the submission pipeline and its HTTP intake. It is a fake, named as one: it
// follows the contract in shared/trust/submission.go (the state machine with
// compare-and-set, idempotent intake, findings replaced per source,
// notifications recorded once) and the edge's skill-version and signature
// rules, so the pipeline's crash-and-resume tests mean something. The real
// catalog is edge/sqlite behind edge/api; end-to-end tests use that.
//
// A hook (SetHook) runs around every write, before it (Call.Committed false: an error
// there aborts the write, like an unreachable catalog) and after it commits
// (Call.Committed true: an error there is returned although the write is
// stored, like a lost answer). A hook that panics simulates a crash.
package pipelinetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// Call describes one write, for a Hook.
type Call struct {
	Method     string                      // e.g. "TransitionSubmission"
	ID         string                      // the submission, when there is one
	Transition *trust.SubmissionTransition // for TransitionSubmission
	Committed  bool                        // false before the write, true after it is stored
}

// Catalog is the fake. The zero value is not usable: call New.
type Catalog struct {
	Now     func() time.Time
	Keyring *trust.Keyring // what FindKeyring returns and CreateSignature verifies against

	mu            sync.Mutex
	hook          func(Call) error
	seq           int
	publishers    map[string]*trust.Publisher
	tokens        map[string]string // sha256(token) hex → publisher ID
	secrets       map[string]string // publisher ID → webhook secret
	subs          map[string]*submission
	versions      map[trust.SkillRef]*trust.SkillVersion
	signatures    map[trust.SkillRef][]*trust.Signature
	notifications []*trust.Notification
	writes        map[string]int
}

type submission struct {
	sub      trust.Submission
	archive  []byte
	findings map[string][]*trust.SubmissionFinding // by source
}

// New returns an empty catalog reading the clock now.
func New(now func() time.Time) *Catalog {
	return &Catalog{
		Now:        now,
		Keyring:    &trust.Keyring{},
		publishers: map[string]*trust.Publisher{},
		tokens:     map[string]string{},
		secrets:    map[string]string{},
		subs:       map[string]*submission{},
		versions:   map[trust.SkillRef]*trust.SkillVersion{},
		signatures: map[trust.SkillRef][]*trust.Signature{},
		writes:     map[string]int{},
	}
}

// SetHook installs fn (nil removes it).
func (c *Catalog) SetHook(fn func(Call) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hook = fn
}

// around runs the hook, with c.mu held: a hook must not call the catalog.
// A panicking hook leaves the catalog unlocked and consistent (the write either
// did not start or is complete).
func (c *Catalog) around(call Call) error {
	if c.hook == nil {
		return nil
	}
	return c.hook(call)
}

// Writes returns how many times method committed.
func (c *Catalog) Writes(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[method]
}

func (c *Catalog) now() time.Time { return c.Now().UTC().Truncate(time.Millisecond) }

func (c *Catalog) nextID(prefix string) string {
	c.seq++
	return fmt.Sprintf("%s%06d", prefix, c.seq)
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// AddPublisher records a publisher in the given KYC state with one token and
// returns it. A test helper, not part of the service.
func (c *Catalog) AddPublisher(id, kycState, token string) *trust.Publisher {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	p := &trust.Publisher{ID: id, Name: id, StripeAccount: "acct_" + id, KYCState: kycState, CreatedAt: now, UpdatedAt: now}
	c.publishers[id] = p
	c.tokens[hashToken(token)] = id
	c.secrets[id] = "whsec-" + id
	cp := *p
	return &cp
}

// SetKYC sets a publisher's KYC state. A test helper, not part of the service.
func (c *Catalog) SetKYC(id, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.publishers[id].KYCState = state
}

// AuthenticatePublisher implements trust.PublisherService.
func (c *Catalog) AuthenticatePublisher(ctx context.Context, token string) (*trust.Publisher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.tokens[hashToken(token)]
	if !ok || token == "" {
		return nil, trust.Errorf(trust.EUNAUTHORIZED, "invalid publisher token")
	}
	p := *c.publishers[id]
	return &p, nil
}

// FindPublisherByID implements trust.PublisherService.
func (c *Catalog) FindPublisherByID(ctx context.Context, id string) (*trust.Publisher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.publishers[id]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "publisher %s not found", id)
	}
	cp := *p
	return &cp, nil
}

// CreateSubmission implements trust.SubmissionService.
func (c *Catalog) CreateSubmission(ctx context.Context, s *trust.Submission, archive []byte) (*trust.Submission, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := sha256.Sum256(archive)
	switch p, ok := c.publishers[s.Publisher]; {
	case !ok:
		return nil, false, trust.Errorf(trust.ENOTFOUND, "publisher %s not found", s.Publisher)
	case p.KYCState != trust.KYCVerified:
		return nil, false, trust.Errorf(trust.EFORBIDDEN, "publisher %s is not KYC-verified", s.Publisher)
	case s.ArchiveDigest != digest.Prefix+hex.EncodeToString(sum[:]):
		return nil, false, trust.Errorf(trust.EINVALID, "archive digest does not match the archive")
	case s.ArchiveFormat != "tar.gz" && s.ArchiveFormat != "zip":
		return nil, false, trust.Errorf(trust.EINVALID, "invalid archive format %q", s.ArchiveFormat)
	case s.ArchiveSize != int64(len(archive)):
		return nil, false, trust.Errorf(trust.EINVALID, "archive size does not match the archive")
	}
	for _, e := range c.subs {
		if e.sub.Publisher == s.Publisher && e.sub.ArchiveDigest == s.ArchiveDigest {
			return c.copySub(e, true), false, nil
		}
	}
	if err := c.around(Call{Method: "CreateSubmission"}); err != nil {
		return nil, false, err
	}
	now := c.now()
	e := &submission{archive: bytes.Clone(archive), findings: map[string][]*trust.SubmissionFinding{}}
	e.sub = trust.Submission{
		ID: c.nextID("sub_"), Publisher: s.Publisher, ArchiveDigest: s.ArchiveDigest,
		ArchiveFormat: s.ArchiveFormat, ArchiveSize: s.ArchiveSize, State: trust.SubmissionReceived,
		Permissions: trust.Permissions{}.Normalize(), CreatedAt: now, UpdatedAt: now,
	}
	c.subs[e.sub.ID] = e
	c.writes["CreateSubmission"]++
	out := c.copySub(e, true)
	if err := c.around(Call{Method: "CreateSubmission", ID: e.sub.ID, Committed: true}); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// copySub returns a copy of e's submission, with its findings if asked.
func (c *Catalog) copySub(e *submission, findings bool) *trust.Submission {
	s := e.sub
	s.Findings = nil
	if findings {
		for _, src := range sortedKeys(e.findings) {
			for _, f := range e.findings[src] {
				cp := *f
				s.Findings = append(s.Findings, &cp)
			}
		}
	}
	return &s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FindSubmissionByID implements trust.SubmissionService.
func (c *Catalog) FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.subs[id]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "submission %s not found", id)
	}
	return c.copySub(e, true), nil
}

// FindSubmissionArchive implements trust.SubmissionService.
func (c *Catalog) FindSubmissionArchive(ctx context.Context, id string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.subs[id]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "submission %s not found", id)
	}
	return bytes.Clone(e.archive), nil
}

// FindSubmissions implements trust.SubmissionService: newest first (by
// creation, then ID), without findings.
func (c *Catalog) FindSubmissions(ctx context.Context, f trust.SubmissionFilter) ([]*trust.Submission, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := f.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500 || f.Offset < 0:
		return nil, trust.Errorf(trust.EINVALID, "invalid limit or offset")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []*trust.Submission
	for _, e := range c.subs {
		if (f.Publisher == "" || e.sub.Publisher == f.Publisher) && (f.State == "" || e.sub.State == f.State) {
			all = append(all, c.copySub(e, false))
		}
	}
	slices.SortFunc(all, func(a, b *trust.Submission) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if f.Offset >= len(all) {
		return []*trust.Submission{}, nil
	}
	all = all[f.Offset:]
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

func allowed(from, to string) bool { return trust.SubmissionMoveAllowed(from, to) }

// TransitionSubmission implements trust.SubmissionService.
func (c *Catalog) TransitionSubmission(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !allowed(t.From, t.To) {
		return nil, trust.Errorf(trust.EINVALID, "submission cannot move from %q to %q", t.From, t.To)
	}
	if err := checkTransition(t); err != nil {
		return nil, err
	}
	e, ok := c.subs[id]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "submission %s not found", id)
	} else if e.sub.State != t.From {
		return nil, trust.Errorf(trust.ECONFLICT, "submission %s is %s, not %s", id, e.sub.State, t.From)
	}
	tc := t
	if err := c.around(Call{Method: "TransitionSubmission", ID: id, Transition: &tc}); err != nil {
		return nil, err
	}
	s := &e.sub
	s.State = t.To
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&s.Name, t.Name)
	set(&s.Version, t.Version)
	set(&s.ContentDigest, t.ContentDigest)
	set(&s.PermissionsDigest, t.PermissionsDigest)
	set(&s.ImageDigest, t.ImageDigest)
	set(&s.Decision, t.Decision)
	set(&s.Reason, t.Reason)
	set(&s.Reviewer, t.Reviewer)
	if t.Permissions != nil {
		s.Permissions = t.Permissions.Normalize()
	}
	if t.Score != nil {
		s.Score = *t.Score
	}
	s.UpdatedAt = c.now()
	c.writes["TransitionSubmission"]++
	out := c.copySub(e, true)
	if err := c.around(Call{Method: "TransitionSubmission", ID: id, Transition: &tc, Committed: true}); err != nil {
		return nil, err
	}
	return out, nil
}

func checkTransition(t trust.SubmissionTransition) error {
	for _, d := range []string{t.ContentDigest, t.PermissionsDigest, t.ImageDigest} {
		if d != "" && !trust.ValidDigest(d) {
			return trust.Errorf(trust.EINVALID, "invalid digest %q", d)
		}
	}
	if t.Name != "" || t.Version != "" {
		if err := trust.ValidateSkillRef(t.Name, t.Version); err != nil {
			return err
		}
	}
	switch t.Decision {
	case "", "approve", "flag", "reject":
	default:
		return trust.Errorf(trust.EINVALID, "invalid decision %q", t.Decision)
	}
	if len(t.Reason) > trust.MaxSubmissionReason {
		return trust.Errorf(trust.EINVALID, "reason longer than %d bytes", trust.MaxSubmissionReason)
	}
	if t.To == trust.SubmissionFailed && t.Reason == "" {
		return trust.Errorf(trust.EINVALID, "a move to failed needs a reason")
	}
	if t.From == trust.SubmissionFlagged && t.Reviewer == "" {
		return trust.Errorf(trust.EINVALID, "a review needs a reviewer")
	}
	return nil
}

// ReplaceSubmissionFindings implements trust.SubmissionService.
func (c *Catalog) ReplaceSubmissionFindings(ctx context.Context, id, source string, fs []*trust.SubmissionFinding) error {
	if err := ctx.Err(); err != nil {
		return err
	} else if len(fs) > trust.MaxSubmissionFindings { // as the edge refuses
		return trust.Errorf(trust.EINVALID, "%d findings from %s: at most %d per source", len(fs), source, trust.MaxSubmissionFindings)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.subs[id]
	if !ok {
		return trust.Errorf(trust.ENOTFOUND, "submission %s not found", id)
	}
	if err := c.around(Call{Method: "ReplaceSubmissionFindings", ID: id}); err != nil {
		return err
	}
	if len(fs) > trust.MaxSubmissionFindings {
		return trust.Errorf(trust.EINVALID, "more than %d findings", trust.MaxSubmissionFindings)
	}
	cp := make([]*trust.SubmissionFinding, 0, len(fs))
	for _, f := range fs {
		if f.Source != source {
			return trust.Errorf(trust.EINVALID, "finding of source %q among %q", f.Source, source)
		}
		ff := *f
		cp = append(cp, &ff)
	}
	e.findings[source] = cp
	e.sub.UpdatedAt = c.now()
	c.writes["ReplaceSubmissionFindings"]++
	return c.around(Call{Method: "ReplaceSubmissionFindings", ID: id, Committed: true})
}

// CreateNotification implements trust.SubmissionService: one per submission and kind.
func (c *Catalog) CreateNotification(ctx context.Context, n *trust.Notification) (*trust.Notification, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	} else if len(n.Body) > trust.MaxNotificationBody { // as the edge refuses
		return nil, trust.Errorf(trust.EINVALID, "notification body larger than %d bytes", trust.MaxNotificationBody)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.notifications {
		if e.SubmissionID == n.SubmissionID && e.Kind == n.Kind {
			cp := *e
			return &cp, nil
		}
	}
	if e, ok := c.subs[n.SubmissionID]; !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "submission %s not found", n.SubmissionID)
	} else if e.sub.Publisher != n.Publisher {
		return nil, trust.Errorf(trust.EINVALID, "notification for another publisher than the submission's")
	} else if n.Kind != trust.NotificationSubmissionRejected {
		return nil, trust.Errorf(trust.EINVALID, "invalid notification kind %q", n.Kind)
	}
	if err := c.around(Call{Method: "CreateNotification", ID: n.SubmissionID}); err != nil {
		return nil, err
	}
	e := *n
	e.ID, e.CreatedAt, e.Body = c.nextID("ntf_"), c.now(), bytes.Clone(n.Body)
	c.notifications = append(c.notifications, &e)
	c.writes["CreateNotification"]++
	out := e
	if err := c.around(Call{Method: "CreateNotification", ID: n.SubmissionID, Committed: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Notifications returns every notification recorded (a test helper).
func (c *Catalog) Notifications() []*trust.Notification {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*trust.Notification, 0, len(c.notifications))
	for _, n := range c.notifications {
		cp := *n
		out = append(out, &cp)
	}
	return out
}

// MarkDelivered marks the notification of a submission delivered (a test helper
// standing in for the notify function).
func (c *Catalog) MarkDelivered(submissionID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.notifications {
		if n.SubmissionID == submissionID {
			t := c.now()
			n.DeliveredAt = &t
		}
	}
}

// CreateSkillVersion follows edge/sqlite: a new version is pending or
// approved; the same name@version again is a no-op if publisher and every
// digest match, ECONFLICT otherwise.
func (c *Catalog) CreateSkillVersion(ctx context.Context, v *trust.SkillVersion) (*trust.SkillVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if d, err := digest.Permissions(v.Permissions); err != nil || d != v.PermissionsDigest {
		return nil, trust.Errorf(trust.EINVALID, "permissions do not hash to the permissions digest")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := trust.SkillRef{Name: v.Name, Version: v.Version}
	if e, ok := c.versions[ref]; ok {
		if e.Publisher != v.Publisher || e.ContentDigest != v.ContentDigest ||
			e.PermissionsDigest != v.PermissionsDigest || e.ImageDigest != v.ImageDigest {
			return nil, trust.Errorf(trust.ECONFLICT, "skill version %s is already recorded with other digests", ref)
		}
		cp := *e
		return &cp, nil
	}
	switch v.State {
	case "":
		v.State = trust.SkillVersionPending
	case trust.SkillVersionPending, trust.SkillVersionApproved:
	default:
		return nil, trust.Errorf(trust.EINVALID, "invalid state %q for a new skill version", v.State)
	}
	if err := c.around(Call{Method: "CreateSkillVersion"}); err != nil {
		return nil, err
	}
	e := *v
	e.Permissions = v.Permissions.Normalize()
	e.CreatedAt, e.UpdatedAt = c.now(), c.now()
	c.versions[ref] = &e
	c.writes["CreateSkillVersion"]++
	out := e
	if err := c.around(Call{Method: "CreateSkillVersion", Committed: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindSkillVersion returns one version. ENOTFOUND if absent.
func (c *Catalog) FindSkillVersion(ctx context.Context, ref trust.SkillRef) (*trust.SkillVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.versions[ref]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "skill version %s not found", ref)
	}
	cp := *e
	return &cp, nil
}

// UpdateSkillVersionState follows edge/sqlite: rejection is final.
func (c *Catalog) UpdateSkillVersionState(ctx context.Context, ref trust.SkillRef, state string) (*trust.SkillVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if state != trust.SkillVersionApproved && state != trust.SkillVersionRejected {
		return nil, trust.Errorf(trust.EINVALID, "invalid skill version state %q", state)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.versions[ref]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "skill version %s not found", ref)
	} else if e.State == trust.SkillVersionRejected && state != trust.SkillVersionRejected {
		return nil, trust.Errorf(trust.ECONFLICT, "skill version %s was rejected, and rejection is final", ref)
	}
	if err := c.around(Call{Method: "UpdateSkillVersionState"}); err != nil {
		return nil, err
	}
	e.State, e.UpdatedAt = state, c.now()
	c.writes["UpdateSkillVersionState"]++
	out := *e
	if err := c.around(Call{Method: "UpdateSkillVersionState", Committed: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindKeyring returns the configured keyring.
func (c *Catalog) FindKeyring(ctx context.Context) (*trust.Keyring, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kr := *c.Keyring
	kr.Keys = slices.Clone(c.Keyring.Keys)
	return &kr, nil
}

// CreateSignature verifies envelope against the keyring, as the edge does,
// and records it; the same key version's signature of the same digests
// replaces the earlier one.
func (c *Catalog) CreateSignature(ctx context.Context, envelope []byte) (*trust.Signature, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := signing.Verify(envelope, c.Keyring, c.now())
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "signature does not verify: %s", trust.ErrorMessage(err))
	}
	ref := st.Ref()
	v, ok := c.versions[ref]
	switch {
	case !ok:
		return nil, trust.Errorf(trust.ENOTFOUND, "skill version %s not found", ref)
	case v.State != trust.SkillVersionApproved:
		return nil, trust.Errorf(trust.ECONFLICT, "skill version %s is not approved", ref)
	case v.ContentDigest != st.ContentDigest || v.PermissionsDigest != st.PermissionsDigest || v.ImageDigest != st.ImageDigest:
		return nil, trust.Errorf(trust.ECONFLICT, "signature digests differ from skill version %s", ref)
	}
	if err := c.around(Call{Method: "CreateSignature"}); err != nil {
		return nil, err
	}
	sig := trust.NewSignature(st, envelope)
	sig.CreatedAt = c.now()
	kept := c.signatures[ref][:0]
	for _, s := range c.signatures[ref] {
		if s.KeyID != sig.KeyID || s.KeyVersion != sig.KeyVersion || s.ContentDigest != sig.ContentDigest {
			kept = append(kept, s)
		}
	}
	c.signatures[ref] = append(kept, sig)
	c.writes["CreateSignature"]++
	out := *sig
	if err := c.around(Call{Method: "CreateSignature", Committed: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindSignatures returns the signatures of one skill version.
func (c *Catalog) FindSignatures(ctx context.Context, ref trust.SkillRef) ([]*trust.Signature, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []*trust.Signature{}
	for _, s := range c.signatures[ref] {
		cp := *s
		out = append(out, &cp)
	}
	return out, nil
}

// SkillVersions returns how many skill versions are recorded (a test helper).
func (c *Catalog) SkillVersions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.versions)
}

// Signatures returns how many signatures are recorded over every version.
func (c *Catalog) Signatures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.signatures {
		n += len(s)
	}
	return n
}

// FindPendingNotifications implements trust.SubmissionService.
func (c *Catalog) FindPendingNotifications(ctx context.Context, maxAttempts, limit int) ([]*trust.Notification, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []*trust.Notification{}
	for _, n := range c.notifications {
		if n.DeliveredAt == nil && n.Attempts < maxAttempts && len(out) < limit {
			cp := *n
			out = append(out, &cp)
		}
	}
	return out, nil
}

// MarkNotificationAttempt implements trust.SubmissionService.
func (c *Catalog) MarkNotificationAttempt(ctx context.Context, id string, delivered bool, lastError string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.notifications {
		if n.ID == id {
			n.Attempts++
			n.LastError = lastError
			if delivered {
				t := c.now()
				n.DeliveredAt = &t
			}
			return nil
		}
	}
	return trust.Errorf(trust.ENOTFOUND, "notification %s not found", id)
}

var _ trust.SubmissionService = (*Catalog)(nil)
