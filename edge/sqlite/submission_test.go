package sqlite_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// ArchiveOf returns archive bytes unique to seed, and their digest.
func ArchiveOf(seed string) ([]byte, string) {
	data := []byte("\x1f\x8b fake tar.gz " + seed)
	sum := sha256.Sum256(data)
	return data, "sha256:" + hex.EncodeToString(sum[:])
}

// MustCreateSubmission records a submission of publisher with archive seed.
func MustCreateSubmission(tb testing.TB, db *sqlite.DB, publisher, seed string) *trust.Submission {
	tb.Helper()
	data, d := ArchiveOf(seed)
	sub, created, err := sqlite.NewSubmissionService(db).CreateSubmission(tb.Context(),
		&trust.Submission{Publisher: publisher, ArchiveFormat: "tar.gz", ArchiveDigest: d}, data)
	if err != nil {
		tb.Fatal(err)
	} else if !created {
		tb.Fatalf("submission %s already existed", seed)
	}
	return sub
}

// pathTo is a way through the state machine from received to each state.
var pathTo = map[string][]string{
	trust.SubmissionReceived:  {},
	trust.SubmissionExtracted: {"extracted"},
	trust.SubmissionScanned:   {"extracted", "scanned"},
	trust.SubmissionBuilt:     {"extracted", "scanned", "built"},
	trust.SubmissionAnalyzed:  {"extracted", "scanned", "built", "analyzed"},
	trust.SubmissionFlagged:   {"extracted", "scanned", "built", "analyzed", "flagged"},
	trust.SubmissionApproved:  {"extracted", "scanned", "built", "analyzed", "approved"},
	trust.SubmissionSigned:    {"extracted", "scanned", "built", "analyzed", "approved", "signed"},
	trust.SubmissionRejected:  {"extracted", "scanned", "built", "analyzed", "rejected"},
	trust.SubmissionFailed:    {"failed"},
}

// move returns a valid transition from one state to another.
func move(from, to string) trust.SubmissionTransition {
	t := trust.SubmissionTransition{From: from, To: to}
	if to == trust.SubmissionFailed {
		t.Reason = "permanent error"
	}
	if from == trust.SubmissionFlagged {
		t.Reviewer, t.Reason = "rev@example.com", "looked at it"
	}
	return t
}

// MustMoveTo walks a received submission to state.
func MustMoveTo(tb testing.TB, db *sqlite.DB, id, state string) *trust.Submission {
	tb.Helper()
	s := sqlite.NewSubmissionService(db)
	sub, err := s.FindSubmissionByID(tb.Context(), id)
	if err != nil {
		tb.Fatal(err)
	}
	from := trust.SubmissionReceived
	for _, to := range pathTo[state] {
		if sub, err = s.TransitionSubmission(tb.Context(), id, move(from, to)); err != nil {
			tb.Fatalf("%s → %s: %v", from, to, err)
		}
		from = to
	}
	return sub
}

