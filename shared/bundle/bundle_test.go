package bundle_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/bundle"
	"github.com/openagents/trust/shared/trust"
)

type extractCase struct {
	name   string
	format bundle.Format
	data   func(testing.TB) []byte
	lim    bundle.Limits
	want   bundle.Rule // "" for success
}

func tarGz(ents ...tent) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return MustTar(tb, true, ents...) }
}

func plainTar(ents ...tent) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return MustTar(tb, false, ents...) }
}

func zipOf(ents ...zent) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return MustZip(tb, ents...) }
}

func manyTar(n int) func(testing.TB) []byte {
	var ents []tent
	for i := range n {
		ents = append(ents, tent{name: "f" + string(rune('a'+i)), body: "x"})
	}
	return tarGz(ents...)
}

func manyZip(n int) func(testing.TB) []byte {
	var ents []zent
	for i := range n {
		ents = append(ents, zent{name: "f" + string(rune('a'+i)), body: "x"})
	}
	return zipOf(ents...)
}

var (
	gz, tr, zp, auto = bundle.FormatTarGz, bundle.FormatTar, bundle.FormatZip, bundle.FormatAuto
	okTree           = []tent{
		{name: "skill/", typ: tar.TypeDir, mode: 0o755},
		{name: "skill/SKILL.md", body: "---\nname: x\n---\n"},
		{name: "skill/scripts/run.sh", body: "#!/bin/sh\necho hi\n", mode: 0o755},
	}
	okZip = []zent{
		{name: "skill/", mode: fs.ModeDir | 0o755},
		{name: "skill/SKILL.md", body: "---\nname: x\n---\n", method: zip.Deflate},
		{name: "skill/scripts/run.sh", body: "#!/bin/sh\necho hi\n", mode: 0o755},
	}
)

