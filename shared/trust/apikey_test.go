package trust_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/trust"
)

func TestAPIKeyStage_Validate(t *testing.T) {
	const key = "sk-ant-CANARY-stage-validate-1a2b"
	for _, tt := range []struct {
		name string
		st   trust.APIKeyStage
		ok   bool
	}{
		{"OK", trust.APIKeyStage{Provider: "openai", Key: key, StagedBy: "alice"}, true},
		{"OKLongestStagedBy", trust.APIKeyStage{Provider: "openai", Key: key, StagedBy: strings.Repeat("a", trust.MaxStagedByLen)}, true},
		{"ErrProvider", trust.APIKeyStage{Provider: "gemini", Key: key, StagedBy: "a"}, false},
		{"ErrKeyRequired", trust.APIKeyStage{Provider: "openai", StagedBy: "a"}, false},
		{"ErrKeyNotPrintable", trust.APIKeyStage{Provider: "openai", Key: key + "\t", StagedBy: "a"}, false},
		{"ErrStagedByRequired", trust.APIKeyStage{Provider: "openai", Key: key}, false},
		{"ErrStagedByTooLong", trust.APIKeyStage{Provider: "openai", Key: key, StagedBy: strings.Repeat("a", trust.MaxStagedByLen+1)}, false},
		{"ErrStagedByControl", trust.APIKeyStage{Provider: "openai", Key: key, StagedBy: "a\x1bb"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.st.Validate()
			if tt.ok && err != nil {
				t.Fatalf("got %v, want nil", err)
			} else if !tt.ok && trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			if err != nil && strings.Contains(err.Error(), "CANARY") {
				t.Fatalf("key in error: %v", err)
			}
		})
	}
}

func TestAPIKeyPromote_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    trust.APIKeyPromote
		ok   bool
	}{
		{"OK", trust.APIKeyPromote{Provider: "anthropic", Period: "2026-12"}, true},
		{"OKMaxOverlap", trust.APIKeyPromote{Provider: "anthropic", Period: "2026-01", Overlap: trust.MaxAPIKeyOverlap}, true},
		{"ErrProvider", trust.APIKeyPromote{Provider: "", Period: "2026-12"}, false},
		{"ErrPeriodRequired", trust.APIKeyPromote{Provider: "anthropic"}, false},
		{"ErrPeriodMonth", trust.APIKeyPromote{Provider: "anthropic", Period: "2026-00"}, false},
		{"ErrNegativeOverlap", trust.APIKeyPromote{Provider: "anthropic", Period: "2026-12", Overlap: -time.Second}, false},
		{"ErrLongOverlap", trust.APIKeyPromote{Provider: "anthropic", Period: "2026-12", Overlap: trust.MaxAPIKeyOverlap + 1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.ok && err != nil {
				t.Fatalf("got %v, want nil", err)
			} else if !tt.ok && trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
		})
	}
}

func TestAPIKeyFingerprint(t *testing.T) {
	// SHA-256("abc") begins ba7816bf8f01cfea.
	if got, want := trust.APIKeyFingerprint("abc"), "sha256:ba7816bf8f01cfea"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if trust.APIKeyFingerprint("sk-a") == trust.APIKeyFingerprint("sk-b") {
		t.Fatal("two keys share a fingerprint")
	}
}
