package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
)

// vendorDir holds libraries vendored from their published packages
// (scripts/vendor-uplot.sh), served as they are.
const vendorDir = "assets/vendor/"

// vendorMeta: a vendored library's files that no module loads (its
// licence, type declarations for tsc, the VERSION file of sums).
func vendorMeta(p string) bool {
	if !strings.HasPrefix(p, vendorDir) {
		return false
	}
	ext := path.Ext(p)
	return ext != ".js" && ext != ".css" || strings.HasSuffix(p, ".d.ts")
}

// TestVendoredUPlot: the vendored uPlot is exactly what
// scripts/vendor-uplot.sh wrote from the pinned npm package (each file's
// sha256 in VERSION, no file unlisted), carries its MIT licence, and the
// module is the version VERSION names.
func TestVendoredUPlot(t *testing.T) {
	const dir = vendorDir + "uplot/"
	files := readAll(t)
	ver, ok := files[dir+"VERSION"]
	if !ok {
		t.Fatal(dir + "VERSION is missing: run scripts/vendor-uplot.sh")
	}
	lines := strings.Split(strings.TrimSpace(ver), "\n")
	version, ok := strings.CutPrefix(lines[0], "uplot ")
	if !ok || len(lines) < 3 || !strings.HasPrefix(lines[1], "package uplot-"+version+".tgz sha512-") {
		t.Fatalf("VERSION does not name the version and the package's integrity:\n%s", ver)
	}
	var listed []string
	for _, l := range lines[2:] {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("VERSION line %q is not `sha256  file`", l)
		}
		listed = append(listed, name)
		b, ok := files[dir+name]
		if !ok {
			t.Errorf("%s is listed in VERSION but not embedded", name)
			continue
		}
		got := sha256.Sum256([]byte(b))
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, VERSION says %s: changed by hand? run scripts/vendor-uplot.sh", name, got, sum)
		}
	}
	err := fs.WalkDir(Static(), strings.TrimSuffix(dir, "/"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Base(p) != "VERSION" && !slices.Contains(listed, path.Base(p)) {
			t.Errorf("%s is embedded but VERSION does not list it", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"LICENSE", "uPlot.esm.js", "uPlot.min.css", "uPlot.esm.d.ts"} {
		if !slices.Contains(listed, want) {
			t.Errorf("VERSION does not list %s", want)
		}
	}
	if l := files[dir+"LICENSE"]; !strings.Contains(l, "The MIT License") || !strings.Contains(l, "Leon Sorokin") {
		t.Errorf("LICENSE is not uPlot's MIT licence:\n%s", l)
	}
	if js := files[dir+"uPlot.esm.js"]; !strings.Contains(js[:min(len(js), 400)], "(v"+version+")") {
		t.Errorf("uPlot.esm.js's header does not name version %s", version)
	}
}
