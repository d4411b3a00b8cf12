package edgeapi

import (
	"encoding/json"

	"github.com/openagents/trust/shared/trust"
)

// The request and response bodies of the edge API that are not domain types.
// The edge server (edge/api) and this client share them, so the two cannot
// drift apart. docs/edge-api.md shows each on the wire.

// HealthResponse is the body of GET /healthz.
type HealthResponse struct {
	Status string `json:"status"`
}

// SignaturesResponse is the body of GET /v1/skills/{name}/versions/{version}/signatures.
type SignaturesResponse struct {
	Skill      string             `json:"skill"`
	Version    string             `json:"version"`
	Signatures []*trust.Signature `json:"signatures"`
}

// BatchRequest is the body of POST /v1/signatures/batch.
type BatchRequest struct {
	Skills []trust.SkillRef `json:"skills"`
}

// BatchResponse is the answer to a BatchRequest: one result per requested
// skill version, in request order (duplicates included).
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the signatures of one skill version, newest issued first;
// empty when it has none.
type BatchResult struct {
	Name       string             `json:"name"`
	Version    string             `json:"version"`
	Signatures []*trust.Signature `json:"signatures"`
}

// RevokeRequest is the body of POST /v1/service/keys/{id}/versions/{version}/revoke.
type RevokeRequest struct {
	Reason string `json:"reason"`
}

// StateRequest is the body of POST /v1/service/skills/{name}/versions/{version}/state.
type StateRequest struct {
	State string `json:"state"`
}

// SignatureRequest is the body of POST /v1/service/signatures: a DSSE envelope,
// as a JSON object.
type SignatureRequest struct {
	Envelope json.RawMessage `json:"envelope"`
}

// MachineTokenRequest is the body of POST /v1/service/machine-tokens.
type MachineTokenRequest struct {
	MachineID string `json:"machine_id"`
	TenantID  string `json:"tenant_id"`
}

// MachineTokenResponse is the answer to a MachineTokenRequest. The token is
// shown this once; the edge keeps only its hash.
type MachineTokenResponse struct {
	MachineID string `json:"machine_id"`
	Token     string `json:"token"`
}

// RevokeMachineTokensResponse is the answer to
// POST /v1/service/machines/{id}/revoke-tokens.
type RevokeMachineTokensResponse struct {
	MachineID string `json:"machine_id"`
	Revoked   bool   `json:"revoked"`
}
