package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// Body limits of the signature routes. A batch of trust.MaxBatch refs with
// the longest names is about 100 KiB.
const (
	batchBodyLimit     = 512 << 10
	signatureBodyLimit = signing.MaxEnvelopeSize + 4<<10
)

// handleSignaturesFind answers GET /v1/skills/{name}/versions/{version}/signatures
// with the version's signatures, newest issued first (an empty list if none).
func (s *Server) handleSignaturesFind(w http.ResponseWriter, r *http.Request) {
	ref, err := skillPath(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	m, err := s.SignatureService.FindSignatures(r.Context(), []trust.SkillRef{ref})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.SignaturesResponse{
		Skill: ref.Name, Version: ref.Version, Signatures: nonNil(m[ref]),
	})
}

// handleSignaturesBatch answers POST /v1/signatures/batch: the signatures of
// 1 to trust.MaxBatch skill versions, in one catalog query, one result per
// requested ref in request order. Answers are cached until the catalog changes.
func (s *Server) handleSignaturesBatch(w http.ResponseWriter, r *http.Request) {
	cached, rawKey, ok := s.batchCached(r, batchBodyLimit) // cache.go
	if ok {
		writeJSONBody(w, cached)
		return
	}
	var req edgeapi.BatchRequest
	if err := httpapi.ReadJSON(w, r, batchBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if len(req.Skills) == 0 {
		s.error(w, r, trust.Errorf(trust.EINVALID, "skills required: name at least one skill version"))
		return
	} else if len(req.Skills) > trust.MaxBatch {
		s.error(w, r, trust.Errorf(trust.EINVALID, "too many skill versions: %d (at most %d)", len(req.Skills), trust.MaxBatch))
		return
	}
	body, err := s.batchAnswer(r.Context(), req.Skills, rawKey)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSONBody(w, body)
}

// handleSignatureCreate answers POST /v1/service/signatures: it verifies the
// envelope against the catalog's keyring now, requires the signing key version
// to be active (a retiring key signs nothing new), and records the signature.
func (s *Server) handleSignatureCreate(w http.ResponseWriter, r *http.Request) {
	var req edgeapi.SignatureRequest
	if err := httpapi.ReadJSON(w, r, signatureBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	envelope, err := compactEnvelope(req.Envelope)
	if err != nil {
		s.error(w, r, err)
		return
	}

	kr, err := s.KeyService.FindKeyring(r.Context())
	if err != nil {
		s.error(w, r, fmt.Errorf("load keyring: %w", err))
		return
	}
	st, err := signing.Verify(envelope, kr, s.now())
	if err != nil {
		s.error(w, r, verifyError(err))
		return
	}
	if k := kr.Find(st.KeyID, st.KeyVersion); k == nil {
		s.error(w, r, fmt.Errorf("verified key %s missing from keyring", trust.KeyRef(st.KeyID, st.KeyVersion)))
		return
	} else if k.State != trust.KeyActive {
		s.error(w, r, trust.Errorf(trust.ECONFLICT, "key %s is %s: only an active key version signs new statements", k.Ref(), k.State))
		return
	}

	sig := trust.NewSignature(st, envelope)
	if err := s.SignatureService.CreateSignature(r.Context(), sig); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, sig)
}

// compactEnvelope checks that the envelope is a JSON object and returns it
// without insignificant whitespace, as the catalog stores it.
func compactEnvelope(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, trust.Errorf(trust.EINVALID, "envelope required")
	} else if raw[0] != '{' {
		return nil, trust.Errorf(trust.EINVALID, "envelope must be a DSSE JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, trust.Errorf(trust.EINVALID, "envelope is not valid JSON")
	}
	return buf.Bytes(), nil
}

// verifyError turns a refused envelope into EINVALID naming the reason. Any
// other failure (such as a stored keyring the verifier cannot use) is kept
// internal: its code must not reach the caller as if the envelope were at fault.
func verifyError(err error) error {
	var ve *trust.VerifyError
	if errors.As(err, &ve) {
		return trust.Errorf(trust.EINVALID, "envelope refused (%s): %s", ve.Reason, ve.Message)
	}
	return fmt.Errorf("verify envelope against the catalog keyring: %v", err)
}

// nonNil returns sigs, or an empty slice for nil, so it encodes as [].
func nonNil(sigs []*trust.Signature) []*trust.Signature {
	if sigs == nil {
		return []*trust.Signature{}
	}
	return sigs
}
