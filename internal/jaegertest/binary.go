// Package jaegertest runs a real Jaeger v2 for tests: the all-in-one
// binary with memory storage, an OTLP/HTTP receiver and the HTTP query API
// on loopback ports, built once from Go modules (tools/jaeger) and cached
// between runs.
package jaegertest

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

// Version is the Jaeger the harness builds; it must match tools/jaeger/go.mod,
// which pins every dependency of the build.
const Version = "v1.75.0"

// ErrNoGo means the go command, which builds Jaeger, is missing.
var ErrNoGo = errors.New("the go command is not on PATH: it is needed to build Jaeger")

// EnsureBinary returns the path of the cached Jaeger binary, building it
// first when missing (cold: about 9 CPU-minutes, so about 5 minutes on an
// idle 2-core machine; 26 minutes measured with seven other builds
// running). Concurrent callers, even in other processes, build
// once: the build holds a file lock. Build output goes to log.
func EnsureBinary(ctx context.Context, log io.Writer) (string, error) {
	cache, err := toolcache.Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "jaeger-"+Version)
	bin := filepath.Join(dir, "jaeger")
	if toolcache.IsExec(bin) {
		return bin, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", ErrNoGo
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("build jaeger %s: %w", Version, err)
	}
	unlock, err := toolcache.Lock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return "", fmt.Errorf("build jaeger %s: %w", Version, err)
	}
	defer unlock()
	if toolcache.IsExec(bin) { // built by whoever held the lock
		return bin, nil
	}
	mod, err := toolcache.Module("jaeger")
	if err != nil {
		return "", fmt.Errorf("build jaeger: %w", err)
	}
	if err := build(ctx, log, mod, bin); err != nil {
		return "", fmt.Errorf("build jaeger %s: %w", Version, err)
	}
	return bin, nil
}

// build compiles Jaeger into a temporary file next to bin and renames it
// into place, so an interrupted build never leaves a half-written binary.
// Debug information is left out (-s -w): the tests never debug Jaeger, and
// the link is the longest single step of its build.
func build(ctx context.Context, log io.Writer, mod, bin string) error {
	tmp := bin + ".build"
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, "github.com/jaegertracing/jaeger/cmd/jaeger") // #nosec G204 -- tmp is a path in berth's cache directory
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	if err := toolcache.Build(cmd, log); err != nil {
		return err
	}
	return os.Rename(tmp, bin)
}
