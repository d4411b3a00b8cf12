package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// FixtureEnvelope returns testdata/signing/envelope.json: the fixture
// statement signed with test:1.
func FixtureEnvelope(tb testing.TB) []byte {
	tb.Helper()
	buf, err := os.ReadFile(filepath.Join(fixtures, "envelope.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return buf
}

// SkillEnvelope returns SkillStatement signed with test:1. Ed25519 is
// deterministic, so these are the same bytes on every run.
func SkillEnvelope(tb testing.TB) []byte {
	tb.Helper()
	return MustSign(tb, "test-key.pem", SkillStatement(tb))
}

// SignatureBody wraps an envelope as the body of POST /v1/service/signatures.
func SignatureBody(envelope []byte) string {
	return `{"envelope":` + string(envelope) + `}`
}

// MustCreateSignature records envelope through the API.
func (s *TestServer) MustCreateSignature(tb testing.TB, envelope []byte) *trust.Signature {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(envelope))
	WantStatus(tb, rec, http.StatusCreated)
	var sig trust.Signature
	MustDecode(tb, rec, &sig)
	return &sig
}

// Tamper rewrites an envelope's payload with edit, keeping its signature.
func Tamper(tb testing.TB, envelope []byte, edit func([]byte) []byte) []byte {
	tb.Helper()
	var env map[string]any
	if err := json.Unmarshal(envelope, &env); err != nil {
		tb.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		tb.Fatal(err)
	}
	env["payload"] = base64.StdEncoding.EncodeToString(edit(payload))
	out, err := json.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestServer_SignatureCreate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		st := SkillStatement(t)
		s.MustApproveSkill(t, st)
		envelope := SkillEnvelope(t)
		sig := s.MustCreateSignature(t, envelope)
		if sig.Skill != st.Skill || sig.Version != st.Version || sig.ContentDigest != st.ContentDigest ||
			sig.PermissionsDigest != st.PermissionsDigest ||
			sig.KeyID != "test" || sig.KeyVersion != 1 || !sig.IssuedAt.Equal(st.IssuedAt) || !sig.CreatedAt.Equal(Now) {
			t.Fatalf("got %+v, want the statement's fields", sig)
		}
		if !bytes.Equal(sig.Envelope, envelope) {
			t.Fatalf("envelope = %s, want the one sent", sig.Envelope)
		}

		// The signed version is the approved one recorded before it.
		rec := s.Do(t, "GET", skillPath, ServiceToken, nil)
		var v trust.SkillVersion
		MustDecode(t, rec, &v)
		if v.State != trust.SkillVersionApproved || v.ImageDigest != st.ImageDigest {
			t.Fatalf("skill version = %+v", v)
		}

		// A Machine finds it.
		machine := s.MustMachineToken(t, "m1")
		rec = s.Do(t, "GET", "/v1/skills/weather-report/versions/1.2.0/signatures", machine, nil)
		WantStatus(t, rec, http.StatusOK)
		var resp edgeapi.SignaturesResponse
		MustDecode(t, rec, &resp)
		if resp.Skill != "weather-report" || resp.Version != "1.2.0" || len(resp.Signatures) != 1 || !bytes.Equal(resp.Signatures[0].Envelope, envelope) {
			t.Fatalf("got %+v", resp)
		}
	})

	t.Run("IndentedEnvelope", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		s.MustApproveSkill(t, SkillStatement(t))
		var indented bytes.Buffer
		if err := json.Indent(&indented, SkillEnvelope(t), "", "  "); err != nil {
			t.Fatal(err)
		}
		if sig := s.MustCreateSignature(t, indented.Bytes()); !bytes.Equal(sig.Envelope, SkillEnvelope(t)) {
			t.Fatalf("envelope = %s, want it compacted", sig.Envelope)
		}
	})

	t.Run("ReplaceAndNewestFirst", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		s.MustApproveSkill(t, SkillStatement(t))
		s.MustCreateSignature(t, SkillEnvelope(t))
		s.MustCreateSignature(t, SkillEnvelope(t)) // same key version: replaced
		st := SkillStatement(t)
		st.KeyVersion, st.IssuedAt = 2, time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
		s.MustCreateSignature(t, MustSign(t, "test-key-2.pem", st))

		rec := s.Do(t, "GET", "/v1/skills/weather-report/versions/1.2.0/signatures", ServiceToken, nil)
		var resp edgeapi.SignaturesResponse
		MustDecode(t, rec, &resp)
		if len(resp.Signatures) != 2 || resp.Signatures[0].KeyVersion != 2 || resp.Signatures[1].KeyVersion != 1 {
			t.Fatalf("got %d signatures %+v, want test:2 then test:1", len(resp.Signatures), resp.Signatures)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		other := FixtureStatement(t)
		other.KeyID = "other"
		early := FixtureStatement(t)
		early.KeyVersion = 2 // test:2 is valid from 2026-06-01; this is issued 2026-03-01
		for _, tt := range []struct {
			name     string
			envelope func(t *testing.T) []byte
			reason   string
		}{
			{"TamperedPayload", func(t *testing.T) []byte {
				return Tamper(t, FixtureEnvelope(t), func(p []byte) []byte { return bytes.Replace(p, []byte("weather-report"), []byte("weather-rep0rt"), 1) })
			}, trust.ReasonBadSignature},
			{"TamperedSignature", func(t *testing.T) []byte {
				env := FixtureEnvelope(t)
				return bytes.Replace(env, []byte(`"sig":"oCE`), []byte(`"sig":"oCF`), 1)
			}, trust.ReasonBadSignature},
			{"UnknownKey", func(t *testing.T) []byte { return MustSign(t, "test-key.pem", other) }, trust.ReasonUnknownKey},
			{"WrongKeyVersion", func(t *testing.T) []byte { return MustSign(t, "test-key.pem", early) }, trust.ReasonWrongKeyVersion},
			{"NotYetValid", func(t *testing.T) []byte { return MustSign(t, "test-key-2.pem", early) }, trust.ReasonKeyNotYetValid},
			{"Malformed", func(t *testing.T) []byte { return []byte(`{"payloadType":"text/plain","payload":"","signatures":[]}`) }, trust.ReasonMalformed},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := MustOpenServer(t)
				s.MustPublishTestKeys(t)
				msg := WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(tt.envelope(t))), http.StatusBadRequest, trust.EINVALID)
				if !strings.Contains(msg, tt.reason) {
					t.Fatalf("message %q does not name reason %q", msg, tt.reason)
				}
				s.wantNoSignatures(t)
			})
		}
	})

	t.Run("ErrRevokedKey", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		s.MustApproveSkill(t, SkillStatement(t))
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys/test/versions/1/revoke", ServiceToken, `{"reason":"leaked"}`), http.StatusOK)
		msg := WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(SkillEnvelope(t))), http.StatusBadRequest, trust.EINVALID)
		if !strings.Contains(msg, trust.ReasonRevokedKey) {
			t.Fatalf("message %q, want reason %s", msg, trust.ReasonRevokedKey)
		}
		s.wantNoSignatures(t)
	})

	t.Run("ErrRetiringKey", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		s.MustApproveSkill(t, SkillStatement(t))
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys/test/versions/1/retire", ServiceToken, nil), http.StatusOK)
		msg := WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(SkillEnvelope(t))), http.StatusConflict, trust.ECONFLICT)
		if !strings.Contains(msg, "retiring") {
			t.Fatalf("message %q, want it to say the key is retiring", msg)
		}
		s.wantNoSignatures(t)
	})

	t.Run("ErrEmptyKeyring", func(t *testing.T) {
		s := MustOpenServer(t)
		msg := WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(FixtureEnvelope(t))), http.StatusBadRequest, trust.EINVALID)
		if !strings.Contains(msg, trust.ReasonUnknownKey) {
			t.Fatalf("message %q, want reason %s", msg, trust.ReasonUnknownKey)
		}
	})

	t.Run("ErrSkillConflict", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		body := NewSkillBody(t)
		body["content_digest"] = "sha256:" + strings.Repeat("1", 64)
		body["state"] = "approved"
		WantStatus(t, s.Do(t, "PUT", skillPath, ServiceToken, body), http.StatusCreated)
		WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(SkillEnvelope(t))), http.StatusConflict, trust.ECONFLICT)
	})

	t.Run("ErrSkillPending", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		WantStatus(t, s.Do(t, "PUT", skillPath, ServiceToken, NewSkillBody(t)), http.StatusCreated)
		WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(SkillEnvelope(t))), http.StatusConflict, trust.ECONFLICT)
	})

	// A signature never creates its skill version: the version, with its
	// permissions, is recorded and approved first.
	t.Run("ErrSkillNotFound", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		msg := WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(SkillEnvelope(t))), http.StatusNotFound, trust.ENOTFOUND)
		if !strings.Contains(msg, "weather-report@1.2.0") {
			t.Fatalf("message %q does not name the skill version", msg)
		}
		WantError(t, s.Do(t, "GET", skillPath, ServiceToken, nil), http.StatusNotFound, trust.ENOTFOUND)
		s.wantNoSignatures(t)
	})

	t.Run("ErrSkillRejected", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		s.MustApproveSkill(t, SkillStatement(t))
		WantStatus(t, s.Do(t, "POST", skillPath+"/state", ServiceToken, `{"state":"rejected"}`), http.StatusOK)
		WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, SignatureBody(SkillEnvelope(t))), http.StatusConflict, trust.ECONFLICT)
	})

	t.Run("ErrBody", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		for name, body := range map[string]string{
			"NoEnvelope":   `{}`,
			"NullEnvelope": `{"envelope":null}`,
			"String":       `{"envelope":` + fmt.Sprintf("%q", FixtureEnvelope(t)) + `}`,
			"Array":        `{"envelope":[]}`,
			"Malformed":    `{"envelope":{`,
			"TooLarge":     `{"envelope":{"payload":"` + strings.Repeat("A", 80<<10) + `"}}`,
		} {
			t.Run(name, func(t *testing.T) {
				WantError(t, s.Do(t, "POST", "/v1/service/signatures", ServiceToken, body), http.StatusBadRequest, trust.EINVALID)
			})
		}
	})
}

