// Package webhook is the Stripe Connect webhook function: it checks the
// Stripe-Signature of each event with stripe-go, and turns account.updated
// events into publisher KYC states in the catalog (see KYCState).
//
// Stripe retries every event that is not answered with a 2xx for days, so the
// answers are chosen for that: a bad signature, a stale timestamp or a
// malformed event is a 400 (nothing to apply, and logged); an event already
// applied is a 200 (a retry or a replay must not loop); an account the catalog
// does not know is a 404 (logged, and applied if a later retry finds it); a
// catalog failure is a 500 so that Stripe tries again. The signing secret and
// the signature value never reach a log line, an error or a response.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
	stripewebhook "github.com/stripe/stripe-go/v82/webhook"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Path is the route Stripe posts events to.
const Path = "/v1/webhooks/stripe"

// MaxBodySize is the largest event body read. Stripe events are a few KiB;
// account objects with many capabilities stay well below this.
const MaxBodySize = 256 << 10

// DefaultTolerance is how old a signature timestamp may be (and how far in
// the future) before the event is refused as a possible replay.
const DefaultTolerance = 5 * time.Minute

// Catalog is the part of the edge service API the function uses.
type Catalog interface {
	// UpdatePublisherKYC applies a KYC event once: ENOTFOUND for an unknown
	// Stripe account, ECONFLICT for an event ID already applied.
	UpdatePublisherKYC(ctx context.Context, u trust.KYCUpdate) (*trust.Publisher, error)
}

// Handler serves POST /v1/webhooks/stripe.
type Handler struct {
	Catalog   Catalog
	Secret    string        // the endpoint's signing secret (whsec_…); required
	Tolerance time.Duration // signature age accepted; DefaultTolerance when 0
	Logger    *slog.Logger
	Now       func() time.Time // bounds future timestamps; stripe-go checks age on the system clock

	mux *http.ServeMux
}

// NewHandler returns a Handler with defaults; set Catalog and Secret before use.
func NewHandler() *Handler {
	h := &Handler{Tolerance: DefaultTolerance, Logger: slog.Default(), Now: time.Now}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST "+Path, h.handleStripeEventCreate)
	h.mux.HandleFunc("/", h.handleNotFound)
	return h
}

// Response is the body of every 2xx answer.
type Response struct {
	Status   string `json:"status"`              // applied, already applied, ignored
	KYCState string `json:"kyc_state,omitempty"` // the state the event decided
}

// Answers in Response.Status.
const (
	StatusApplied        = "applied"
	StatusAlreadyApplied = "already applied"
	StatusIgnored        = "ignored"
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == Path {
		w.Header().Set("Allow", "POST")
		httpapi.WriteJSON(w, http.StatusMethodNotAllowed, httpapi.ErrorResponse{Error: httpapi.ErrorBody{
			Code: trust.EINVALID, Message: r.Method + " not allowed: use POST"}})
		return
	}
	httpapi.WriteError(w, r, h.Logger, trust.Errorf(trust.ENOTFOUND, "no such route"))
}

