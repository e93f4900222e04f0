package kubetest

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

// Versions of the control plane the harness builds. They must match
// tools/kube/go.mod, which pins every dependency of the build.
const (
	KubernetesVersion = "v1.34.4"
	EtcdVersion       = "v3.6.5"
	KwokVersion       = "v0.7.0"
)

// ErrNoGo means the go command, which builds the control plane, is missing.
var ErrNoGo = errors.New("the go command is not on PATH: it is needed to build the Kubernetes control plane")

// Binaries are the paths of the programs a test cluster runs.
type Binaries struct {
	Etcd, APIServer, ControllerManager, Scheduler, Kwok string
}

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

// EnsureBinaries returns the cached control plane binaries, building the
// missing ones first (several minutes when cold). Concurrent callers, even in
// other processes, build once: the build holds a file lock. Build output goes
// to log.
func EnsureBinaries(ctx context.Context, log io.Writer) (Binaries, error) {
	cache, err := CacheDir()
	if err != nil {
		return Binaries{}, err
	}
	k8sDir := filepath.Join(cache, "kube", "k8s-"+KubernetesVersion+"-etcd-"+EtcdVersion)
	kwokDir := filepath.Join(cache, "kube", "kwok-"+KwokVersion)
	b := Binaries{
		Etcd:              filepath.Join(k8sDir, "etcd"),
		APIServer:         filepath.Join(k8sDir, "kube-apiserver"),
		ControllerManager: filepath.Join(k8sDir, "kube-controller-manager"),
		Scheduler:         filepath.Join(k8sDir, "kube-scheduler"),
		Kwok:              filepath.Join(kwokDir, "kwok"),
	}
	if b.present() {
		return b, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return Binaries{}, ErrNoGo
	}
	if err := os.MkdirAll(filepath.Join(cache, "kube"), 0o755); err != nil {
		return Binaries{}, fmt.Errorf("build control plane: %w", err)
	}
	unlock, err := lock(filepath.Join(cache, "kube", ".build.lock"))
	if err != nil {
		return Binaries{}, fmt.Errorf("build control plane: %w", err)
	}
	defer unlock()
	if !isExec(b.APIServer) || !isExec(b.ControllerManager) || !isExec(b.Scheduler) || !isExec(b.Etcd) {
		mod, err := toolsModule()
		if err != nil {
			return Binaries{}, err
		}
		err = buildInto(ctx, log, k8sDir, func(tmp string) *exec.Cmd {
			// One go build of all four: the pinned tools module resolves them together.
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp+string(filepath.Separator),
				"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager",
				"k8s.io/kubernetes/cmd/kube-scheduler", "go.etcd.io/etcd/server/v3")
			cmd.Dir = mod
			return cmd
		}, map[string]string{"server": "etcd"})
		if err != nil {
			return Binaries{}, fmt.Errorf("build kubernetes %s and etcd %s: %w", KubernetesVersion, EtcdVersion, err)
		}
	}
	if !isExec(b.Kwok) {
		err = buildInto(ctx, log, kwokDir, func(tmp string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, "go", "install", "sigs.k8s.io/kwok/cmd/kwok@"+KwokVersion)
			cmd.Dir = tmp
			cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off")
			return cmd
		}, nil)
		if err != nil {
			return Binaries{}, fmt.Errorf("build kwok %s: %w", KwokVersion, err)
		}
	}
	if !b.present() {
		return Binaries{}, fmt.Errorf("build control plane: binaries missing from %s after the build", filepath.Join(cache, "kube"))
	}
	return b, nil
}

func (b Binaries) present() bool {
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Scheduler, b.Kwok} {
		if !isExec(p) {
			return false
		}
	}
	return true
}

// buildInto runs the build in a temporary directory next to dir and renames
// it into place, so an interrupted build never leaves a half-filled cache.
func buildInto(ctx context.Context, log io.Writer, dir string, build func(tmp string) *exec.Cmd, rename map[string]string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := build(tmp)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
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
	for from, to := range rename {
		if err := os.Rename(filepath.Join(tmp, from), filepath.Join(tmp, to)); err != nil {
			return err
		}
	}
	os.RemoveAll(dir)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// toolsModule finds tools/kube, the pinned module the binaries are built from.
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
			mod := filepath.Join(d, "tools", "kube")
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
	return "", errors.New("build control plane: tools/kube/go.mod not found above the working directory")
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
