package webhook

import (
	"github.com/stripe/stripe-go/v82"

	"github.com/openagents/trust/shared/trust"
)

// KYCState decides a publisher's KYC state from its Stripe Connect account as
// an account.updated event shows it:
//
//   - pending while Stripe is still checking: disabled_reason
//     "requirements.pending_verification" or "under_review" (both block
//     submissions like rejected does; the next event settles it);
//   - rejected when Stripe has disabled the account for any other reason
//     (requirements.disabled_reason is set) or requirements are past due;
//   - verified when charges and payouts are enabled, the details are submitted,
//     and nothing is currently due or past due;
//   - pending otherwise, including an account object without a requirements
//     hash (an API version that renders it differently fails closed).
func KYCState(a *stripe.Account) string {
	if a == nil || a.Requirements == nil {
		return trust.KYCPending
	}
	req := a.Requirements
	switch req.DisabledReason {
	case stripe.AccountRequirementsDisabledReasonRequirementsPendingVerification, stripe.AccountRequirementsDisabledReasonUnderReview:
		if len(req.PastDue) == 0 {
			return trust.KYCPending
		}
	}
	if req.DisabledReason != "" || len(req.PastDue) > 0 {
		return trust.KYCRejected
	}
	if a.ChargesEnabled && a.PayoutsEnabled && a.DetailsSubmitted && len(req.CurrentlyDue) == 0 {
		return trust.KYCVerified
	}
	return trust.KYCPending
}