func TestSubmissionService_CreateSubmission(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		MustCreateVerifiedPublisher(t, db, "acme")
		data, d := ArchiveOf("one")
		sub, created, err := s.CreateSubmission(t.Context(), &trust.Submission{Publisher: "acme", ArchiveFormat: "zip", ArchiveDigest: d}, data)
		if err != nil {
			t.Fatal(err)
		} else if !created || !strings.HasPrefix(sub.ID, "sub_") || sub.State != trust.SubmissionReceived ||
			sub.ArchiveSize != int64(len(data)) || sub.ArchiveFormat != "zip" || !sub.CreatedAt.Equal(t0) {
			t.Fatalf("created=%v submission=%+v", created, sub)
		}
		got, err := s.FindSubmissionByID(t.Context(), sub.ID)
		if err != nil {
			t.Fatal(err)
		} else if got.ID != sub.ID || got.ArchiveDigest != d || got.Publisher != "acme" {
			t.Fatalf("found %+v", got)
		}
		archive, err := s.FindSubmissionArchive(t.Context(), sub.ID)
		if err != nil {
			t.Fatal(err)
		} else if !bytes.Equal(archive, data) {
			t.Fatal("archive bytes differ")
		}
	})
	t.Run("Idempotent", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		MustCreateVerifiedPublisher(t, db, "acme")
		MustCreateVerifiedPublisher(t, db, "other")
		first := MustCreateSubmission(t, db, "acme", "one")
		MustMoveTo(t, db, first.ID, trust.SubmissionScanned)
		data, d := ArchiveOf("one")
		again, created, err := s.CreateSubmission(t.Context(), &trust.Submission{Publisher: "acme", ArchiveFormat: "tar.gz", ArchiveDigest: d}, data)
		if err != nil {
			t.Fatal(err)
		} else if created || again.ID != first.ID || again.State != trust.SubmissionScanned {
			t.Fatalf("again: created=%v %+v, want the existing submission", created, again)
		}
		// Another publisher's identical upload is its own submission.
		theirs, created, err := s.CreateSubmission(t.Context(), &trust.Submission{Publisher: "other", ArchiveFormat: "tar.gz", ArchiveDigest: d}, data)
		if err != nil || !created || theirs.ID == first.ID {
			t.Fatalf("other publisher: created=%v %+v %v", created, theirs, err)
		}
	})
	data, d := ArchiveOf("one")
	_, otherDigest := ArchiveOf("two")
	for _, tc := range []struct {
		name    string
		sub     trust.Submission
		archive []byte
		want    string // in the message
	}{
		{"ErrDigestMismatch", trust.Submission{ArchiveDigest: otherDigest}, data, "mismatch"},
		{"ErrDigestRequired", trust.Submission{ArchiveDigest: ""}, data, "digest required"},
		{"ErrDigestUppercase", trust.Submission{ArchiveDigest: strings.ToUpper(d)}, data, "digest"},
		{"ErrEmpty", trust.Submission{ArchiveDigest: d}, nil, "archive required"},
		{"ErrTooLarge", trust.Submission{}, make([]byte, trust.MaxArchiveSize+1), "16777216"},
		{"ErrFormat", trust.Submission{ArchiveDigest: d, ArchiveFormat: "rar"}, data, "format"},
		{"ErrSize", trust.Submission{ArchiveDigest: d, ArchiveSize: 3}, data, "size"},
		{"ErrState", trust.Submission{ArchiveDigest: d, State: trust.SubmissionApproved}, data, "received"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := MustOpenDB(t)
			MustCreateVerifiedPublisher(t, db, "acme")
			sub := tc.sub
			sub.Publisher = "acme"
			if sub.ArchiveFormat == "" {
				sub.ArchiveFormat = "tar.gz"
			}
			if sub.ArchiveDigest == "" && len(tc.archive) > trust.MaxArchiveSize {
				sum := sha256.Sum256(tc.archive)
				sub.ArchiveDigest = "sha256:" + hex.EncodeToString(sum[:])
			}
			_, _, err := sqlite.NewSubmissionService(db).CreateSubmission(t.Context(), &sub, tc.archive)
			wantCode(t, err, trust.EINVALID)
			if msg := trust.ErrorMessage(err); !strings.Contains(msg, tc.want) {
				t.Fatalf("message %q does not mention %q", msg, tc.want)
			}
			if subs, _ := sqlite.NewSubmissionService(db).FindSubmissions(t.Context(), trust.SubmissionFilter{}); len(subs) != 0 {
				t.Fatalf("%d submissions recorded", len(subs))
			}
		})
	}
	t.Run("ConcurrentSameBytes", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		MustCreateVerifiedPublisher(t, db, "acme")
		data, d := ArchiveOf("one")
		const n = 6
		var wg sync.WaitGroup
		ids, created, errs := make([]string, n), make([]bool, n), make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var sub *trust.Submission
				sub, created[i], errs[i] = s.CreateSubmission(t.Context(), &trust.Submission{Publisher: "acme", ArchiveFormat: "tar.gz", ArchiveDigest: d}, data)
				if sub != nil {
					ids[i] = sub.ID
				}
			}()
		}
		wg.Wait()
		news := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			} else if ids[i] != ids[0] {
				t.Fatalf("ids %v: want one submission", ids)
			} else if created[i] {
				news++
			}
		}
		if news != 1 {
			t.Fatalf("%d uploads created a submission, want 1", news)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		pending := MustCreatePublisher(t, db, "pending").Publisher
		rejected := MustCreateVerifiedPublisher(t, db, "later-rejected").Publisher
		data, d := ArchiveOf("one")
		for _, publisher := range []string{pending.ID, "unknown"} {
			_, _, err := s.CreateSubmission(t.Context(), &trust.Submission{Publisher: publisher, ArchiveFormat: "tar.gz", ArchiveDigest: d}, data)
			wantCode(t, err, trust.EFORBIDDEN)
		}
		// A publisher that lost its verification cannot even replay an upload.
		MustCreateSubmission(t, db, rejected.ID, "one")
		MustSetKYC(t, db, rejected, trust.KYCRejected, t0.Add(1e9))
		_, _, err := s.CreateSubmission(t.Context(), &trust.Submission{Publisher: rejected.ID, ArchiveFormat: "tar.gz", ArchiveDigest: d}, data)
		wantCode(t, err, trust.EFORBIDDEN)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		_, err := s.FindSubmissionByID(t.Context(), "sub_none")
		wantCode(t, err, trust.ENOTFOUND)
		_, err = s.FindSubmissionArchive(t.Context(), "sub_none")
		wantCode(t, err, trust.ENOTFOUND)
	})
}