var extractCases = []extractCase{
	{"OK/TarGz", gz, tarGz(okTree...), bundle.Limits{}, ""},
	{"OK/Tar", tr, plainTar(okTree...), bundle.Limits{}, ""},
	{"OK/Zip", zp, zipOf(okZip...), bundle.Limits{}, ""},
	{"OK/AutoTarGz", auto, tarGz(okTree...), bundle.Limits{}, ""},
	{"OK/AutoTar", auto, plainTar(okTree...), bundle.Limits{}, ""},
	{"OK/AutoZip", auto, zipOf(okZip...), bundle.Limits{}, ""},
	{"OK/DotSlash", gz, tarGz(tent{name: "./", typ: tar.TypeDir}, tent{name: "./a", body: "a"}), bundle.Limits{}, ""},
	{"OK/DirAfterContents", gz, tarGz(tent{name: "d/a", body: "a"}, tent{name: "d/", typ: tar.TypeDir}), bundle.Limits{}, ""},
	{"OK/NestedArchiveNotExpanded", gz, func(tb testing.TB) []byte {
		return MustTar(tb, true, tent{name: "inner.tar.gz", body: string(MustTar(tb, true, tent{name: "../evil", body: "x"}))})
	}, bundle.Limits{}, ""},
	{"OK/EmptyZip", zp, zipOf(), bundle.Limits{}, ""},

	{"ErrFormat", auto, func(testing.TB) []byte { return []byte("hello, I am a text file") }, bundle.Limits{}, bundle.RuleFormat},
	{"ErrPathEscape", gz, tarGz(tent{name: "../x", body: "x"}), bundle.Limits{}, bundle.RulePathEscape},
	{"ErrPathEscapeInner", gz, tarGz(tent{name: "a/../../x", body: "x"}), bundle.Limits{}, bundle.RulePathEscape},
	{"ErrPathEscapeZip", zp, zipOf(zent{name: "../x", body: "x"}), bundle.Limits{}, bundle.RulePathEscape},
	{"ErrPathAbsolute", gz, tarGz(tent{name: "/etc/passwd", body: "x"}), bundle.Limits{}, bundle.RulePathAbsolute},
	{"ErrPathAbsoluteZip", zp, zipOf(zent{name: "/etc/passwd", body: "x"}), bundle.Limits{}, bundle.RulePathAbsolute},
	{"ErrPathDrive", zp, zipOf(zent{name: "C:/x", body: "x"}), bundle.Limits{}, bundle.RulePathAbsolute},
	{"ErrPathBackslash", zp, zipOf(zent{name: `..\x`, body: "x"}), bundle.Limits{}, bundle.RulePathInvalid},
	{"ErrPathControl", gz, tarGz(tent{name: "a\x01b", body: "x"}), bundle.Limits{}, bundle.RulePathInvalid},
	{"ErrPathUTF8", zp, zipOf(zent{name: "a\xffb", body: "x"}), bundle.Limits{}, bundle.RulePathInvalid},
	{"ErrPathLength", gz, tarGz(tent{name: strings.Repeat("a", 300), body: "x"}), bundle.Limits{}, bundle.RulePathLength},
	{"ErrPathDepth", gz, tarGz(tent{name: strings.Repeat("a/", 40) + "x", body: "x"}), bundle.Limits{}, bundle.RulePathDepth},
	{"ErrSymlink", gz, tarGz(tent{name: "l", typ: tar.TypeSymlink, link: "/etc/passwd"}), bundle.Limits{}, bundle.RuleSymlink},
	{"ErrSymlinkInside", gz, tarGz(tent{name: "a", body: "x"}, tent{name: "l", typ: tar.TypeSymlink, link: "a"}), bundle.Limits{}, bundle.RuleSymlink},
	{"ErrSymlinkZip", zp, zipOf(zent{name: "l", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}), bundle.Limits{}, bundle.RuleSymlink},
	{"ErrHardlink", gz, tarGz(tent{name: "a", body: "x"}, tent{name: "h", typ: tar.TypeLink, link: "a"}), bundle.Limits{}, bundle.RuleHardlink},
	{"ErrDevice", gz, tarGz(tent{name: "null", typ: tar.TypeChar}), bundle.Limits{}, bundle.RuleSpecialFile},
	{"ErrFIFO", gz, tarGz(tent{name: "p", typ: tar.TypeFifo}), bundle.Limits{}, bundle.RuleSpecialFile},
	{"ErrDeviceZip", zp, zipOf(zent{name: "null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}), bundle.Limits{}, bundle.RuleSpecialFile},
	{"ErrSetuid", gz, tarGz(tent{name: "su", body: "x", mode: 0o4755}), bundle.Limits{}, bundle.RuleSetuid},
	{"ErrSetuidZip", zp, zipOf(zent{name: "su", body: "x", mode: fs.ModeSetuid | 0o755}), bundle.Limits{}, bundle.RuleSetuid},
	{"ErrFileCount", gz, manyTar(5), bundle.Limits{MaxFiles: 3}, bundle.RuleFileCount},
	{"ErrFileCountZip", zp, manyZip(5), bundle.Limits{MaxFiles: 3}, bundle.RuleFileCount},
	{"ErrExpandedSize", gz, tarGz(tent{name: "a", body: random(600)}, tent{name: "b", body: random(600)}), bundle.Limits{MaxExpanded: 1000}, bundle.RuleExpandedSize},
	{"ErrExpandedSizeZip", zp, zipOf(zent{name: "a", body: random(600)}, zent{name: "b", body: random(600)}), bundle.Limits{MaxExpanded: 1000}, bundle.RuleExpandedSize},
	{"ErrFileSize", gz, tarGz(tent{name: "a", body: random(2000)}), bundle.Limits{MaxFileSize: 1000}, bundle.RuleFileSize},
	{"ErrCompressedSize", gz, tarGz(tent{name: "a", body: random(2000)}), bundle.Limits{MaxCompressed: 1000}, bundle.RuleCompressedSize},
	{"ErrCompressedSizeZip", zp, zipOf(zent{name: "a", body: random(2000)}), bundle.Limits{MaxCompressed: 1000}, bundle.RuleCompressedSize},
	{"ErrRatioBomb", gz, tarGz(tent{name: "zeros", body: string(make([]byte, 100<<20))}), bundle.Limits{}, bundle.RuleRatio},
	{"ErrRatioBombZip", zp, zipOf(zent{name: "zeros", body: string(make([]byte, 20<<20)), method: zip.Deflate}), bundle.Limits{}, bundle.RuleRatio},
	{"ErrDuplicate", gz, tarGz(tent{name: "a", body: "1"}, tent{name: "a", body: "2"}), bundle.Limits{}, bundle.RuleDuplicate},
	{"ErrDuplicateDotSlash", gz, tarGz(tent{name: "a", body: "1"}, tent{name: "./a", body: "2"}), bundle.Limits{}, bundle.RuleDuplicate},
	{"ErrDuplicateZip", zp, zipOf(zent{name: "a", body: "1"}, zent{name: "a", body: "2"}), bundle.Limits{}, bundle.RuleDuplicate},
	{"ErrFileAsDir", gz, tarGz(tent{name: "a", body: "1"}, tent{name: "a/b", body: "2"}), bundle.Limits{}, bundle.RuleDuplicate},
	{"ErrDirAsFile", gz, tarGz(tent{name: "a/b", body: "1"}, tent{name: "a", body: "2"}), bundle.Limits{}, bundle.RuleDuplicate},
	{"ErrCaseDuplicate", gz, tarGz(tent{name: "README.md", body: "1"}, tent{name: "readme.md", body: "2"}), bundle.Limits{}, bundle.RuleCaseDuplicate},
	{"ErrCaseDuplicateDir", zp, zipOf(zent{name: "Dir/a", body: "1"}, zent{name: "dir/b", body: "2"}), bundle.Limits{}, bundle.RuleCaseDuplicate},
	{"ErrEncrypted", zp, zipOf(zent{name: "a", body: "secret", raw: true, flags: 0x1, usize: 6}), bundle.Limits{}, bundle.RuleEncrypted},
	{"ErrSizeLieSmaller", zp, zipOf(zent{name: "a", body: random(5000), raw: true, usize: 10}), bundle.Limits{}, bundle.RuleSizeMismatch},
	{"ErrSizeLieLarger", zp, zipOf(zent{name: "a", body: "short", raw: true, usize: 1 << 20}), bundle.Limits{}, bundle.RuleSizeMismatch},
	{"ErrCompressionMethod", zp, zipOf(zent{name: "a", body: "x", method: 99, raw: true, usize: 1}), bundle.Limits{}, bundle.RuleCompression},
	{"ErrTruncatedTarGz", gz, truncated(tarGz(tent{name: "a", body: random(5000)})), bundle.Limits{}, bundle.RuleCorrupt},
	{"ErrTruncatedTar", tr, truncated(plainTar(tent{name: "a", body: random(5000)})), bundle.Limits{}, bundle.RuleCorrupt},
	{"ErrTruncatedZip", zp, truncated(zipOf(zent{name: "a", body: random(5000)})), bundle.Limits{}, bundle.RuleCorrupt},
	{"ErrCorruptGzipChecksum", gz, func(tb testing.TB) []byte {
		b := MustTar(tb, true, tent{name: "a", body: "hello"})
		b[len(b)-6] ^= 0xff // CRC-32 in the gzip trailer
		return b
	}, bundle.Limits{}, bundle.RuleCorrupt},
	{"ErrGzipNotTar", gz, func(tb testing.TB) []byte {
		var buf bytes.Buffer
		w := gzipWriter(&buf)
		w.Write(bytes.Repeat([]byte("not a tar "), 100))
		w.Close()
		return buf.Bytes()
	}, bundle.Limits{}, bundle.RuleCorrupt},
}

func truncated(f func(testing.TB) []byte) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		b := f(tb)
		return b[:len(b)/2]
	}
}

func TestExtract(t *testing.T) {
	for _, tc := range extractCases {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "out")
			res, err := bundle.Extract(context.Background(), bytes.NewReader(tc.data(t)), tc.format, dst, tc.lim)
			if got := bundle.RuleOf(err); got != tc.want {
				t.Fatalf("rule: got %q, want %q (err %v)", got, tc.want, err)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.Compressed == 0 {
					t.Errorf("Compressed: got 0")
				}
				if got := MustEntries(t, parent); len(got) != 1 || got[0] != "out" {
					t.Errorf("parent holds %q, want only out", got)
				}
				return
			}
			if code := trust.ErrorCode(err); code != trust.EINVALID {
				t.Errorf("code: got %q, want %q", code, trust.EINVALID)
			}
			if msg := trust.ErrorMessage(err); !strings.Contains(msg, "(rule: "+string(tc.want)+")") || !strings.HasPrefix(msg, "archive refused: ") {
				t.Errorf("message %q does not name rule %q", msg, tc.want)
			}
			if got := MustEntries(t, parent); len(got) != 0 {
				t.Errorf("left behind: %q", got)
			}
		})
	}
}