func (h *Handler) handleStripeEventCreate(w http.ResponseWriter, r *http.Request) {
	if h.Secret == "" || h.Catalog == nil {
		// Fail closed: without a secret nothing can be verified.
		httpapi.WriteError(w, r, h.Logger, errors.New("stripe webhook: no signing secret or catalog configured"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = trust.Errorf(trust.EINVALID, "event body larger than %d bytes", MaxBodySize)
		} else {
			err = trust.Errorf(trust.EINVALID, "cannot read the event body")
		}
		h.Logger.Warn("stripe event refused", "reason", trust.ErrorMessage(err), "remote", r.RemoteAddr)
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}

	ev, err := h.constructEvent(body, r.Header.Get("Stripe-Signature"))
	if err != nil {
		// The log names the check that failed: never the secret, never the
		// header's signature value.
		h.Logger.Warn("stripe event refused", "reason", trust.ErrorMessage(err),
			"signature_present", r.Header.Get("Stripe-Signature") != "", "remote", r.RemoteAddr)
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}

	resp, err := h.Apply(r.Context(), ev)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

// constructEvent checks the signature and the timestamp and decodes the event.
// Every error is an EINVALID *trust.Error whose message is safe to log.
func (h *Handler) constructEvent(body []byte, header string) (*stripe.Event, error) {
	tolerance := h.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ev, err := stripewebhook.ConstructEventWithOptions(body, header, h.Secret, stripewebhook.ConstructEventOptions{
		Tolerance: tolerance,
		// Events come rendered in the endpoint's (or the platform's
		// default) API version, set in the dashboard rather than by a
		// library upgrade; a refused event would be retried and its update
		// lost. Only a handful of long-stable account fields are read, and
		// a missing one decides "pending" (KYCState), so a version mismatch
		// is logged rather than refused.
		IgnoreAPIVersionMismatch: true,
	})
	switch {
	case errors.Is(err, stripewebhook.ErrNotSigned):
		return nil, trust.Errorf(trust.EINVALID, "Stripe-Signature header required")
	case errors.Is(err, stripewebhook.ErrInvalidHeader):
		return nil, trust.Errorf(trust.EINVALID, "malformed Stripe-Signature header")
	case errors.Is(err, stripewebhook.ErrNoValidSignature):
		return nil, trust.Errorf(trust.EINVALID, "no valid signature in Stripe-Signature")
	case errors.Is(err, stripewebhook.ErrTooOld):
		return nil, trust.Errorf(trust.EINVALID, "signature timestamp older than %s: refused as a possible replay", tolerance)
	case err != nil:
		// The signature was valid but the body is not an event. stripe-go's
		// message quotes the JSON decoder, which may echo body content.
		return nil, trust.Errorf(trust.EINVALID, "signed body is not a Stripe event")
	}
	// stripe-go bounds the age only; a timestamp far ahead is refused too.
	if ts, ok := signatureTime(header); !ok || time.Unix(ts, 0).After(h.Now().Add(tolerance)) {
		return nil, trust.Errorf(trust.EINVALID, "signature timestamp more than %s in the future", tolerance)
	}
	return &ev, nil
}

// signatureTime returns the t= value of a Stripe-Signature header, the last
// one if repeated, as stripe-go reads it.
func signatureTime(header string) (ts int64, ok bool) {
	for _, part := range strings.Split(header, ",") {
		if v, found := strings.CutPrefix(part, "t="); found {
			n, err := strconv.ParseInt(v, 10, 64)
			ts, ok = n, err == nil
		}
	}
	return ts, ok
}

// Apply records the KYC state an authenticated event decides. Events other
// than account.updated are ignored. ENOTFOUND for an account no publisher
// holds; EINVALID for an event without an ID, time or account.
func (h *Handler) Apply(ctx context.Context, ev *stripe.Event) (*Response, error) {
	if ev.Type != stripe.EventTypeAccountUpdated {
		h.Logger.Info("stripe event ignored", "event", ev.ID, "type", string(ev.Type))
		return &Response{Status: StatusIgnored}, nil
	}
	if ev.APIVersion != stripe.APIVersion {
		h.Logger.Info("stripe event api version differs", "event", ev.ID,
			"event_api_version", ev.APIVersion, "library_api_version", stripe.APIVersion)
	}

	u, err := kycUpdate(ev)
	if err != nil {
		h.Logger.Warn("stripe event refused", "event", ev.ID, "reason", trust.ErrorMessage(err))
		return nil, err
	}
	p, err := h.Catalog.UpdatePublisherKYC(ctx, u)
	switch trust.ErrorCode(err) {
	case "":
		h.Logger.Info("publisher kyc updated", "event", u.EventID, "account", u.StripeAccount,
			"publisher", p.ID, "decided", u.State, "kyc_state", p.KYCState)
		return &Response{Status: StatusApplied, KYCState: u.State}, nil
	case trust.ECONFLICT:
		h.Logger.Warn("stripe event replayed: already applied", "event", u.EventID, "account", u.StripeAccount)
		return &Response{Status: StatusAlreadyApplied, KYCState: u.State}, nil
	case trust.ENOTFOUND:
		h.Logger.Warn("stripe event for an unknown account", "event", u.EventID, "account", u.StripeAccount)
		return nil, trust.Errorf(trust.ENOTFOUND, "no publisher holds Stripe account %s", u.StripeAccount)
	case trust.EINVALID:
		h.Logger.Warn("stripe event refused by the catalog", "event", u.EventID, "reason", trust.ErrorMessage(err))
		return nil, err
	}
	// The catalog's own failure (or a refused service credential) is ours,
	// not Stripe's: a 500 makes Stripe retry later.
	return nil, internalError(fmt.Sprintf("update kyc of %s for %s", u.StripeAccount, u.EventID), err)
}

// internalError turns a catalog error into an internal one for the caller,
// keeping the cause for the log. A coded error is flattened so that its code
// (a refused service credential reads "unauthorized") is not taken for ours.
func internalError(doing string, err error) error {
	var te *trust.Error
	if errors.As(err, &te) {
		return fmt.Errorf("%s: %s: %s", doing, te.Code, te.Message)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// kycUpdate reads the update an account.updated event carries.
func kycUpdate(ev *stripe.Event) (trust.KYCUpdate, error) {
	if !strings.HasPrefix(ev.ID, "evt_") {
		return trust.KYCUpdate{}, trust.Errorf(trust.EINVALID, "event without an evt_ ID")
	}
	if ev.Created <= 0 {
		return trust.KYCUpdate{}, trust.Errorf(trust.EINVALID, "event %s without a creation time", ev.ID)
	}
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return trust.KYCUpdate{}, trust.Errorf(trust.EINVALID, "event %s without data.object", ev.ID)
	}
	var acct stripe.Account
	if err := json.Unmarshal(ev.Data.Raw, &acct); err != nil {
		return trust.KYCUpdate{}, trust.Errorf(trust.EINVALID, "event %s: data.object is not an account", ev.ID)
	}
	if !strings.HasPrefix(acct.ID, "acct_") {
		return trust.KYCUpdate{}, trust.Errorf(trust.EINVALID, "event %s: account object without an acct_ ID", ev.ID)
	}
	// On a Connect endpoint the event names the connected account too; the
	// two must agree.
	if ev.Account != "" && ev.Account != acct.ID {
		return trust.KYCUpdate{}, trust.Errorf(trust.EINVALID, "event %s: account %s does not match data.object %s", ev.ID, ev.Account, acct.ID)
	}
	return trust.KYCUpdate{
		EventID:       ev.ID,
		StripeAccount: acct.ID,
		State:         KYCState(&acct),
		EventTime:     time.Unix(ev.Created, 0).UTC(),
	}, nil
}