// allowedMoves is the state diagram of trust/submission.go, written out
// again so that the test does not trust the code it checks.
var allowedMoves = map[[2]string]bool{
	{"received", "extracted"}: true, {"extracted", "scanned"}: true, {"scanned", "built"}: true,
	{"built", "analyzed"}: true, {"analyzed", "approved"}: true, {"analyzed", "flagged"}: true,
	{"analyzed", "rejected"}: true, {"flagged", "approved"}: true, {"flagged", "rejected"}: true,
	{"approved", "signed"}: true,
	{"received", "failed"}: true, {"extracted", "failed"}: true, {"scanned", "failed"}: true,
	{"built", "failed"}: true, {"analyzed", "failed"}: true, {"flagged", "failed"}: true,
	{"approved", "failed"}: true,
}

var allStates = []string{"received", "extracted", "scanned", "built", "analyzed", "flagged", "approved", "signed", "rejected", "failed"}

// TestSubmissionService_StateMachine tries every from×to pair on a stored
// submission: exactly the diagram's moves succeed, every other is EINVALID
// and leaves the submission as it was.
func TestSubmissionService_StateMachine(t *testing.T) {
	db, _ := MustOpenDB(t)
	s := sqlite.NewSubmissionService(db)
	MustCreateVerifiedPublisher(t, db, "acme")
	for _, from := range allStates {
		for _, to := range allStates {
			t.Run(from+"→"+to, func(t *testing.T) {
				sub := MustCreateSubmission(t, db, "acme", from+to)
				MustMoveTo(t, db, sub.ID, from)
				got, err := s.TransitionSubmission(t.Context(), sub.ID, move(from, to))
				if allowedMoves[[2]string{from, to}] {
					if err != nil {
						t.Fatalf("allowed move refused: %v", err)
					} else if got.State != to {
						t.Fatalf("state = %s, want %s", got.State, to)
					}
				} else {
					wantCode(t, err, trust.EINVALID)
				}
				if trust.SubmissionMoveAllowed(from, to) != allowedMoves[[2]string{from, to}] {
					t.Fatalf("trust.SubmissionMoveAllowed disagrees with the diagram")
				}
				stored, err := s.FindSubmissionByID(t.Context(), sub.ID)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]string{true: to, false: from}[allowedMoves[[2]string{from, to}]]; stored.State != want {
					t.Fatalf("stored state %s, want %s", stored.State, want)
				}
			})
		}
	}
}

