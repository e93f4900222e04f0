package toolcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary builds a tool once per test binary and turns a failed build into
// the test's failure (a skip only when the go command is missing outside
// CI: under CI=true a missing dependency fails).
type Binary struct {
	Tool GoTool

	once sync.Once
	path string
	err  error
}

// Path returns the tool's binary, building it on first use (up to 40
// minutes: a cold build on a busy machine takes many).
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
		defer cancel()
		b.path, b.err = b.Tool.Ensure(ctx, os.Stderr)
	})
	if b.err != nil {
		if errors.Is(b.err, ErrNoGo) && os.Getenv("CI") != "true" {
			t.Skipf("skipping: %v", b.err)
		}
		t.Fatalf("%s: %v", b.Tool.Name(), b.err)
	}
	return b.path
}

// StartRetrying calls start up to three times, since a free port can be
// taken between FreePorts and the tool's bind, and stops what it started
// when the test ends.
func StartRetrying[S interface{ Stop() }](t testing.TB, what string, start func() (S, error)) S {
	t.Helper()
	var err error
	for range 3 {
		var s S
		if s, err = start(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("start %s: %v", what, err)
	var zero S
	return zero
}

// Process is a tool run in its own process group with its output in
// dir/<name>.log.
type Process struct {
	Cmd  *exec.Cmd
	name string
	dir  string
	done chan struct{}
	stop sync.Once
}

// StartProcess starts bin with args in dir.
func StartProcess(dir, name, bin string, args ...string) (*Process, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log")) // #nosec G304 -- the log the test harness writes
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...) // #nosec G204 -- the harness runs the tool it built
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Cmd: cmd, name: name, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends the process group (SIGTERM, SIGKILL after 10 s) and waits.
func (p *Process) Stop() {
	p.stop.Do(func() {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Log is what the process printed.
func (p *Process) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, p.name+".log")) // #nosec G304 -- the harness's own log
	return string(b)
}
