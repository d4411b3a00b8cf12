package api_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// countingSignatures is the real catalog's SignatureService (its catalog
// version included) counting the lookups that reach it.
type countingSignatures struct {
	*sqlite.SignatureService
	finds atomic.Int64
}

func (s *countingSignatures) FindSignatures(ctx context.Context, refs []trust.SkillRef) (map[trust.SkillRef][]*trust.Signature, error) {
	s.finds.Add(1)
	return s.SignatureService.FindSignatures(ctx, refs)
}

// MustOpenCountingServer returns a test server whose signature lookups are
// counted, with the test keys published.
func MustOpenCountingServer(tb testing.TB) (*TestServer, *countingSignatures) {
	tb.Helper()
	s := MustOpenServer(tb)
	sigs := &countingSignatures{SignatureService: sqlite.NewSignatureService(s.DB)}
	s.SignatureService = sigs
	s.MustPublishTestKeys(tb)
	return s, sigs
}

// batch asks for refs and returns the answer's status and body.
func (s *TestServer) batch(tb testing.TB, token string, refs ...trust.SkillRef) (int, []byte) {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/signatures/batch", token, edgeapi.BatchRequest{Skills: refs})
	return rec.Code, rec.Body.Bytes()
}

// MustBatch asks for refs and returns the number of signatures per ref.
func (s *TestServer) MustBatch(tb testing.TB, token string, refs ...trust.SkillRef) []int {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/signatures/batch", token, edgeapi.BatchRequest{Skills: refs})
	WantStatus(tb, rec, http.StatusOK)
	var resp edgeapi.BatchResponse
	MustDecode(tb, rec, &resp)
	n := make([]int, len(resp.Results))
	for i, r := range resp.Results {
		n[i] = len(r.Signatures)
	}
	return n
}

// wantFinds fails unless the catalog has been asked want times.
func (c *countingSignatures) wantFinds(tb testing.TB, want int64) {
	tb.Helper()
	if got := c.finds.Load(); got != want {
		tb.Fatalf("catalog lookups = %d, want %d", got, want)
	}
}