func TestSubmissionService_TransitionSubmission(t *testing.T) {
	t.Run("OKFields", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		MustCreateVerifiedPublisher(t, db, "acme")
		sub := MustCreateSubmission(t, db, "acme", "one")
		perms := trust.Permissions{Tools: []string{"web_fetch", "web_fetch"}, Network: []string{"api.example.com"}}
		clock.Add(1e9)
		got, err := s.TransitionSubmission(t.Context(), sub.ID, trust.SubmissionTransition{
			From: "received", To: "extracted", Name: "weather", Version: "1.0.0", ContentDigest: Digest('c'),
			PermissionsDigest: MustPermissionsDigest(t, perms), Permissions: &perms,
		})
		if err != nil {
			t.Fatal(err)
		} else if got.Name != "weather" || got.Version != "1.0.0" || got.ContentDigest != Digest('c') ||
			len(got.Permissions.Tools) != 1 || !got.UpdatedAt.After(got.CreatedAt) {
			t.Fatalf("got %+v", got)
		}
		score := 45
		if _, err := s.TransitionSubmission(t.Context(), sub.ID, trust.SubmissionTransition{From: "extracted", To: "scanned", Decision: "flag", Score: &score}); err != nil {
			t.Fatal(err)
		}
		// Zero-valued fields leave what earlier steps recorded.
		got, err = s.FindSubmissionByID(t.Context(), sub.ID)
		if err != nil {
			t.Fatal(err)
		} else if got.Name != "weather" || got.PermissionsDigest == "" || got.Decision != "flag" || got.Score != 45 ||
			len(got.Permissions.Network) != 1 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		MustCreateVerifiedPublisher(t, db, "acme")
		sub := MustCreateSubmission(t, db, "acme", "one")
		MustMoveTo(t, db, sub.ID, trust.SubmissionExtracted)
		_, err := s.TransitionSubmission(t.Context(), sub.ID, move("received", "extracted"))
		wantCode(t, err, trust.ECONFLICT)
		_, err = s.TransitionSubmission(t.Context(), "sub_none", move("received", "extracted"))
		wantCode(t, err, trust.ENOTFOUND)
	})
	t.Run("ConcurrentCompareAndSet", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSubmissionService(db)
		MustCreateVerifiedPublisher(t, db, "acme")
		sub := MustCreateSubmission(t, db, "acme", "one")
		const n = 8
		var wg sync.WaitGroup
		codes := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.TransitionSubmission(t.Context(), sub.ID, trust.SubmissionTransition{From: "received", To: "extracted", Reason: fmt.Sprint(i)})
				codes[i] = trust.ErrorCode(err)
			}()
		}
		wg.Wait()
		won := 0
		for _, c := range codes {
			switch c {
			case "":
				won++
			case trust.ECONFLICT:
			default:
				t.Fatalf("codes %v: want one success and conflicts", codes)
			}
		}
		if won != 1 {
			t.Fatalf("%d moves won, want 1 (codes %v)", won, codes)
		}
	})
	score := -1
	for _, tc := range []struct {
		name string
		t    trust.SubmissionTransition
	}{
		{"ErrUnknownState", trust.SubmissionTransition{From: "received", To: "published"}},
		{"ErrSkip", trust.SubmissionTransition{From: "received", To: "signed"}},
		{"ErrName", trust.SubmissionTransition{From: "received", To: "extracted", Name: "../x", Version: "1.0.0"}},
		{"ErrVersionMissing", trust.SubmissionTransition{From: "received", To: "extracted", Name: "weather"}},
		{"ErrContentDigest", trust.SubmissionTransition{From: "received", To: "extracted", ContentDigest: "sha256:abc"}},
		{"ErrImageDigest", trust.SubmissionTransition{From: "received", To: "extracted", ImageDigest: "md5:" + strings.Repeat("a", 32)}},
		{"ErrPermissionsDigest", trust.SubmissionTransition{From: "received", To: "extracted", PermissionsDigest: Digest('a'), Permissions: &trust.Permissions{Tools: []string{"x"}}}},
		{"ErrDecision", trust.SubmissionTransition{From: "received", To: "extracted", Decision: "maybe"}},
		{"ErrScore", trust.SubmissionTransition{From: "received", To: "extracted", Score: &score}},
		{"ErrReasonTooLong", trust.SubmissionTransition{From: "received", To: "failed", Reason: strings.Repeat("x", trust.MaxSubmissionReason+1)}},
		{"ErrFailedWithoutReason", trust.SubmissionTransition{From: "received", To: "failed"}},
		{"ErrReviewer", trust.SubmissionTransition{From: "received", To: "extracted", Reviewer: "a\x00b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := MustOpenDB(t)
			MustCreateVerifiedPublisher(t, db, "acme")
			sub := MustCreateSubmission(t, db, "acme", "one")
			_, err := sqlite.NewSubmissionService(db).TransitionSubmission(t.Context(), sub.ID, tc.t)
			wantCode(t, err, trust.EINVALID)
		})
	}
	t.Run("ErrReviewWithoutReviewer", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		MustCreateVerifiedPublisher(t, db, "acme")
		sub := MustCreateSubmission(t, db, "acme", "one")
		MustMoveTo(t, db, sub.ID, trust.SubmissionFlagged)
		_, err := sqlite.NewSubmissionService(db).TransitionSubmission(t.Context(), sub.ID, trust.SubmissionTransition{From: "flagged", To: "approved", Reason: "fine"})
		wantCode(t, err, trust.EINVALID)
	})
}

