// Package toolcache holds what the test harnesses share to run pinned tools
// (tools/<name>): building them once into a cache kept between runs (the
// cache directory, a cross-process build lock, a low-priority build) and
// finding free loopback ports to run them on.
package toolcache

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// Dir is where built binaries are kept between runs: $BERTH_CACHE_DIR,
// else the user cache directory's berth folder (~/.cache/berth).
func Dir() (string, error) {
	if d := os.Getenv("BERTH_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache directory: %w", err)
	}
	return filepath.Join(d, "berth"), nil
}

// Module finds tools/<name>, the pinned module a tool is built from, above
// this source file or the working directory.
func Module(name string) (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, d := range starts {
		for {
			mod := filepath.Join(d, "tools", name)
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
	return "", errors.New("tools/" + name + "/go.mod not found above the working directory")
}

// Lock takes an exclusive lock on path (created when missing), so that
// concurrent test binaries build a tool once; call the result to release it.
func Lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600) // #nosec G304 -- a lock file in berth's cache directory
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
}

// IsExec reports whether p is an executable file.
func IsExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Build runs a build command at low priority (the machine is shared) with
// its output to log.
func Build(cmd *exec.Cmd, log io.Writer) error {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = syscall.Setpriority(syscall.PRIO_PGRP, cmd.Process.Pid, 10)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", cmd.String(), err)
	}
	return nil
}

// FreePorts finds n distinct free loopback ports (held open together while
// they are found, so none is returned twice).
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