func TestExtract_OKContents(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "out")
	res, err := bundle.Extract(context.Background(), bytes.NewReader(MustTar(t, true, okTree...)), bundle.FormatAuto, dst, bundle.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != bundle.FormatTarGz || res.Files != 2 || res.Dirs != 2 {
		t.Errorf("result: got %+v", res)
	}
	for p, want := range map[string]fs.FileMode{"skill": fs.ModeDir | 0o755, "skill/SKILL.md": 0o644, "skill/scripts/run.sh": 0o755, ".": fs.ModeDir | 0o755} {
		fi, err := os.Lstat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode got %v, want %v", p, fi.Mode(), want)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dst, "skill/scripts/run.sh"))
	if string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("run.sh: got %q", b)
	}
}

func TestExtract_ErrDestinationExists(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "out")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := bundle.Extract(context.Background(), bytes.NewReader(MustTar(t, true, okTree...)), gz, dst, bundle.Limits{})
	if code := trust.ErrorCode(err); code != trust.ECONFLICT {
		t.Fatalf("code: got %q, want %q (err %v)", code, trust.ECONFLICT, err)
	}
	if got := MustEntries(t, parent); len(got) != 1 {
		t.Errorf("parent holds %q", got)
	}
}

func TestExtract_Canceled(t *testing.T) {
	parent := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := bundle.Extract(ctx, bytes.NewReader(MustTar(t, true, okTree...)), gz, filepath.Join(parent, "out"), bundle.Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if got := MustEntries(t, parent); len(got) != 0 {
		t.Errorf("left behind: %q", got)
	}
}

func TestSweep(t *testing.T) {
	parent := t.TempDir()
	MustWriteTree(t, parent, map[string]string{
		bundle.TempPrefix + "old/a":   "x",
		bundle.TempPrefix + "new/a":   "x",
		bundle.TempPrefix + "old.zip": "x",
		"keep/a":                      "x",
	})
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{bundle.TempPrefix + "old", bundle.TempPrefix + "old.zip", "keep"} {
		if err := os.Chtimes(filepath.Join(parent, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	n, err := bundle.Sweep(parent, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("removed: got %d, want 2", n)
	}
	got := MustEntries(t, parent)
	if len(got) != 2 || got[0] != bundle.TempPrefix+"new" || got[1] != "keep" {
		t.Errorf("left: got %q", got)
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		head []byte
		want bundle.Format
	}{
		{"OK/TarGz", MustTar(t, true, okTree...), bundle.FormatTarGz},
		{"OK/Tar", MustTar(t, false, okTree...), bundle.FormatTar},
		{"OK/Zip", MustZip(t, okZip...), bundle.FormatZip},
		{"OK/EmptyZip", MustZip(t), bundle.FormatZip},
		{"Unknown/Text", []byte("#!/bin/sh\n"), bundle.FormatUnknown},
		{"Unknown/Empty", nil, bundle.FormatUnknown},
		{"Unknown/ShortTar", MustTar(t, false, okTree...)[:200], bundle.FormatUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bundle.DetectFormat(tc.head); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRuleTooLarge(t *testing.T) {
	if !bundle.RuleRatio.TooLarge() || bundle.RulePathEscape.TooLarge() {
		t.Error("TooLarge: ratio must be, path-escape must not be")
	}
}
