package deploy

import (
	"crypto/sha256"
	"debug/macho"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelease runs `make release` for linux/amd64 and darwin/arm64 (the
// other two platforms differ only in GOOS/GOARCH): the linux binary runs
// and prints the stamped version, commit and date; the darwin one is an
// arm64 Mach-O; SHA256SUMS lists both with their real digests.
func TestRelease(t *testing.T) {
	const version = "v9.8.7"
	run(t, "..", "make", "release", "VERSION="+version, "COMMIT=0123456789abcdef", "DATE=2026-01-02T03:04:05Z",
		"RELEASE_PLATFORMS=linux/amd64 darwin/arm64")
	dir := "../bin/release"
	linux := filepath.Join(dir, "berth-"+version+"-linux-amd64")
	out := run(t, ".", linux, "version")
	if !strings.HasPrefix(out, "berth "+version+"\ncommit: 0123456789abcdef\nbuilt: 2026-01-02T03:04:05Z\n") {
		t.Errorf("berth version of the release binary:\n%s", out)
	}
	f, err := macho.Open(filepath.Join(dir, "berth-"+version+"-darwin-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Cpu != macho.CpuArm64 {
		t.Errorf("darwin binary for %v", f.Cpu)
	}
	_ = f.Close()
	sums := readFile(t, filepath.Join(dir, "SHA256SUMS"))
	lines := strings.Split(strings.TrimSpace(sums), "\n")
	if len(lines) != 2 {
		t.Fatalf("SHA256SUMS:\n%s", sums)
	}
	for _, l := range lines {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", l)
		}
		raw, err := os.ReadFile(filepath.Join(dir, name)) // #nosec G304 -- a release file
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(raw)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA256SUMS says %s", name, sum)
		}
	}
}
