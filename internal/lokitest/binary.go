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
	"runtime"
	"syscall"
)

// Version is the Loki the harness builds; it must match tools/loki/go.mod,
// which pins every dependency of the build.
const Version = "v3.5.3"

// ErrNoGo means the go command, which builds Loki, is missing.
var ErrNoGo = errors.New("the go command is not on PATH: it is needed to build Loki")

// CacheDir is where built binaries are kept between runs: $BERTH_CACHE_DIR,
// else the user cache directory's berth folder (~/.cache/berth).
func CacheDir() (string, error) {
	if d := os.Getenv("BERTH_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache directory: %w", err)
	}
	return filepath.Join(d, "berth"), nil
}

// EnsureBinary returns the path of the cached Loki binary, building it first
// when missing (about 5 minutes cold). Concurrent callers, even in other
// processes, build once: the build holds a file lock. Build output goes to log.
func EnsureBinary(ctx context.Context, log io.Writer) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "loki-"+Version)
	bin := filepath.Join(dir, "loki")
	if isExec(bin) {
		return bin, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", ErrNoGo
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build loki %s: %w", Version, err)
	}
	unlock, err := lock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return "", fmt.Errorf("build loki %s: %w", Version, err)
	}
	defer unlock()
	if isExec(bin) { // built by whoever held the lock
		return bin, nil
	}
	mod, err := toolsModule()
	if err != nil {
		return "", err
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
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, "github.com/grafana/loki/v3/cmd/loki")
	cmd.Dir = mod
	// The checksum database has no entry for Grafana's forks that Loki
	// replaces modules with; go.sum in tools/loki still pins them.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "GONOSUMDB=github.com/grafana/*")
	cmd.Stdout, cmd.Stderr = log, log
	// The machine is shared: build at low priority.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = syscall.Setpriority(syscall.PRIO_PGRP, cmd.Process.Pid, 10)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", cmd.String(), err)
	}
	return os.Rename(tmp, bin)
}

// toolsModule finds tools/loki, the pinned module Loki is built from.
func toolsModule() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, d := range starts {
		for {
			mod := filepath.Join(d, "tools", "loki")
			if _, err := os.Stat(filepath.Join(mod, "go.mod")); err == nil {
				return mod, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", errors.New("build loki: tools/loki/go.mod not found above the working directory")
}

func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
