// Package webhook is the Stripe Connect webhook function: it verifies each
// account.updated event's Stripe-Signature and records the publisher's KYC
// state in the catalog.
package webhook

import _ "github.com/stripe/stripe-go/v82/webhook" // pinned for the signature check
