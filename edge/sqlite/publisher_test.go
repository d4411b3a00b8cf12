package sqlite_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// NewPublisher returns a valid publisher whose Stripe account derives from id.
func NewPublisher(id string) *trust.Publisher {
	acct := "acct_" + strings.NewReplacer("-", "", ".", "", "_", "").Replace(id)
	return &trust.Publisher{ID: id, Name: "Publisher " + id, StripeAccount: acct, WebhookURL: "https://hooks.example.com/trust"}
}

// MustCreatePublisher records a publisher (KYC pending) and returns its credentials.
func MustCreatePublisher(tb testing.TB, db *sqlite.DB, id string) *trust.PublisherCredentials {
	tb.Helper()
	creds, err := sqlite.NewPublisherService(db).CreatePublisher(tb.Context(), NewPublisher(id))
	if err != nil {
		tb.Fatal(err)
	}
	return creds
}

// MustSetKYC applies a KYC event with a fresh ID at time at.
func MustSetKYC(tb testing.TB, db *sqlite.DB, p *trust.Publisher, state string, at time.Time) *trust.Publisher {
	tb.Helper()
	out, err := sqlite.NewPublisherService(db).UpdatePublisherKYC(tb.Context(), trust.KYCUpdate{
		EventID: "evt_" + strings.ReplaceAll(p.ID, "-", "") + "_" + state + "_" + at.Format("150405"), StripeAccount: p.StripeAccount, State: state, EventTime: at,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// MustCreateVerifiedPublisher records a publisher and verifies its KYC.
func MustCreateVerifiedPublisher(tb testing.TB, db *sqlite.DB, id string) *trust.PublisherCredentials {
	tb.Helper()
	creds := MustCreatePublisher(tb, db, id)
	creds.Publisher = MustSetKYC(tb, db, creds.Publisher, trust.KYCVerified, t0)
	return creds
}

func TestPublisherService_CreatePublisher(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewPublisherService(db)
		creds := MustCreatePublisher(t, db, "acme")
		if p := creds.Publisher; p.KYCState != trust.KYCPending || !p.CreatedAt.Equal(t0) || p.WebhookURL != "https://hooks.example.com/trust" {
			t.Fatalf("publisher = %+v", p)
		}
		for _, cred := range []struct{ value, prefix string }{{creds.Token, "oapt_"}, {creds.WebhookSecret, "oaws_"}} {
			if !strings.HasPrefix(cred.value, cred.prefix) || len(cred.value) != len(cred.prefix)+43 {
				t.Fatalf("credential %q: want %s and 43 base64url characters", cred.value, cred.prefix)
			}
		}
		got, err := s.FindPublisherByID(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		} else if *got != *creds.Publisher {
			t.Fatalf("found %+v, created %+v", got, creds.Publisher)
		}
		secret, err := s.FindPublisherWebhookSecret(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		} else if secret != creds.WebhookSecret {
			t.Fatal("webhook secret differs from the one returned at creation")
		}
	})
	t.Run("TokenStoredAsHashOnly", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		creds := MustCreatePublisher(t, db, "acme")
		tx, err := db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var stored string
		if err := tx.QueryRow(`SELECT token_hash FROM publisher_tokens`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(creds.Token))
		if stored != hex.EncodeToString(sum[:]) {
			t.Fatalf("stored %q, want the SHA-256 of the token", stored)
		}
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM publishers p, publisher_tokens t WHERE instr(p.webhook_secret || p.name || t.token_hash, ?) > 0`,
			creds.Token[5:]).Scan(&n); err != nil {
			t.Fatal(err)
		} else if n != 0 {
			t.Fatal("the raw token is stored")
		}
	})
	for _, tc := range []struct {
		name string
		edit func(p *trust.Publisher)
	}{
		{"ErrID", func(p *trust.Publisher) { p.ID = "../acme" }},
		{"ErrNameRequired", func(p *trust.Publisher) { p.Name = "" }},
		{"ErrNameControl", func(p *trust.Publisher) { p.Name = "a\nb" }},
		{"ErrStripeAccount", func(p *trust.Publisher) { p.StripeAccount = "cus_123" }},
		{"ErrWebhookHTTP", func(p *trust.Publisher) { p.WebhookURL = "http://hooks.example.com/x" }},
		{"ErrWebhookUserinfo", func(p *trust.Publisher) { p.WebhookURL = "https://u:CANARY-pw@hooks.example.com/x" }},
		{"ErrWebhookScheme", func(p *trust.Publisher) { p.WebhookURL = "ftp://hooks.example.com/x" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := MustOpenDB(t)
			p := NewPublisher("acme")
			tc.edit(p)
			_, err := sqlite.NewPublisherService(db).CreatePublisher(t.Context(), p)
			wantCode(t, err, trust.EINVALID)
			if strings.Contains(err.Error(), "CANARY") {
				t.Fatalf("error echoes the URL's password: %v", err)
			}
		})
	}
	t.Run("OKLoopbackHTTPWebhook", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		p := NewPublisher("acme")
		p.WebhookURL = "http://127.0.0.1:9999/hook"
		if _, err := sqlite.NewPublisherService(db).CreatePublisher(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewPublisherService(db)
		MustCreatePublisher(t, db, "acme")
		_, err := s.CreatePublisher(t.Context(), NewPublisher("acme"))
		wantCode(t, err, trust.ECONFLICT)
		other := NewPublisher("other")
		other.StripeAccount = NewPublisher("acme").StripeAccount
		_, err = s.CreatePublisher(t.Context(), other)
		wantCode(t, err, trust.ECONFLICT)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewPublisherService(db)
		_, err := s.FindPublisherByID(t.Context(), "nobody")
		wantCode(t, err, trust.ENOTFOUND)
		_, err = s.FindPublisherWebhookSecret(t.Context(), "nobody")
		wantCode(t, err, trust.ENOTFOUND)
		_, err = s.CreatePublisherToken(t.Context(), "nobody")
		wantCode(t, err, trust.ENOTFOUND)
	})
}

func TestPublisherService_AuthenticatePublisher(t *testing.T) {
	db, _ := MustOpenDB(t)
	s := sqlite.NewPublisherService(db)
	creds := MustCreatePublisher(t, db, "acme")
	second, err := s.CreatePublisherToken(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	other := MustCreatePublisher(t, db, "other")

	for name, token := range map[string]string{"First": creds.Token, "Second": second} {
		t.Run("OK"+name, func(t *testing.T) {
			p, err := s.AuthenticatePublisher(t.Context(), token)
			if err != nil {
				t.Fatal(err)
			} else if p.ID != "acme" {
				t.Fatalf("authenticated %s, want acme", p.ID)
			}
		})
	}
	t.Run("OKOtherPublisher", func(t *testing.T) {
		if p, err := s.AuthenticatePublisher(t.Context(), other.Token); err != nil || p.ID != "other" {
			t.Fatalf("got %v, %v; want other", p, err)
		}
	})
	flipped := []byte(creds.Token)
	flipped[len(flipped)-1] ^= 1
	for name, token := range map[string]string{
		"ErrEmpty":       "",
		"ErrFlipped":     string(flipped),
		"ErrTruncated":   creds.Token[:len(creds.Token)-1],
		"ErrExtended":    creds.Token + "A",
		"ErrOtherPrefix": "oamt_" + creds.Token[5:],
		"ErrWebhook":     creds.WebhookSecret,
		"ErrUnknown":     "oapt_" + strings.Repeat("A", 43),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.AuthenticatePublisher(t.Context(), token)
			wantCode(t, err, trust.EUNAUTHORIZED)
			if token != "" && strings.Contains(err.Error(), token[5:]) {
				t.Fatalf("error echoes the token: %v", err)
			}
		})
	}
}

func TestPublisherService_UpdatePublisherKYC(t *testing.T) {
	update := func(id, acct, state string, at time.Time) trust.KYCUpdate {
		return trust.KYCUpdate{EventID: id, StripeAccount: acct, State: state, EventTime: at}
	}
	t.Run("OK", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		s := sqlite.NewPublisherService(db)
		p := MustCreatePublisher(t, db, "acme").Publisher
		clock.Add(time.Minute)
		got, err := s.UpdatePublisherKYC(t.Context(), update("evt_1", p.StripeAccount, trust.KYCVerified, t0))
		if err != nil {
			t.Fatal(err)
		} else if got.KYCState != trust.KYCVerified || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("publisher = %+v, want verified and updated now", got)
		}
		if found, _ := s.FindPublisherByID(t.Context(), "acme"); found.KYCState != trust.KYCVerified {
			t.Fatalf("stored state %s", found.KYCState)
		}
	})
	t.Run("ErrReplay", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewPublisherService(db)
		p := MustCreatePublisher(t, db, "acme").Publisher
		if _, err := s.UpdatePublisherKYC(t.Context(), update("evt_1", p.StripeAccount, trust.KYCVerified, t0)); err != nil {
			t.Fatal(err)
		}
		// The same event ID again, even with another state, is a replay.
		_, err := s.UpdatePublisherKYC(t.Context(), update("evt_1", p.StripeAccount, trust.KYCRejected, t0.Add(time.Hour)))
		wantCode(t, err, trust.ECONFLICT)
		if found, _ := s.FindPublisherByID(t.Context(), "acme"); found.KYCState != trust.KYCVerified {
			t.Fatalf("a replay changed the state to %s", found.KYCState)
		}
	})
	t.Run("ErrUnknownAccount", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewPublisherService(db)
		u := update("evt_early", NewPublisher("acme").StripeAccount, trust.KYCVerified, t0)
		_, err := s.UpdatePublisherKYC(t.Context(), u)
		wantCode(t, err, trust.ENOTFOUND)
		// Nothing was recorded: once the publisher exists, Stripe's retry applies.
		MustCreatePublisher(t, db, "acme")
		if got, err := s.UpdatePublisherKYC(t.Context(), u); err != nil || got.KYCState != trust.KYCVerified {
			t.Fatalf("retry after creation: %v, %v", got, err)
		}
	})
	t.Run("OutOfOrder", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewPublisherService(db)
		p := MustCreatePublisher(t, db, "acme").Publisher
		if _, err := s.UpdatePublisherKYC(t.Context(), update("evt_new", p.StripeAccount, trust.KYCRejected, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		got, err := s.UpdatePublisherKYC(t.Context(), update("evt_old", p.StripeAccount, trust.KYCVerified, t0))
		if err != nil {
			t.Fatal(err)
		} else if got.KYCState != trust.KYCRejected {
			t.Fatalf("an older event moved the state to %s", got.KYCState)
		}
		// Recorded all the same: delivering it again is a replay.
		_, err = s.UpdatePublisherKYC(t.Context(), update("evt_old", p.StripeAccount, trust.KYCVerified, t0))
		wantCode(t, err, trust.ECONFLICT)
		// A newer one applies.
		got, err = s.UpdatePublisherKYC(t.Context(), update("evt_newer", p.StripeAccount, trust.KYCVerified, t0.Add(2*time.Hour)))
		if err != nil || got.KYCState != trust.KYCVerified {
			t.Fatalf("newer event: %v, %v", got, err)
		}
		tx, err := db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var total, applied int
		if err := tx.QueryRow(`SELECT COUNT(*), SUM(applied) FROM kyc_events`).Scan(&total, &applied); err != nil {
			t.Fatal(err)
		} else if total != 3 || applied != 2 {
			t.Fatalf("kyc_events: %d recorded, %d applied; want 3 and 2", total, applied)
		}
	})
	for _, tc := range []struct {
		name string
		u    trust.KYCUpdate
	}{
		{"ErrEventID", update("123", "acct_acme", trust.KYCVerified, t0)},
		{"ErrAccount", update("evt_1", "acme", trust.KYCVerified, t0)},
		{"ErrState", update("evt_1", "acct_acme", "approved", t0)},
		{"ErrTime", update("evt_1", "acct_acme", trust.KYCVerified, time.Time{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := MustOpenDB(t)
			MustCreatePublisher(t, db, "acme")
			_, err := sqlite.NewPublisherService(db).UpdatePublisherKYC(t.Context(), tc.u)
			wantCode(t, err, trust.EINVALID)
		})
	}
}

// BenchmarkPublisherService_AuthenticatePublisher measures the check every
// submission starts with.
func BenchmarkPublisherService_AuthenticatePublisher(b *testing.B) {
	db, _ := MustOpenDB(b)
	s := sqlite.NewPublisherService(db)
	creds := MustCreatePublisher(b, db, "acme")
	for b.Loop() {
		if _, err := s.AuthenticatePublisher(b.Context(), creds.Token); err != nil {
			b.Fatal(err)
		}
	}
}
