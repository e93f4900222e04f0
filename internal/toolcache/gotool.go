package toolcache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrNoGo means the go command, which builds the tools, is missing.
var ErrNoGo = errors.New("the go command is not on PATH: it is needed to build the test and security tools")

// GoTool is a command built from a pinned module in tools/<Module>, cached
// in Dir()/<name>-<version>[-<go version>]/<name>.
type GoTool struct {
	Module  string // directory under tools/
	ModPath string // the pinned module's path, required in tools/<Module>/go.mod
	Pkg     string // the main package built from it
	// ByGo puts the Go version in the cache key: tools that type-check our
	// code (gosec, govulncheck) do it with the go/types they were built with.
	ByGo    bool
	LDFlags string   // e.g. "-s -w" where the link is the longest step and nobody debugs the tool
	Env     []string // added to the build's environment
}

// Name is the command's name: the last element of Pkg.
func (t GoTool) Name() string { return path.Base(t.Pkg) }

// Version is the version of t.ModPath that tools/<t.Module>/go.mod pins.
func (t GoTool) Version() (string, error) {
	mod, err := Module(t.Module)
	if err != nil {
		return "", err
	}
	return requiredVersion(filepath.Join(mod, "go.mod"), t.ModPath)
}

// requiredVersion reads the version of path from the require lines of a
// go.mod (both `require p v` and the lines of a require block).
func requiredVersion(gomod, path string) (string, error) {
	f, err := os.Open(gomod) // #nosec G304 -- gomod is tools/<name>/go.mod of this repository
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == path {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", gomod, err)
	}
	return "", fmt.Errorf("%s does not require %s", gomod, path)
}

// Ensure returns the path of t's cached binary, building it first when
// missing. Concurrent callers, even in other processes, build once (a file
// lock); the binary is renamed into place only when whole, so an
// interrupted build leaves nothing half-written. Build output goes to log.
func (t GoTool) Ensure(ctx context.Context, log io.Writer) (string, error) {
	name := t.Name()
	version, err := t.Version()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	cache, err := Dir()
	if err != nil {
		return "", err
	}
	key := name + "-" + version
	if t.ByGo {
		key += "-" + runtime.Version()
	}
	dir := filepath.Join(cache, key)
	bin := filepath.Join(dir, name)
	if IsExec(bin) {
		return bin, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", ErrNoGo
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("build %s %s: %w", name, version, err)
	}
	unlock, err := Lock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return "", fmt.Errorf("build %s %s: %w", name, version, err)
	}
	defer unlock()
	if IsExec(bin) { // built by whoever held the lock
		return bin, nil
	}
	if err := t.build(ctx, log, bin); err != nil {
		return "", fmt.Errorf("build %s %s: %w", name, version, err)
	}
	return bin, nil
}

func (t GoTool) build(ctx context.Context, log io.Writer, bin string) error {
	mod, err := Module(t.Module)
	if err != nil {
		return err
	}
	tmp := bin + ".build"
	defer os.Remove(tmp)
	args := []string{"build", "-trimpath"}
	if t.LDFlags != "" {
		args = append(args, "-ldflags="+t.LDFlags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", tmp, t.Pkg)...) // #nosec G204 -- the tools are constants of the harnesses; tmp is in berth's cache directory
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	cmd.Env = append(cmd.Env, t.Env...)
	if err := Build(cmd, log); err != nil {
		return err
	}
	return os.Rename(tmp, bin)
}
