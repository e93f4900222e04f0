// Package lokitest runs a real Grafana Loki for tests: single-binary mode,
// filesystem storage and an in-memory ring on loopback, built once from Go
// modules (tools/loki) and cached between runs.
package lokitest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/berthhq/berth/internal/toolcache"
)

// Version is the Loki the harness builds; it must match tools/loki/go.mod,
// which pins every dependency of the build.
const Version = "v3.5.3"

// ErrNoGo means the go command, which builds Loki, is missing.
var ErrNoGo = errors.New("the go command is not on PATH: it is needed to build Loki")

// EnsureBinary returns the path of the cached Loki binary, building it first
// when missing (about 5 minutes cold). Concurrent callers, even in other
// processes, build once: the build holds a file lock. Build output goes to log.
func EnsureBinary(ctx context.Context, log io.Writer) (string, error) {
	cache, err := toolcache.Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "loki-"+Version)
	bin := filepath.Join(dir, "loki")
	if toolcache.IsExec(bin) {
		return bin, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", ErrNoGo
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("build loki %s: %w", Version, err)
	}
	unlock, err := toolcache.Lock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return "", fmt.Errorf("build loki %s: %w", Version, err)
	}
	defer unlock()
	if toolcache.IsExec(bin) { // built by whoever held the lock
		return bin, nil
	}
	mod, err := toolcache.Module("loki")
	if err != nil {
		return "", fmt.Errorf("build loki: %w", err)
	}
	if err := build(ctx, log, mod, bin); err != nil {
		return "", fmt.Errorf("build loki %s: %w", Version, err)
	}
	return bin, nil
}

// build compiles Loki into a temporary file next to bin and renames it into
// place, so an interrupted build never leaves a half-written binary.
func build(ctx context.Context, log io.Writer, mod, bin string) error {
	tmp := bin + ".build"
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, "github.com/grafana/loki/v3/cmd/loki") // #nosec G204 -- tmp is a path in berth's cache directory
	cmd.Dir = mod
	// The checksum database has no entry for Grafana's forks that Loki
	// replaces modules with; go.sum in tools/loki still pins them.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "GONOSUMDB=github.com/grafana/*")
	if err := toolcache.Build(cmd, log); err != nil {
		return err
	}
	return os.Rename(tmp, bin)
}