// wantNoSignatures fails the test if the fixture skill has any signature.
func (s *TestServer) wantNoSignatures(t *testing.T) {
	t.Helper()
	m, err := s.SignatureService.FindSignatures(t.Context(), []trust.SkillRef{{Name: "weather-report", Version: "1.2.0"}})
	if err != nil {
		t.Fatal(err)
	} else if n := len(m[trust.SkillRef{Name: "weather-report", Version: "1.2.0"}]); n != 0 {
		t.Fatalf("%d signatures recorded, want none", n)
	}
}

// MustSignSkills records skills skill-0 … skill-(n-1) at version 1.0.0,
// approved, and a signature of each by test:1, and returns their refs.
func (s *TestServer) MustSignSkills(tb testing.TB, n int) []trust.SkillRef {
	tb.Helper()
	refs := make([]trust.SkillRef, n)
	for i := range refs {
		st := SkillStatement(tb)
		st.Skill, st.Version = fmt.Sprintf("skill-%d", i), "1.0.0"
		s.MustApproveSkill(tb, st)
		s.MustCreateSignature(tb, MustSign(tb, "test-key.pem", st))
		refs[i] = trust.SkillRef{Name: st.Skill, Version: st.Version}
	}
	return refs
}

func TestServer_SignaturesBatch(t *testing.T) {
	s := MustOpenServer(t)
	s.MustPublishTestKeys(t)
	refs := s.MustSignSkills(t, 3)
	machine := s.MustMachineToken(t, "m1")

	t.Run("OK", func(t *testing.T) {
		missing := trust.SkillRef{Name: "unsigned", Version: "0.0.1"}
		req := edgeapi.BatchRequest{Skills: []trust.SkillRef{refs[2], missing, refs[0], refs[2]}}
		rec := s.Do(t, "POST", "/v1/signatures/batch", machine, req)
		WantStatus(t, rec, http.StatusOK)
		var resp edgeapi.BatchResponse
		MustDecode(t, rec, &resp)
		if len(resp.Results) != len(req.Skills) {
			t.Fatalf("results = %d, want %d", len(resp.Results), len(req.Skills))
		}
		for i, r := range resp.Results {
			if got, want := (trust.SkillRef{Name: r.Name, Version: r.Version}), req.Skills[i]; got != want {
				t.Fatalf("result %d is %s, want %s (request order)", i, got, want)
			}
			want := 1
			if req.Skills[i] == missing {
				want = 0
			}
			if len(r.Signatures) != want || (want == 1 && r.Signatures[0].Skill != r.Name) {
				t.Fatalf("result %d: %d signatures, want %d", i, len(r.Signatures), want)
			}
		}
		if !strings.Contains(rec.Body.String(), `"signatures":[]`) {
			t.Fatalf("missing ref should have an empty list: %s", rec.Body)
		}
	})

	t.Run("MaxBatch", func(t *testing.T) {
		req := edgeapi.BatchRequest{Skills: make([]trust.SkillRef, trust.MaxBatch)}
		for i := range req.Skills {
			req.Skills[i] = refs[i%len(refs)]
		}
		WantStatus(t, s.Do(t, "POST", "/v1/signatures/batch", machine, req), http.StatusOK)
	})

	t.Run("Errors", func(t *testing.T) {
		tooMany := edgeapi.BatchRequest{Skills: make([]trust.SkillRef, trust.MaxBatch+1)}
		for i := range tooMany.Skills {
			tooMany.Skills[i] = refs[0]
		}
		for name, body := range map[string]any{
			"ErrEmpty":        `{"skills":[]}`,
			"ErrNoSkills":     `{}`,
			"ErrTooMany":      tooMany,
			"ErrInvalidRef":   `{"skills":[{"name":"ok","version":"1"},{"name":"../x","version":"1"}]}`,
			"ErrNoVersion":    `{"skills":[{"name":"ok"}]}`,
			"ErrMalformed":    `{"skills":[`,
			"ErrUnknownField": `{"skills":[],"all":true}`,
			"ErrWrongType":    `{"skills":"skill-0"}`,
			"ErrTrailing":     `{"skills":[{"name":"ok","version":"1"}]}x`,
			"ErrTooLarge":     `{"skills":[{"name":"` + strings.Repeat("a", 600<<10) + `","version":"1"}]}`,
			"ErrNoBody":       nil,
		} {
			t.Run(name, func(t *testing.T) {
				WantError(t, s.Do(t, "POST", "/v1/signatures/batch", machine, body), http.StatusBadRequest, trust.EINVALID)
			})
		}
	})

	t.Run("ErrBadPath", func(t *testing.T) {
		WantError(t, s.Do(t, "GET", "/v1/skills/bad%20name/versions/1/signatures", machine, nil), http.StatusBadRequest, trust.EINVALID)
	})

	t.Run("Unsigned", func(t *testing.T) {
		rec := s.Do(t, "GET", "/v1/skills/unsigned/versions/1/signatures", machine, nil)
		WantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"signatures":[]`) {
			t.Fatalf("body = %s, want an empty list", rec.Body)
		}
	})
}

// TestServer_RejectedVersionHidden checks that moving a signed version to
// rejected hides its signatures from Machines, on both lookup routes, while
// other versions keep theirs.
func TestServer_RejectedVersionHidden(t *testing.T) {
	s := MustOpenServer(t)
	s.MustPublishTestKeys(t)
	refs := s.MustSignSkills(t, 2)
	machine := s.MustMachineToken(t, "m1")
	rejected, kept := refs[0], refs[1]

	lookup := func(t *testing.T) map[trust.SkillRef]int {
		t.Helper()
		rec := s.Do(t, "POST", "/v1/signatures/batch", machine, edgeapi.BatchRequest{Skills: refs})
		WantStatus(t, rec, http.StatusOK)
		var resp edgeapi.BatchResponse
		MustDecode(t, rec, &resp)
		n := map[trust.SkillRef]int{}
		for _, r := range resp.Results {
			n[trust.SkillRef{Name: r.Name, Version: r.Version}] = len(r.Signatures)
		}
		return n
	}
	if n := lookup(t); n[rejected] != 1 || n[kept] != 1 {
		t.Fatalf("before rejection: %v, want one signature each", n)
	}

	path := "/v1/service/skills/" + rejected.Name + "/versions/" + rejected.Version
	WantStatus(t, s.Do(t, "POST", path+"/state", ServiceToken, `{"state":"rejected"}`), http.StatusOK)

	if n := lookup(t); n[rejected] != 0 || n[kept] != 1 {
		t.Fatalf("after rejection: %v, want none for %s and one for %s", n, rejected, kept)
	}
	rec := s.Do(t, "GET", "/v1/skills/"+rejected.Name+"/versions/"+rejected.Version+"/signatures", machine, nil)
	WantStatus(t, rec, http.StatusOK)
	var resp edgeapi.SignaturesResponse
	MustDecode(t, rec, &resp)
	if resp.Signatures == nil || len(resp.Signatures) != 0 {
		t.Fatalf("signatures of %s = %+v, want an empty list", rejected, resp.Signatures)
	}
}

// FuzzServer_SignaturesBatch sends arbitrary bodies to the batch route: the
// answer is always a JSON 200 or a 4xx error, never an internal error.
func FuzzServer_SignaturesBatch(f *testing.F) {
	for _, seed := range []string{
		`{"skills":[{"name":"skill-0","version":"1.0.0"}]}`,
		`{"skills":[]}`, `{}`, `{"skills":[{"name":"a"}]}`, `{"skills":null}`, `[]`, `{"skills":[{"name":"a","version":"1"}]}x`,
	} {
		f.Add(seed)
	}
	s := MustOpenServer(f)
	s.MustPublishTestKeys(f)
	s.MustSignSkills(f, 1)
	f.Fuzz(func(t *testing.T, body string) {
		rec := s.Do(t, "POST", "/v1/signatures/batch", ServiceToken, body)
		if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %s", rec.Body)
		}
	})
}
