package kubetest

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

// EnsureBinaries returns the cached control plane binaries, building the
// missing ones first (several minutes when cold). Concurrent callers, even in
// other processes, build once: the build holds a file lock. Build output goes
// to log.
func EnsureBinaries(ctx context.Context, log io.Writer) (Binaries, error) {
	cache, err := toolcache.Dir()
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
	if err := os.MkdirAll(filepath.Join(cache, "kube"), 0o750); err != nil {
		return Binaries{}, fmt.Errorf("build control plane: %w", err)
	}
	unlock, err := toolcache.Lock(filepath.Join(cache, "kube", ".build.lock"))
	if err != nil {
		return Binaries{}, fmt.Errorf("build control plane: %w", err)
	}
	defer unlock()
	if !toolcache.IsExec(b.APIServer) || !toolcache.IsExec(b.ControllerManager) || !toolcache.IsExec(b.Scheduler) || !toolcache.IsExec(b.Etcd) {
		mod, err := toolcache.Module("kube")
		if err != nil {
			return Binaries{}, err
		}
		err = buildInto(ctx, log, k8sDir, func(tmp string) *exec.Cmd {
			// One go build of all four: the pinned tools module resolves them together.
			// #nosec G204 -- tmp is a path in berth's cache directory
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
	if !toolcache.IsExec(b.Kwok) {
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
		if !toolcache.IsExec(p) {
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
	if err := toolcache.Build(build(tmp), log); err != nil {
		return err
	}
	for from, to := range rename {
		if err := os.Rename(filepath.Join(tmp, from), filepath.Join(tmp, to)); err != nil {
			return err
		}
	}
	_ = os.RemoveAll(dir)
	if err := os.Chmod(tmp, 0o755); err != nil { // #nosec G302 -- a directory of the cache's executables: it needs its search bits
		return err
	}
	return os.Rename(tmp, dir)
}
