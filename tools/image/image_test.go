package main

import (
	"archive/tar"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageDir is the output of `make image` (BERTH_IMAGE_DIR), or a build of
// the image made here for the test.
func imageDir(t *testing.T) (dir, version string) {
	t.Helper()
	if d := os.Getenv("BERTH_IMAGE_DIR"); d != "" {
		return d, os.Getenv("BERTH_IMAGE_VERSION")
	}
	dir, version = t.TempDir(), "v0.0.0-imagetest"
	err := Build(Options{Repo: "../..", Out: dir, GoFlags: []string{"-trimpath"},
		LDFlags: "-s -w -X main.version=" + version + " -X main.commit=0123abc -X main.date=2026-01-02T03:04:05Z",
		Version: version, Revision: "0123abc", License: "NOASSERTION", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		Certs:     certFile, Zoneinfo: zoneDir})
	if err != nil {
		t.Fatal(err)
	}
	return dir, version
}

// TestImage opens the image with go-containerregistry's layout reader: one
// OCI index of linux/amd64 and linux/arm64, each config running berth as
// 65532:65532 from /data (a volume) with the OCI labels; the filesystem has
// berth, CA certificates and tzdata but no shell; the amd64 berth taken out
// of its layer runs (`berth version`) and is static; the arm64 one is an
// aarch64 ELF. The tarball holds the same layout.
func TestImage(t *testing.T) {
	dir, version := imageDir(t)
	lp, err := layout.FromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("layout index: %+v, want one OCI image index", tm.Manifests)
	}
	if version != "" && tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != version {
		t.Errorf("ref.name %q, want %q", tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"], version)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	platforms := map[string]v1.Hash{}
	for _, m := range im.Manifests {
		if m.Platform == nil || m.MediaType != types.OCIManifestSchema1 {
			t.Fatalf("manifest %+v: want an OCI manifest with a platform", m)
		}
		platforms[m.Platform.OS+"/"+m.Platform.Architecture] = m.Digest
	}
	if len(platforms) != 2 || platforms["linux/amd64"] == (v1.Hash{}) || platforms["linux/arm64"] == (v1.Hash{}) {
		t.Fatalf("platforms %v, want linux/amd64 and linux/arm64", platforms)
	}
	for plat, h := range platforms {
		img, err := idx.Image(h)
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, plat, img, version)
		files := extract(t, img)
		checkFiles(t, plat, files)
		bin := filepath.Join(t.TempDir(), "berth")
		if err := os.WriteFile(bin, files[binPath].data, 0o700); err != nil { // #nosec G306 -- the binary under test
			t.Fatal(err)
		}
		checkBinary(t, plat, bin, version)
	}
	checkTarball(t, filepath.Join(dir, "berth-image.oci.tar"))
	if os.Getenv("BERTH_IMAGE_DIR") != "" { // make image writes the SBOM beside the image
		checkSBOM(t, filepath.Join(dir, "berth.cdx.json"))
	}
}

// checkSBOM: a CycloneDX document whose main component is berth's module
// and whose components are the modules linked into the binary.
func checkSBOM(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path) // #nosec G304 -- the SBOM under test
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range bom.Components {
		names[c.Name] = true
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Name != "github.com/berthhq/berth" ||
		!names["github.com/spf13/cobra"] || !names["k8s.io/client-go"] || names["github.com/google/go-containerregistry"] {
		t.Errorf("SBOM: format %q, main %q, %d components (cobra %v, client-go %v)", bom.BOMFormat,
			bom.Metadata.Component.Name, len(bom.Components), names["github.com/spf13/cobra"], names["k8s.io/client-go"])
	}
}

func checkConfig(t *testing.T, plat string, img v1.Image, version string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS+"/"+cf.Architecture != plat {
		t.Errorf("%s: config says %s/%s", plat, cf.OS, cf.Architecture)
	}
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != binPath || c.WorkingDir != dataDir {
		t.Errorf("%s: user %q entrypoint %q workdir %q", plat, c.User, c.Entrypoint, c.WorkingDir)
	}
	if _, ok := c.Volumes[dataDir]; !ok {
		t.Errorf("%s: volumes %v, want %s", plat, c.Volumes, dataDir)
	}
	if strings.Join(c.Cmd, " ") != "serve --listen :8080 --data-dir /data" {
		t.Errorf("%s: cmd %q", plat, c.Cmd)
	}
	for _, l := range []string{"source", "revision", "version", "licenses", "created"} {
		if c.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("%s: label org.opencontainers.image.%s missing: %v", plat, l, c.Labels)
		}
	}
	if version != "" && c.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("%s: version label %q", plat, c.Labels["org.opencontainers.image.version"])
	}
}

