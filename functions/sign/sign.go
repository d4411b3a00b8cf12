// Package sign is the signing function: it signs an approved skill version with
// the platform's signing key and records the signature in the edge catalog
// through the service API.
//
// The caller (the pipeline, or an operator) authenticates with the operator
// credential. The function holds the service credential and the signing key; it
// never returns either, and never signs a version the catalog does not hold as
// approved, nor with a key version the keyring has not published as active.
package sign

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// Catalog is the part of the edge service API the function uses.
type Catalog interface {
	FindSkillVersion(ctx context.Context, ref trust.SkillRef) (*trust.SkillVersion, error)
	FindKeyring(ctx context.Context) (*trust.Keyring, error)
	CreateSignature(ctx context.Context, envelope []byte) (*trust.Signature, error)
}

// Handler serves POST /v1/sign.
type Handler struct {
	Catalog       Catalog
	Signer        signing.Signer
	OperatorToken string // credential callers present; required
	Logger        *slog.Logger
	Now           func() time.Time

	mux *http.ServeMux
}

// NewHandler returns a Handler with defaults; set the exported fields before use.
func NewHandler() *Handler {
	h := &Handler{Logger: slog.Default(), Now: time.Now}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /v1/sign", h.handleSignCreate)
	h.mux.HandleFunc("/", h.handleNotFound)
	return h
}

// Request asks for one skill version to be signed.
type Request struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) handleSignCreate(w http.ResponseWriter, r *http.Request) {
	if err := h.authenticate(r); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	var req Request
	if err := httpapi.ReadJSON(w, r, 4<<10, &req); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	sig, err := h.Sign(r.Context(), trust.SkillRef{Name: req.Name, Version: req.Version})
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	h.Logger.Info("skill signed", "skill", sig.Skill, "version", sig.Version,
		"key", trust.KeyRef(sig.KeyID, sig.KeyVersion), "content_digest", sig.ContentDigest)
	httpapi.WriteJSON(w, http.StatusCreated, sig)
}

// handleNotFound answers every other method and path in the shared error format.
func (h *Handler) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/sign" {
		w.Header().Set("Allow", "POST")
		httpapi.WriteJSON(w, http.StatusMethodNotAllowed, httpapi.ErrorResponse{Error: httpapi.ErrorBody{
			Code: trust.EINVALID, Message: r.Method + " not allowed: use POST"}})
		return
	}
	httpapi.WriteError(w, r, h.Logger, trust.Errorf(trust.ENOTFOUND, "no such route"))
}

func (h *Handler) authenticate(r *http.Request) error {
	if h.OperatorToken == "" {
		return fmt.Errorf("sign: no operator credential configured")
	}
	got := sha256.Sum256([]byte(httpapi.BearerToken(r)))
	want := sha256.Sum256([]byte(h.OperatorToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return trust.Errorf(trust.EUNAUTHORIZED, "operator credential required")
	}
	return nil
}

// Sign signs an approved skill version and records the signature. EINVALID for a
// bad ref, ENOTFOUND for an unknown version, ECONFLICT for a version that is not
// approved or a signing key the keyring does not allow to sign now.
func (h *Handler) Sign(ctx context.Context, ref trust.SkillRef) (*trust.Signature, error) {
	if err := trust.ValidateSkillRef(ref.Name, ref.Version); err != nil {
		return nil, err
	}
	sv, err := h.Catalog.FindSkillVersion(ctx, ref)
	if err != nil {
		return nil, catalogError("find skill version", err, trust.ENOTFOUND)
	} else if sv.State != trust.SkillVersionApproved {
		return nil, trust.Errorf(trust.ECONFLICT, "skill %s is %s, not approved: only approved versions are signed", ref, sv.State)
	}

	kr, err := h.Catalog.FindKeyring(ctx)
	if err != nil {
		return nil, catalogError("load keyring", err)
	}
	now := h.Now().UTC()
	kv, err := signing.SigningKey(kr, h.Signer.PublicKey(), now)
	if err != nil {
		return nil, trust.Errorf(trust.ECONFLICT, "signing key cannot sign: %s", trust.ErrorMessage(err))
	}

	st := &trust.Statement{
		Type:              trust.StatementType,
		Skill:             sv.Name,
		Version:           sv.Version,
		Publisher:         sv.Publisher,
		ContentDigest:     sv.ContentDigest,
		PermissionsDigest: sv.PermissionsDigest,
		ImageDigest:       sv.ImageDigest,
		KeyID:             kv.KeyID,
		KeyVersion:        kv.Version,
		IssuedAt:          now,
	}
	env, err := signing.Sign(ctx, h.Signer, st)
	if err != nil {
		return nil, fmt.Errorf("sign %s with %s: %w", ref, kv.Ref(), err)
	}
	sig, err := h.Catalog.CreateSignature(ctx, env)
	if err != nil {
		return nil, catalogError("record signature", err, trust.ENOTFOUND, trust.ECONFLICT)
	}
	return sig, nil
}

// catalogError passes on the catalog's answer when it is about the caller's
// request (one of codes) and hides it otherwise: a refused service credential
// is this function's fault, not the caller's, and must not read as theirs.
func catalogError(doing string, err error, codes ...string) error {
	for _, c := range codes {
		if trust.ErrorCode(err) == c {
			return err
		}
	}
	return fmt.Errorf("%s: %s: %s", doing, trust.ErrorCode(err), trust.ErrorMessage(err))
}
