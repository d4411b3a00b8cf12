// Package boot is the Machine's boot-time skill verifier: before a skill is
// loaded it recomputes the skill's content and permissions digests, fetches every
// signature from the nearest edge node in one batch request, and verifies each
// locally against the Machine's pinned keyring (narrowed, never widened, by the
// edge's live keyring). Anything unsigned, altered, or signed with an unknown,
// revoked, expired or wrong key version is refused with one reason.
package boot

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

// Catalog is what the verifier asks the edge for.
type Catalog interface {
	FindKeyring(ctx context.Context) (*trust.Keyring, error)
	FindSignaturesBatch(ctx context.Context, refs []trust.SkillRef) (map[trust.SkillRef][]*trust.Signature, error)
}

// Verifier verifies skill folders at boot.
type Verifier struct {
	Catalog Catalog
	// Pinned is the keyring shipped with the Machine image: the only keys it trusts.
	Pinned *trust.Keyring
	// Live, when true, also fetches the edge's keyring so its revocations and
	// retirements apply; it can never add a key or widen a window.
	Live bool
	Now  func() time.Time
}

// NewVerifier returns a Verifier with defaults.
func NewVerifier(c Catalog, pinned *trust.Keyring) *Verifier {
	return &Verifier{Catalog: c, Pinned: pinned, Live: true, Now: time.Now}
}

// Result is the outcome for one skill folder.
type Result struct {
	Dir               string `json:"dir"`
	Name              string `json:"name,omitempty"`
	Version           string `json:"version,omitempty"`
	Verified          bool   `json:"verified"`
	Reason            string `json:"reason,omitempty"`
	Message           string `json:"message,omitempty"`
	Publisher         string `json:"publisher,omitempty"`
	KeyID             string `json:"key_id,omitempty"`
	KeyVersion        int    `json:"key_version,omitempty"`
	ContentDigest     string `json:"content_digest,omitempty"`
	PermissionsDigest string `json:"permissions_digest,omitempty"`
	IssuedAt          string `json:"issued_at,omitempty"`
}

// local is what was computed from one folder.
type local struct {
	ref               trust.SkillRef
	permissions       trust.Permissions
	contentDigest     string
	permissionsDigest string
	err               error
}

// Verify verifies every folder and returns one result per folder, in order.
// The error is non-nil only when verification could not be attempted at all
// (the edge unreachable, no pinned keyring); then nothing may be loaded.
func (v *Verifier) Verify(ctx context.Context, dirs []string) ([]Result, error) {
	if v.Pinned == nil || len(v.Pinned.Keys) == 0 {
		return nil, trust.Errorf(trust.EINVALID, "no pinned keyring: refusing to verify against keys from the network alone")
	}

	// The keyring request leaves at once; the batch request as soon as the
	// manifests name the versions; the folders are hashed while both travel.
	var live *trust.Keyring
	var sigs map[trust.SkillRef][]*trust.Signature
	var liveErr, sigsErr error
	var wg sync.WaitGroup
	if v.Live {
		wg.Go(func() { live, liveErr = v.Catalog.FindKeyring(ctx) })
	}
	locals := make([]local, len(dirs))
	parallel(len(dirs), func(i int) { locals[i] = manifest(dirs[i]) })
	var refs []trust.SkillRef
	for _, l := range locals {
		if l.err == nil {
			refs = append(refs, l.ref)
		}
	}
	if len(refs) > 0 {
		wg.Go(func() { sigs, sigsErr = v.Catalog.FindSignaturesBatch(ctx, refs) })
	}
	parallel(len(dirs), func(i int) { hash(dirs[i], &locals[i]) })
	wg.Wait()
	if sigsErr != nil {
		return nil, fmt.Errorf("fetch signatures: %w", sigsErr)
	} else if liveErr != nil {
		return nil, fmt.Errorf("fetch keyring: %w", liveErr)
	}

	// The edge's keyring can only be as new as the one pinned in the image or
	// newer; an older one would hide revocations made since (a rollback).
	if live != nil && live.Sequence < v.Pinned.Sequence {
		return nil, trust.Errorf(trust.ECONFLICT, "the edge's keyring (sequence %d) is older than the pinned keyring (sequence %d): refusing a rolled-back keyring", live.Sequence, v.Pinned.Sequence)
	}
	verifier, err := signing.NewVerifier(signing.MergeKeyrings(v.Pinned, live))
	if err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	now := v.Now()
	results := make([]Result, len(dirs))
	parallel(len(dirs), func(i int) {
		results[i] = check(verifier, dirs[i], locals[i], sigs[locals[i].ref], now)
	})
	return results, nil
}

