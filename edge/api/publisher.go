package api

import (
	"net/http"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// The publisher routes (service credential only): publishers, their tokens,
// KYC events and webhook secrets. A publisher token travels in a request
// body, never in a path or a query string, which the request log records;
// credentials appear only in the response that issues them and in the
// webhook-secret answer to the service.

// publisherBodyLimit bounds the body of a publisher or a KYC event.
const publisherBodyLimit = 16 << 10

// handlePublisherCreate answers POST /v1/service/publishers: 201 with the
// publisher, its first token and its webhook secret, shown this once.
func (s *Server) handlePublisherCreate(w http.ResponseWriter, r *http.Request) {
	var p trust.Publisher
	if err := httpapi.ReadJSON(w, r, publisherBodyLimit, &p); err != nil {
		s.error(w, r, err)
		return
	}
	creds, err := s.PublisherService.CreatePublisher(r.Context(), &p)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, creds)
}

// handlePublisherFind answers GET /v1/service/publishers/{id}.
func (s *Server) handlePublisherFind(w http.ResponseWriter, r *http.Request) {
	p, err := s.PublisherService.FindPublisherByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, p)
}

// handlePublisherTokenCreate answers POST /v1/service/publishers/{id}/tokens:
// 201 with a new token, shown this once. No body.
func (s *Server) handlePublisherTokenCreate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	token, err := s.PublisherService.CreatePublisherToken(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, edgeapi.PublisherTokenResponse{PublisherID: id, Token: token})
}

// handlePublisherAuthenticate answers POST /v1/service/publishers/authenticate
// with body {"token"}: the publisher holding the token, or 401 with one
// message for every token that does not authenticate.
func (s *Server) handlePublisherAuthenticate(w http.ResponseWriter, r *http.Request) {
	var req edgeapi.PublisherAuthRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	p, err := s.PublisherService.AuthenticatePublisher(r.Context(), req.Token)
	if err != nil {
		if trust.ErrorCode(err) != trust.EINTERNAL {
			err = trust.Errorf(trust.EUNAUTHORIZED, "invalid or revoked publisher token")
		}
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, p)
}

// handlePublisherKYCUpdate answers POST /v1/service/publishers/kyc with a
// trust.KYCUpdate: the publisher after the event. 409 for a replayed event
// ID, 404 for an unknown Stripe account.
func (s *Server) handlePublisherKYCUpdate(w http.ResponseWriter, r *http.Request) {
	var u trust.KYCUpdate
	if err := httpapi.ReadJSON(w, r, publisherBodyLimit, &u); err != nil {
		s.error(w, r, err)
		return
	}
	p, err := s.PublisherService.UpdatePublisherKYC(r.Context(), u)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, p)
}

// handlePublisherWebhookSecretFind answers
// GET /v1/service/publishers/{id}/webhook-secret: the key the publisher's
// notifications are signed with.
func (s *Server) handlePublisherWebhookSecretFind(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	secret, err := s.PublisherService.FindPublisherWebhookSecret(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.WebhookSecretResponse{PublisherID: id, WebhookSecret: secret})
}
