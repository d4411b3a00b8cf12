package oci

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/openagents/trust/shared/vuln"
)

// Package is one package installed in an image: its OSV ecosystem
// ("Debian:12", "Alpine:v3.20", "PyPI", "npm"), name, version and the file
// that records it. Match a list with vuln.DB.MatchPackages.
type Package = vuln.Package

// maxInventoryFile bounds one package database file read from an image.
const maxInventoryFile = 64 << 20

// Inventory lists the packages installed in img's flattened filesystem
// (mutate.Extract: later layers win, whiteouts delete): dpkg's
// var/lib/dpkg/status and status.d/, apk's lib/apk/db/installed, Python
// *.dist-info/METADATA and *.egg-info/PKG-INFO, and
// node_modules/<name>/package.json. Distribution packages take their
// ecosystem's release from etc/os-release. The list is sorted by ecosystem,
// name, version and path. It reads the image only; nothing is run.
func Inventory(img v1.Image) ([]Package, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var (
		pkgs      []Package
		dpkg, apk []Package // ecosystem set once os-release is known
		osRelease map[string]string
	)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read image filesystem: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		kind := inventoryKind(name)
		if kind == "" {
			continue
		}
		if h.Size > maxInventoryFile {
			return nil, fmt.Errorf("image file %s is %d bytes, more than the %d an inventory reads", name, h.Size, maxInventoryFile)
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxInventoryFile))
		if err != nil {
			return nil, fmt.Errorf("read image file %s: %w", name, err)
		}
		switch kind {
		case "os-release":
			osRelease = parseOSRelease(data)
		case "dpkg":
			dpkg = append(dpkg, parseDpkgStatus(name, data)...)
		case "apk":
			apk = append(apk, parseApkInstalled(name, data)...)
		case "python":
			if p, ok := parsePythonMetadata(name, data); ok {
				pkgs = append(pkgs, p)
			}
		case "npm":
			if p, ok := parseNodePackage(name, data); ok {
				pkgs = append(pkgs, p)
			}
		}
	}
	deb, alp := distroEcosystems(osRelease)
	for _, p := range dpkg {
		p.Ecosystem = deb
		pkgs = append(pkgs, p)
	}
	for _, p := range apk {
		p.Ecosystem = alp
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(i, j int) bool {
		a, b := pkgs[i], pkgs[j]
		if a.Ecosystem != b.Ecosystem {
			return a.Ecosystem < b.Ecosystem
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Path < b.Path
	})
	return pkgs, nil
}

// inventoryKind says which package database a path is, if any.
func inventoryKind(name string) string {
	dir, base := path.Split(name)
	switch {
	case name == "etc/os-release" || name == "usr/lib/os-release":
		return "os-release"
	case name == "var/lib/dpkg/status" || dir == "var/lib/dpkg/status.d/" && !strings.Contains(base, "."):
		return "dpkg"
	case name == "lib/apk/db/installed":
		return "apk"
	case base == "METADATA" && strings.HasSuffix(dir, ".dist-info/"), base == "PKG-INFO" && strings.HasSuffix(dir, ".egg-info/"):
		return "python"
	case base == "package.json" && nodePackageDir(dir):
		return "npm"
	}
	return ""
}

// nodePackageDir reports whether dir is node_modules/<name>/ or
// node_modules/@scope/<name>/ (not a package's own subfolder).
func nodePackageDir(dir string) bool {
	parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	n := len(parts)
	switch {
	case n >= 2 && parts[n-2] == "node_modules" && !strings.HasPrefix(parts[n-1], "@"):
		return true
	case n >= 3 && parts[n-3] == "node_modules" && strings.HasPrefix(parts[n-2], "@"):
		return true
	}
	return false
}

func parseOSRelease(data []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			m[k] = strings.Trim(v, `"'`)
		}
	}
	return m
}

// distroEcosystems names the OSV ecosystems of dpkg and apk packages:
// "Debian:12", "Ubuntu:22.04", "Alpine:v3.20"; without a release, the bare
// name (which matches every release's advisories).
func distroEcosystems(osr map[string]string) (deb, alp string) {
	deb, alp = vuln.Debian, vuln.Alpine
	id, ver := osr["ID"], osr["VERSION_ID"]
	switch id {
	case "debian":
		if ver != "" {
			deb = vuln.Debian + ":" + ver
		}
	case "ubuntu":
		deb = "Ubuntu"
		if ver != "" {
			deb += ":" + ver
		}
	case "alpine":
		if parts := strings.Split(ver, "."); len(parts) >= 2 {
			alp = vuln.Alpine + ":v" + parts[0] + "." + parts[1]
		}
	}
	return deb, alp
}

// paragraphs splits an RFC 822-style database into blank-line-separated
// records of "Key: value" fields (continuation lines are dropped).
func paragraphs(data []byte, sep string) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = map[string]string{}
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(line, sep); ok {
			if _, seen := cur[k]; !seen {
				cur[k] = strings.TrimSpace(v)
			}
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// parseDpkgStatus lists the installed packages of a dpkg status file.
func parseDpkgStatus(name string, data []byte) []Package {
	var out []Package
	for _, p := range paragraphs(data, ":") {
		st := p["Status"]
		if p["Package"] == "" || p["Version"] == "" || st != "" && !strings.HasSuffix(st, " installed") {
			continue
		}
		out = append(out, Package{Name: p["Package"], Version: p["Version"], Path: name})
	}
	return out
}

// parseApkInstalled lists apk's installed database (P: name, V: version).
func parseApkInstalled(name string, data []byte) []Package {
	var out []Package
	for _, p := range paragraphs(data, ":") {
		if p["P"] != "" && p["V"] != "" {
			out = append(out, Package{Name: p["P"], Version: p["V"], Path: name})
		}
	}
	return out
}

// parsePythonMetadata reads Name and Version from a core metadata file.
func parsePythonMetadata(name string, data []byte) (Package, bool) {
	ps := paragraphs(data, ":")
	if len(ps) == 0 || ps[0]["Name"] == "" || ps[0]["Version"] == "" {
		return Package{}, false
	}
	return Package{Ecosystem: vuln.PyPI, Name: ps[0]["Name"], Version: ps[0]["Version"], Path: name}, true
}

// parseNodePackage reads name and version from an installed package.json.
func parseNodePackage(name string, data []byte) (Package, bool) {
	var pj struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &pj) != nil || pj.Name == "" || pj.Version == "" {
		return Package{}, false
	}
	return Package{Ecosystem: vuln.Npm, Name: pj.Name, Version: pj.Version, Path: name}, true
}