type file struct {
	hdr  *tar.Header
	data []byte
}

// extract flattens the image's layers (go-containerregistry's mutate.Extract).
func extract(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]file{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimSuffix(h.Name, "/")] = file{h, data}
	}
	return files
}

func checkFiles(t *testing.T, plat string, files map[string]file) {
	t.Helper()
	for name := range files {
		base := filepath.Base(name)
		if base == "sh" || base == "bash" || base == "busybox" || strings.HasPrefix(name, "/bin") || strings.HasPrefix(name, "/sbin") {
			t.Errorf("%s: the image has %s: no shell wanted", plat, name)
		}
	}
	certs := files[certFile]
	if !strings.Contains(string(certs.data), "BEGIN CERTIFICATE") {
		t.Errorf("%s: %s holds no certificate", plat, certFile)
	}
	if z := files[zoneDir+"/Europe/Paris"]; !strings.HasPrefix(string(z.data), "TZif") && z.hdr == nil {
		t.Errorf("%s: no tzdata for Europe/Paris", plat)
	}
	if d := files[dataDir]; d.hdr == nil || d.hdr.Uid != nonroot || d.hdr.Gid != nonroot || d.hdr.Typeflag != tar.TypeDir {
		t.Errorf("%s: %s is not a directory owned by 65532: %+v", plat, dataDir, d.hdr)
	}
	if b := files[binPath]; b.hdr == nil || b.hdr.Mode&0o111 == 0 || b.hdr.Uid != 0 {
		t.Errorf("%s: %s missing, not executable or not root's: %+v", plat, binPath, b.hdr)
	}
	if !strings.Contains(string(files["/etc/passwd"].data), "nonroot:x:65532:65532:") {
		t.Errorf("%s: /etc/passwd has no nonroot user", plat)
	}
}

func checkBinary(t *testing.T, plat, bin, version string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: berth is dynamically linked", plat)
		}
	}
	want := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}[plat]
	if f.Machine != want {
		t.Errorf("%s: berth is for %v", plat, f.Machine)
	}
	if plat != "linux/amd64" {
		return
	}
	out, err := exec.Command(bin, "version").CombinedOutput() // #nosec G204 -- the binary under test
	if err != nil {
		t.Fatalf("berth version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "berth ") || (version != "" && !strings.Contains(string(out), version)) ||
		strings.Contains(string(out), "commit: unknown") {
		t.Errorf("berth version from the image: %s", out)
	}
}

// checkTarball: the archive lists the layout's index.json, oci-layout and blobs.
func checkTarball(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path) // #nosec G304 -- the tarball under test
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	names := map[string]bool{}
	blobs := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
		if strings.HasPrefix(h.Name, "blobs/sha256/") && h.Typeflag == tar.TypeReg {
			blobs++
		}
	}
	// 1 index + 2 manifests + 2 configs + 1 shared base layer + 2 berth layers
	if !names["index.json"] || !names["oci-layout"] || blobs != 8 {
		t.Errorf("tarball: index.json %v, oci-layout %v, %d blobs (want 8)", names["index.json"], names["oci-layout"], blobs)
	}
}