// parallel runs fn(0..n-1) on all cores.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// manifest reads a folder's SKILL.md.
func manifest(dir string) local {
	m, err := skill.Load(dir)
	if err != nil {
		return local{err: err}
	}
	l := local{ref: trust.SkillRef{Name: m.Name, Version: m.Version}, permissions: m.Permissions}
	if m.Version == "" {
		l.err = trust.Errorf(trust.EINVALID, "%s: SKILL.md declares no version: only versioned skills are signed", m.Name)
	}
	return l
}

// hash computes both digests of a folder whose manifest was read.
func hash(dir string, l *local) {
	if l.err != nil {
		return
	}
	var err error
	if l.contentDigest, err = digest.Content(dir); err != nil {
		l.err = err
		return
	}
	if l.permissionsDigest, err = digest.Permissions(l.permissions); err != nil {
		l.err = err
	}
}

// check decides one skill: the newest signature that verifies and matches both
// digests wins; otherwise the refusal of the newest signature is reported.
func check(verifier *signing.Verifier, dir string, l local, sigs []*trust.Signature, now time.Time) Result {
	r := Result{Dir: dir, Name: l.ref.Name, Version: l.ref.Version,
		ContentDigest: l.contentDigest, PermissionsDigest: l.permissionsDigest}
	if l.err != nil {
		r.Reason, r.Message = trust.ReasonInvalidSkill, errorText(l.err)
		return r
	}
	if len(sigs) == 0 {
		r.Reason, r.Message = trust.ReasonUnsigned, "no signature for "+l.ref.String()+" in the catalog"
		return r
	}
	var first *trust.VerifyError
	for _, sig := range sigs {
		st, err := verifier.Verify(sig.Envelope, now)
		if err == nil {
			err = match(st, l)
		}
		if err == nil {
			r.Verified = true
			r.Publisher, r.KeyID, r.KeyVersion = st.Publisher, st.KeyID, st.KeyVersion
			r.IssuedAt = st.IssuedAt.UTC().Format(time.RFC3339)
			return r
		}
		var ve *trust.VerifyError
		if !errors.As(err, &ve) {
			ve = &trust.VerifyError{Reason: trust.ReasonMalformed, Message: errorText(err)}
		}
		if first == nil {
			first = ve
		}
	}
	r.Reason, r.Message = first.Reason, first.Message
	return r
}

// match compares a verified statement with what the folder holds. Permissions
// are compared first: SKILL.md is part of the content, so a changed declaration
// also changes the content digest, and the permissions reason says more.
func match(st *trust.Statement, l local) error {
	switch {
	case st.Ref() != l.ref:
		return &trust.VerifyError{Reason: trust.ReasonMismatchedSkill,
			Message: fmt.Sprintf("signature is for %s, not %s", st.Ref(), l.ref)}
	case st.PermissionsDigest != l.permissionsDigest:
		return &trust.VerifyError{Reason: trust.ReasonPermissionsMismatch,
			Message: fmt.Sprintf("declared permissions hash to %s, signed permissions are %s", l.permissionsDigest, st.PermissionsDigest)}
	case st.ContentDigest != l.contentDigest:
		return &trust.VerifyError{Reason: trust.ReasonContentMismatch,
			Message: fmt.Sprintf("files hash to %s, signed content is %s", l.contentDigest, st.ContentDigest)}
	}
	return nil
}

func errorText(err error) string {
	var ve *trust.VerifyError
	if errors.As(err, &ve) {
		return ve.Message
	}
	if msg := trust.ErrorMessage(err); msg != "internal error" {
		return msg
	}
	return err.Error()
}