func TestSubmissionService_ReplaceSubmissionFindings(t *testing.T) {
	finding := func(rule string) *trust.SubmissionFinding {
		return &trust.SubmissionFinding{RuleID: rule, Category: "malicious-code", Severity: "high", File: "SKILL.md", Line: 3, Evidence: "curl … | sh", Why: "pipes a download to a shell"}
	}
	rules := func(sub *trust.Submission) string {
		var out []string
		for _, f := range sub.Findings {
			out = append(out, f.Source+":"+f.RuleID)
		}
		return strings.Join(out, ",")
	}
	db, _ := MustOpenDB(t)
	s := sqlite.NewSubmissionService(db)
	MustCreateVerifiedPublisher(t, db, "acme")
	sub := MustCreateSubmission(t, db, "acme", "one")
	find := func() *trust.Submission {
		t.Helper()
		got, err := s.FindSubmissionByID(t.Context(), sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	must := func(source string, fs ...*trust.SubmissionFinding) {
		t.Helper()
		if err := s.ReplaceSubmissionFindings(t.Context(), sub.ID, source, fs); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("OKPerSource", func(t *testing.T) {
		must("static", finding("A"), finding("B"))
		must("dependencies", finding("D"))
		must("static", finding("C")) // a repeated step replaces, never duplicates
		if got := rules(find()); got != "dependencies:D,static:C" {
			t.Fatalf("findings %s", got)
		}
		must("static")
		if got := rules(find()); got != "dependencies:D" {
			t.Fatalf("findings %s", got)
		}
	})
	t.Run("ErrAtomic", func(t *testing.T) {
		err := s.ReplaceSubmissionFindings(t.Context(), sub.ID, "dependencies", []*trust.SubmissionFinding{finding("E"), {RuleID: ""}})
		wantCode(t, err, trust.EINVALID)
		if got := rules(find()); got != "dependencies:D" {
			t.Fatalf("a refused replacement changed the findings: %s", got)
		}
	})
	t.Run("CutLongText", func(t *testing.T) {
		f := finding("LONG")
		f.Evidence = strings.Repeat("é", trust.MaxFindingEvidence) // 2 bytes each
		f.Why = strings.Repeat("w", 3*trust.MaxFindingWhy)
		must("behavior", f)
		var got *trust.SubmissionFinding
		for _, x := range find().Findings {
			if x.Source == "behavior" {
				got = x
			}
		}
		if len(got.Evidence) > trust.MaxFindingEvidence || !utf8.ValidString(got.Evidence) || !strings.HasSuffix(got.Evidence, "…") {
			t.Fatalf("evidence of %d bytes, valid=%v", len(got.Evidence), utf8.ValidString(got.Evidence))
		} else if len(got.Why) > trust.MaxFindingWhy {
			t.Fatalf("why of %d bytes", len(got.Why))
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		fs := make([]*trust.SubmissionFinding, trust.MaxSubmissionFindings+1)
		for i := range fs {
			fs[i] = finding("X")
		}
		wantCode(t, s.ReplaceSubmissionFindings(t.Context(), sub.ID, "static", fs), trust.EINVALID)
	})
	for name, tc := range map[string]struct {
		source string
		f      *trust.SubmissionFinding
	}{
		"ErrSource":         {"Static Analysis", finding("A")},
		"ErrSourceMismatch": {"static", &trust.SubmissionFinding{Source: "image", RuleID: "A"}},
		"ErrNil":            {"static", nil},
		"ErrLine":           {"static", &trust.SubmissionFinding{RuleID: "A", Line: -1}},
		"ErrSeverity":       {"static", &trust.SubmissionFinding{RuleID: "A", Severity: "hi\ngh"}},
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, s.ReplaceSubmissionFindings(t.Context(), sub.ID, tc.source, []*trust.SubmissionFinding{tc.f}), trust.EINVALID)
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		wantCode(t, s.ReplaceSubmissionFindings(t.Context(), "sub_none", "static", nil), trust.ENOTFOUND)
	})
}

func TestSubmissionService_FindSubmissions(t *testing.T) {
	db, clock := MustOpenDB(t)
	s := sqlite.NewSubmissionService(db)
	MustCreateVerifiedPublisher(t, db, "acme")
	MustCreateVerifiedPublisher(t, db, "other")
	var ids []string // in creation order
	for i := range 5 {
		publisher := map[bool]string{true: "acme", false: "other"}[i%2 == 0]
		sub := MustCreateSubmission(t, db, publisher, fmt.Sprint(i))
		if i == 4 {
			MustMoveTo(t, db, sub.ID, trust.SubmissionFlagged)
		}
		ids = append(ids, sub.ID)
		clock.Add(1e6)
	}
	if err := s.ReplaceSubmissionFindings(t.Context(), ids[0], "static", []*trust.SubmissionFinding{{RuleID: "A"}}); err != nil {
		t.Fatal(err)
	}
	idsOf := func(subs []*trust.Submission) string {
		var out []string
		for _, sub := range subs {
			out = append(out, sub.ID)
		}
		return strings.Join(out, ",")
	}
	join := func(ids ...string) string { return strings.Join(ids, ",") }
	for _, tc := range []struct {
		name string
		f    trust.SubmissionFilter
		want string
	}{
		{"All", trust.SubmissionFilter{}, join(ids[4], ids[3], ids[2], ids[1], ids[0])},
		{"Publisher", trust.SubmissionFilter{Publisher: "acme"}, join(ids[4], ids[2], ids[0])},
		{"State", trust.SubmissionFilter{State: trust.SubmissionFlagged}, join(ids[4])},
		{"PublisherAndState", trust.SubmissionFilter{Publisher: "other", State: trust.SubmissionFlagged}, ""},
		{"Page", trust.SubmissionFilter{Limit: 2, Offset: 1}, join(ids[3], ids[2])},
		{"PastTheEnd", trust.SubmissionFilter{Offset: 10}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subs, err := s.FindSubmissions(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			} else if got := idsOf(subs); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			for _, sub := range subs {
				if sub.Findings != nil {
					t.Fatal("a listing carries findings")
				}
			}
		})
	}
	for name, f := range map[string]trust.SubmissionFilter{
		"ErrLimit": {Limit: 501}, "ErrNegativeLimit": {Limit: -1}, "ErrOffset": {Offset: -1},
		"ErrState": {State: "published"}, "ErrPublisher": {Publisher: "a b"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.FindSubmissions(t.Context(), f)
			wantCode(t, err, trust.EINVALID)
		})
	}
}

