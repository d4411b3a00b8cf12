package webhook_test

import (
	"testing"

	"github.com/stripe/stripe-go/v82"

	"github.com/openagents/trust/functions/webhook"
	"github.com/openagents/trust/shared/trust"
)

func TestKYCState(t *testing.T) {
	enabled := func(req *stripe.AccountRequirements) *stripe.Account {
		return &stripe.Account{ID: "acct_1", ChargesEnabled: true, PayoutsEnabled: true, DetailsSubmitted: true, Requirements: req}
	}
	for _, tc := range []struct {
		name string
		acct *stripe.Account
		want string
	}{
		{"VerifiedAllEnabledNothingDue", enabled(&stripe.AccountRequirements{}), trust.KYCVerified},
		{"VerifiedEventuallyDueOnly", enabled(&stripe.AccountRequirements{EventuallyDue: []string{"company.tax_id"}}), trust.KYCVerified},
		{"PendingCurrentlyDue", enabled(&stripe.AccountRequirements{CurrentlyDue: []string{"individual.dob.day"}}), trust.KYCPending},
		{"PendingChargesDisabled", &stripe.Account{PayoutsEnabled: true, DetailsSubmitted: true, Requirements: &stripe.AccountRequirements{}}, trust.KYCPending},
		{"PendingPayoutsDisabled", &stripe.Account{ChargesEnabled: true, DetailsSubmitted: true, Requirements: &stripe.AccountRequirements{}}, trust.KYCPending},
		{"PendingDetailsNotSubmitted", &stripe.Account{ChargesEnabled: true, PayoutsEnabled: true, Requirements: &stripe.AccountRequirements{}}, trust.KYCPending},
		{"PendingNoRequirementsHash", &stripe.Account{ChargesEnabled: true, PayoutsEnabled: true, DetailsSubmitted: true}, trust.KYCPending},
		{"PendingNil", nil, trust.KYCPending},
		{"RejectedDisabledReason", enabled(&stripe.AccountRequirements{DisabledReason: "rejected.fraud"}), trust.KYCRejected},
		{"PendingVerificationInProgress", enabled(&stripe.AccountRequirements{DisabledReason: "requirements.pending_verification"}), trust.KYCPending},
		{"PendingUnderReview", enabled(&stripe.AccountRequirements{DisabledReason: "under_review"}), trust.KYCPending},
		{"RejectedUnderReviewPastDue", enabled(&stripe.AccountRequirements{DisabledReason: "under_review", PastDue: []string{"external_account"}}), trust.KYCRejected},
		{"RejectedPastDue", enabled(&stripe.AccountRequirements{PastDue: []string{"external_account"}}), trust.KYCRejected},
		{"RejectedPastDueWhileDisabled", &stripe.Account{Requirements: &stripe.AccountRequirements{PastDue: []string{"tos_acceptance.date"}, CurrentlyDue: []string{"tos_acceptance.date"}}}, trust.KYCRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := webhook.KYCState(tc.acct); got != tc.want {
				t.Fatalf("KYCState = %q, want %q", got, tc.want)
			}
		})
	}
}
