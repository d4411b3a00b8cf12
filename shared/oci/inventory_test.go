package oci_test

import (
	"archive/tar"
	"bytes"
	"io"
	"reflect"
	"sort"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/openagents/trust/shared/oci"
	"github.com/openagents/trust/shared/vuln"
)

// file is one tar entry of a test layer; an empty body with a name ending
// in "/" is a directory.
type file struct{ name, body string }

// MustLayer returns an OCI layer holding files, in order.
func MustLayer(tb testing.TB, files ...file) v1.Layer {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(0, 0)}
		if f.name[len(f.name)-1] == '/' {
			h = &tar.Header{Typeflag: tar.TypeDir, Name: f.name, Mode: 0o755, ModTime: time.Unix(0, 0)}
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// MustImage stacks layers on an empty OCI image.
func MustImage(tb testing.TB, layers ...v1.Layer) v1.Image {
	tb.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// MustInventory runs oci.Inventory.
func MustInventory(tb testing.TB, img v1.Image) []oci.Package {
	tb.Helper()
	pkgs, err := oci.Inventory(img)
	if err != nil {
		tb.Fatalf("Inventory: %v", err)
	}
	return pkgs
}

const dpkgStatus = `Package: libexample1
Status: install ok installed
Priority: optional
Version: 1:2.4.0-3
Description: an example library
 with a continuation line: Version: 9.9

Package: removed-pkg
Status: deinstall ok config-files
Version: 1.0-1

Package: coreutils
Status: install ok installed
Version: 9.1-1
`

func TestInventory_Debian(t *testing.T) {
	img := MustImage(t,
		MustLayer(t,
			file{"etc/", ""},
			file{"etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"},
			file{"var/lib/dpkg/status", dpkgStatus},
			file{"var/lib/dpkg/status.d/tzdata", "Package: tzdata\nVersion: 2024a-0+deb12u1\n"},
			file{"var/lib/dpkg/status.d/tzdata.md5sums", "not a status file\n"},
		),
		MustLayer(t,
			file{"usr/lib/python3/dist-packages/requests-2.2.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: requests\nVersion: 2.2.1\n\nRequests is an HTTP library. Version: 0\n"},
			file{"usr/local/lib/python3.11/site-packages/oatest_templates-1.5.egg-info/PKG-INFO", "Metadata-Version: 1.1\nName: oatest-templates\nVersion: 1.5\n"},
			file{"usr/lib/python3/dist-packages/gone-1.0.dist-info/METADATA", "Name: gone\nVersion: 1.0\n"},
			file{"usr/lib/python3/dist-packages/broken-1.0.dist-info/METADATA", "no headers here\n"},
		),
		MustLayer(t,
			file{"app/node_modules/lodash/package.json", `{"name": "lodash", "version": "4.17.20"}`},
			file{"app/node_modules/lodash/fp/package.json", `{"name": "not-a-package", "version": "0.0.0"}`},
			file{"app/node_modules/@oatest/colour-utils/package.json", `{"name": "@oatest/colour-utils", "version": "1.0.0"}`},
			file{"app/node_modules/a/node_modules/b/package.json", `{"name": "b", "version": "2.0.0"}`},
			file{"app/package.json", `{"name": "app", "version": "1.0.0"}`},
			// A whiteout removes a package installed by an earlier layer.
			file{"usr/lib/python3/dist-packages/.wh.gone-1.0.dist-info", ""},
		),
	)
	want := []oci.Package{
		{Ecosystem: "Debian:12", Name: "coreutils", Version: "9.1-1", Path: "var/lib/dpkg/status"},
		{Ecosystem: "Debian:12", Name: "libexample1", Version: "1:2.4.0-3", Path: "var/lib/dpkg/status"},
		{Ecosystem: "Debian:12", Name: "tzdata", Version: "2024a-0+deb12u1", Path: "var/lib/dpkg/status.d/tzdata"},
		{Ecosystem: "PyPI", Name: "oatest-templates", Version: "1.5", Path: "usr/local/lib/python3.11/site-packages/oatest_templates-1.5.egg-info/PKG-INFO"},
		{Ecosystem: "PyPI", Name: "requests", Version: "2.2.1", Path: "usr/lib/python3/dist-packages/requests-2.2.1.dist-info/METADATA"},
		{Ecosystem: "npm", Name: "@oatest/colour-utils", Version: "1.0.0", Path: "app/node_modules/@oatest/colour-utils/package.json"},
		{Ecosystem: "npm", Name: "b", Version: "2.0.0", Path: "app/node_modules/a/node_modules/b/package.json"},
		{Ecosystem: "npm", Name: "lodash", Version: "4.17.20", Path: "app/node_modules/lodash/package.json"},
	}
	got := MustInventory(t, img)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Inventory =\n%+v\nwant\n%+v", got, want)
	}

	db, err := vuln.Load("../../testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	var matched []string
	for _, m := range db.MatchPackages(got) {
		matched = append(matched, m.Package.Name+"@"+m.Package.Version+" "+m.Advisory.ID)
	}
	sort.Strings(matched)
	wantMatched := []string{
		"@oatest/colour-utils@1.0.0 MAL-2024-9101",
		"libexample1@1:2.4.0-3 OATEST-2024-0201",
		"lodash@4.17.20 GHSA-35jh-r3h4-6jhm",
		"oatest-templates@1.5 OATEST-2024-0001",
		"requests@2.2.1 PYSEC-2014-13",
	}
	if !reflect.DeepEqual(matched, wantMatched) {
		t.Errorf("MatchPackages =\n%q\nwant\n%q", matched, wantMatched)
	}
}

func TestInventory_Alpine(t *testing.T) {
	img := MustImage(t, MustLayer(t,
		file{"etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n"},
		file{"lib/apk/db/installed", "C:Q1abc=\nP:apkexample\nV:1.36.1-r15\nA:x86_64\n\nP:musl\nV:1.2.5-r0\n"},
	))
	want := []oci.Package{
		{Ecosystem: "Alpine:v3.20", Name: "apkexample", Version: "1.36.1-r15", Path: "lib/apk/db/installed"},
		{Ecosystem: "Alpine:v3.20", Name: "musl", Version: "1.2.5-r0", Path: "lib/apk/db/installed"},
	}
	if got := MustInventory(t, img); !reflect.DeepEqual(got, want) {
		t.Errorf("Inventory =\n%+v\nwant\n%+v", got, want)
	}
}

func TestInventory_NoRelease(t *testing.T) {
	img := MustImage(t, MustLayer(t, file{"var/lib/dpkg/status", "Package: libexample1\nStatus: install ok installed\nVersion: 1:2.4.0-3\n"}))
	got := MustInventory(t, img)
	if len(got) != 1 || got[0].Ecosystem != vuln.Debian {
		t.Fatalf("Inventory = %+v, want one Debian package without a release", got)
	}
	db, err := vuln.Load("../../testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	if m := db.MatchPackages(got); len(m) != 1 {
		t.Errorf("MatchPackages = %+v, want the Debian:12 advisory matched by the bare ecosystem", m)
	}
}

// TestInventory_SkillImage: the built skill image on the test base holds no
// package database: an empty inventory, not an error.
func TestInventory_SkillImage(t *testing.T) {
	img := MustBuild(t, MustLoadBase(t), MustSkill(t, false, 0o644, time.Unix(0, 0)), opts)
	if got := MustInventory(t, img); len(got) != 0 {
		t.Errorf("Inventory = %+v, want none", got)
	}
}

func BenchmarkInventory(b *testing.B) {
	var files []file
	for i := range 500 {
		files = append(files, file{name: "usr/lib/python3/dist-packages/p" + string(rune('a'+i%26)) + "-" + string(rune('a'+i/26)) + ".dist-info/METADATA", body: "Name: p\nVersion: 1.0\n"})
	}
	img := MustImage(b, MustLayer(b, files...))
	for b.Loop() {
		MustInventory(b, img)
	}
}