func TestSubmissionService_Notifications(t *testing.T) {
	db, clock := MustOpenDB(t)
	s := sqlite.NewSubmissionService(db)
	MustCreateVerifiedPublisher(t, db, "acme")
	MustCreateVerifiedPublisher(t, db, "other")
	one := MustCreateSubmission(t, db, "acme", "one")
	two := MustCreateSubmission(t, db, "acme", "two")
	body := []byte(`{"submission_id":"x","decision":"reject"}`)
	create := func(subID, kind string) *trust.Notification {
		t.Helper()
		n, err := s.CreateNotification(t.Context(), &trust.Notification{SubmissionID: subID, Kind: kind, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		clock.Add(1e6)
		return n
	}

	first := create(one.ID, trust.NotificationSubmissionRejected)
	if !strings.HasPrefix(first.ID, "ntf_") || first.Publisher != "acme" || !bytes.Equal(first.Body, body) {
		t.Fatalf("notification %+v", first)
	}
	t.Run("OnceperSubmissionAndKind", func(t *testing.T) {
		again := create(one.ID, trust.NotificationSubmissionRejected)
		if again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("again = %+v, want the first one", again)
		}
	})
	second := create(two.ID, trust.NotificationSubmissionRejected)
	third := create(one.ID, "submission.signed")

	pending := func(max int) string {
		t.Helper()
		ns, err := s.FindPendingNotifications(t.Context(), max, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, n := range ns {
			ids = append(ids, n.ID)
		}
		return strings.Join(ids, ",")
	}
	t.Run("Pending", func(t *testing.T) {
		if got, want := pending(3), strings.Join([]string{first.ID, second.ID, third.ID}, ","); got != want {
			t.Fatalf("pending %s, want %s (oldest first)", got, want)
		}
		// first fails twice, second is delivered.
		for range 2 {
			if err := s.MarkNotificationAttempt(t.Context(), first.ID, false, "receiver answered 500"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MarkNotificationAttempt(t.Context(), second.ID, true, ""); err != nil {
			t.Fatal(err)
		}
		if got, want := pending(3), strings.Join([]string{first.ID, third.ID}, ","); got != want {
			t.Fatalf("pending %s, want %s", got, want)
		}
		if got, want := pending(2), third.ID; got != want {
			t.Fatalf("pending with 2 attempts %s, want %s", got, want)
		}
		ns, err := s.FindPendingNotifications(t.Context(), 3, 1)
		if err != nil {
			t.Fatal(err)
		} else if len(ns) != 1 || ns[0].Attempts != 2 || ns[0].LastError != "receiver answered 500" || ns[0].DeliveredAt != nil {
			t.Fatalf("pending %+v", ns)
		}
	})
	for name, n := range map[string]*trust.Notification{
		"ErrNil":       nil,
		"ErrKind":      {SubmissionID: one.ID, Kind: "Rejected!", Body: body},
		"ErrBody":      {SubmissionID: one.ID, Kind: "x.y", Body: []byte("not json")},
		"ErrBodyLarge": {SubmissionID: one.ID, Kind: "x.y", Body: []byte(`"` + strings.Repeat("a", trust.MaxNotificationBody) + `"`)},
		"ErrPublisher": {SubmissionID: one.ID, Publisher: "other", Kind: "x.y", Body: body},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.CreateNotification(t.Context(), n)
			wantCode(t, err, trust.EINVALID)
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.CreateNotification(t.Context(), &trust.Notification{SubmissionID: "sub_none", Kind: "x.y", Body: body})
		wantCode(t, err, trust.ENOTFOUND)
		wantCode(t, s.MarkNotificationAttempt(t.Context(), "ntf_none", true, ""), trust.ENOTFOUND)
	})
	t.Run("ErrMaxAttempts", func(t *testing.T) {
		_, err := s.FindPendingNotifications(t.Context(), 0, 0)
		wantCode(t, err, trust.EINVALID)
	})
}

// BenchmarkSubmissionService measures the calls the pipeline makes on every
// step: a compare-and-set move and a read of the submission with findings.
func BenchmarkSubmissionService(b *testing.B) {
	db, _ := MustOpenDB(b)
	s := sqlite.NewSubmissionService(db)
	MustCreateVerifiedPublisher(b, db, "acme")
	b.Run("CreateSubmission", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			MustCreateSubmission(b, db, "acme", fmt.Sprint("bench-create-", i))
		}
	})
	b.Run("TransitionSubmission", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			sub := MustCreateSubmission(b, db, "acme", fmt.Sprint("bench-move-", i))
			b.StartTimer()
			if _, err := s.TransitionSubmission(b.Context(), sub.ID, trust.SubmissionTransition{From: "received", To: "extracted"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	sub := MustCreateSubmission(b, db, "acme", "bench-find")
	fs := make([]*trust.SubmissionFinding, 20)
	for i := range fs {
		fs[i] = &trust.SubmissionFinding{RuleID: fmt.Sprint("R", i), Evidence: "curl x | sh", Why: "download piped to a shell"}
	}
	if err := s.ReplaceSubmissionFindings(b.Context(), sub.ID, "static", fs); err != nil {
		b.Fatal(err)
	}
	b.Run("FindSubmissionByID20Findings", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.FindSubmissionByID(b.Context(), sub.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzSubmissionFindingText checks the cutting of a finding's evidence: what
// is stored is valid UTF-8 within the cap, and text that was already both is
// stored unchanged.
func FuzzSubmissionFindingText(f *testing.F) {
	for _, seed := range []string{"", "curl x | sh", strings.Repeat("é", trust.MaxFindingEvidence), "\xff\xfe bad bytes",
		strings.Repeat("a", trust.MaxFindingEvidence-1) + "€", strings.Repeat("a", trust.MaxFindingEvidence)} {
		f.Add(seed)
	}
	db, _ := MustOpenDB(f)
	s := sqlite.NewSubmissionService(db)
	MustCreateVerifiedPublisher(f, db, "acme")
	sub := MustCreateSubmission(f, db, "acme", "fuzz")
	f.Fuzz(func(t *testing.T, text string) {
		if err := s.ReplaceSubmissionFindings(t.Context(), sub.ID, "static", []*trust.SubmissionFinding{{RuleID: "R", Evidence: text}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindSubmissionByID(t.Context(), sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored := got.Findings[0].Evidence
		if !utf8.ValidString(stored) || len(stored) > trust.MaxFindingEvidence {
			t.Fatalf("stored %d bytes, valid=%v", len(stored), utf8.ValidString(stored))
		} else if utf8.ValidString(text) && len(text) <= trust.MaxFindingEvidence && stored != text {
			t.Fatalf("stored %q, want %q unchanged", stored, text)
		}
	})
}