func TestServer_SignaturesBatchCache(t *testing.T) {
	t.Run("HitIdentical", func(t *testing.T) {
		s, sigs := MustOpenCountingServer(t)
		refs := s.MustSignSkills(t, 3)
		machine := s.MustMachineToken(t, "m1")

		first := s.Do(t, "POST", "/v1/signatures/batch", machine, edgeapi.BatchRequest{Skills: refs})
		WantStatus(t, first, http.StatusOK)
		// The same refs spelled differently are the same request.
		spelled := `{ "skills" : [` + `{"version":"1.0.0","name":"skill-0"},{"name":"skill-1","version":"1.0.0"},{"name":"skill-2","version":"1.0.0"}]}`
		second := s.Do(t, "POST", "/v1/signatures/batch", machine, spelled)
		WantStatus(t, second, http.StatusOK)
		if !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
			t.Fatalf("cached answer differs:\n%s\n%s", first.Body, second.Body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "X-Content-Type-Options", "Cache-Control"} {
			if a, b := first.Header().Get(h), second.Header().Get(h); a != b || a == "" {
				t.Fatalf("%s = %q, then %q", h, a, b)
			}
		}
		sigs.wantFinds(t, 1)

		// Another order is another answer.
		s.MustBatch(t, machine, refs[2], refs[1], refs[0])
		sigs.wantFinds(t, 2)
	})

	t.Run("NewSignature", func(t *testing.T) {
		s, _ := MustOpenCountingServer(t)
		machine := s.MustMachineToken(t, "m1")
		st := SkillStatement(t)
		ref := trust.SkillRef{Name: st.Skill, Version: st.Version}
		s.MustApproveSkill(t, st)
		if got := s.MustBatch(t, machine, ref); got[0] != 0 {
			t.Fatalf("signatures = %d before signing, want 0", got[0])
		}
		s.MustCreateSignature(t, MustSign(t, "test-key.pem", st))
		if got := s.MustBatch(t, machine, ref); got[0] != 1 {
			t.Fatalf("signatures = %d after signing, want 1 (stale cache)", got[0])
		}
	})

	t.Run("Rejected", func(t *testing.T) {
		s, _ := MustOpenCountingServer(t)
		refs := s.MustSignSkills(t, 2)
		machine := s.MustMachineToken(t, "m1")
		if got := s.MustBatch(t, machine, refs...); got[0] != 1 || got[1] != 1 {
			t.Fatalf("signatures = %v, want [1 1]", got)
		}
		WantStatus(t, s.Do(t, "POST", "/v1/service/skills/skill-0/versions/1.0.0/state", ServiceToken, `{"state":"rejected"}`), http.StatusOK)
		if got := s.MustBatch(t, machine, refs...); got[0] != 0 || got[1] != 1 {
			t.Fatalf("signatures = %v after rejecting skill-0, want [0 1] (stale cache)", got)
		}
	})

	t.Run("KeyRevoked", func(t *testing.T) {
		s, sigs := MustOpenCountingServer(t)
		refs := s.MustSignSkills(t, 2)
		machine := s.MustMachineToken(t, "m1")
		s.MustBatch(t, machine, refs...)
		s.MustBatch(t, machine, refs...)
		sigs.wantFinds(t, 1)
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys/test/versions/1/revoke", ServiceToken, `{"reason":"leaked"}`), http.StatusOK)
		s.MustBatch(t, machine, refs...)
		sigs.wantFinds(t, 2) // answered from the catalog again, not the cache
	})

	t.Run("MachineTokenRevoked", func(t *testing.T) {
		s, _ := MustOpenCountingServer(t)
		refs := s.MustSignSkills(t, 1)
		machine := s.MustMachineToken(t, "m1")
		other := s.MustMachineToken(t, "m2")
		for range 3 { // authenticated from the cache after the first
			s.MustBatch(t, machine, refs...)
		}
		WantStatus(t, s.Do(t, "POST", "/v1/service/machines/m1/revoke-tokens", ServiceToken, nil), http.StatusOK)
		WantError(t, s.Do(t, "POST", "/v1/signatures/batch", machine, edgeapi.BatchRequest{Skills: refs}), http.StatusUnauthorized, trust.EUNAUTHORIZED)
		s.MustBatch(t, other, refs...)
	})

	t.Run("Unauthenticated", func(t *testing.T) {
		s, _ := MustOpenCountingServer(t)
		refs := s.MustSignSkills(t, 1)
		machine := s.MustMachineToken(t, "m1")
		s.MustBatch(t, machine, refs...)
		// A token differing from a cached one in its last character.
		forged := machine[:len(machine)-1] + string(machine[len(machine)-1]^1)
		for _, token := range []string{forged, "", "oamt_" + machine[5:len(machine)-1]} {
			if code, _ := s.batch(t, token, refs...); code != http.StatusUnauthorized {
				t.Fatalf("status = %d for a wrong token, want 401", code)
			}
		}
	})

	// LiteFS applies a replicated transaction from outside this DB handle:
	// another handle on the same file writes the same way.
	t.Run("OtherHandle", func(t *testing.T) {
		s, _ := MustOpenCountingServer(t)
		refs := s.MustSignSkills(t, 2)
		machine := s.MustMachineToken(t, "m1")
		other := sqlite.NewDB(s.DB.DSN)
		other.AutoMigrate = false
		if err := other.Open(); err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		ctx := context.Background()

		s.MustBatch(t, machine, refs...)
		if _, err := sqlite.NewSkillVersionService(other).UpdateSkillVersionState(ctx, refs[1], trust.SkillVersionRejected); err != nil {
			t.Fatal(err)
		}
		if got := s.MustBatch(t, machine, refs...); got[0] != 1 || got[1] != 0 {
			t.Fatalf("signatures = %v after another handle rejected skill-1, want [1 0]", got)
		}
		if err := sqlite.NewMachineTokenService(other).RevokeMachineTokens(ctx, "m1"); err != nil {
			t.Fatal(err)
		}
		if code, _ := s.batch(t, machine, refs...); code != http.StatusUnauthorized {
			t.Fatalf("status = %d after another handle revoked the token, want 401", code)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s, _ := MustOpenCountingServer(t)
		machine := s.MustMachineToken(t, "m1")
		bad := trust.SkillRef{Name: "../x", Version: "1"}
		for range 2 {
			if code, _ := s.batch(t, machine, bad); code != http.StatusBadRequest {
				t.Fatalf("status = %d for a bad ref, want 400", code)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s, _ := MustOpenCountingServer(t)
		refs := s.MustSignSkills(t, 4)
		machine := s.MustMachineToken(t, "m1")
		// committed counts rejections known to be committed; started counts
		// rejections that may have committed (the store is set before the
		// update). An answer must lie between the two.
		var committed, started atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 40 {
					before := int(committed.Load())
					rec := s.Do(t, "POST", "/v1/signatures/batch", machine, edgeapi.BatchRequest{Skills: refs})
					after := int(started.Load())
					if rec.Code != http.StatusOK {
						t.Errorf("status = %d", rec.Code)
						return
					}
					var resp edgeapi.BatchResponse
					MustDecode(t, rec, &resp)
					gone := 0
					for _, r := range resp.Results {
						if len(r.Signatures) == 0 {
							gone++
						}
					}
					// Never older than what was committed before the request.
					if gone < before || gone > after {
						t.Errorf("answer shows %d rejected, want %d to %d", gone, before, after)
						return
					}
				}
			})
		}
		for i, ref := range refs {
			started.Store(int64(i + 1))
			if _, err := s.SkillVersionService.UpdateSkillVersionState(context.Background(), ref, trust.SkillVersionRejected); err != nil {
				t.Fatal(err)
			}
			committed.Store(int64(i + 1))
		}
		wg.Wait()
		if got := s.MustBatch(t, machine, refs...); got[0]+got[1]+got[2]+got[3] != 0 {
			t.Fatalf("signatures = %v after rejecting all, want none", got)
		}
	})
}
