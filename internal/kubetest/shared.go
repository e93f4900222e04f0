package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Shared returns the cluster of this test binary, starting it on first use
// (and building the binaries when they are not cached). When the go command
// is missing the test fails under CI=true and is skipped otherwise; a failed
// build or start always fails. Call Main from TestMain so the cluster stops
// when the tests end.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		// The first build takes many minutes on a busy machine.
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
		defer cancel()
		shared.c, shared.err = Start(ctx, os.Stderr)
	})
	if shared.err != nil {
		if errors.Is(shared.err, ErrNoGo) && os.Getenv("CI") != "true" {
			t.Skipf("skipping: %v", shared.err)
		}
		t.Fatalf("kubetest: %v", shared.err)
	}
	return shared.c
}

// Main runs the tests and stops the shared cluster, if one was started:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		shared.c.Stop()
	}
	os.Exit(code)
}

// Namespace creates a fresh namespace for one test, deleted when it ends,
// and waits for its default service account (pods are refused before it
// exists).
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	err = Eventually(ctx, func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("namespace %s: default service account: %v", ns.Name, err)
	}
	return ns.Name
}

// Eventually calls check until it returns nil or ctx ends; the error then
// names the last failure.
func Eventually(ctx context.Context, check func(context.Context) error) error {
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(testutil.Poll):
		}
	}
}

// Kubectl runs Debian's kubectl against the cluster, to check from outside
// the test process, and returns its trimmed output. Without kubectl the test
// fails under CI=true and is skipped otherwise.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		if os.Getenv("CI") != "true" {
			t.Skip("skipping: kubectl is not installed (apt-get install kubectl)")
		}
		t.Fatal("kubectl is not installed (apt-get install kubectl)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append([]string{"--kubeconfig", c.Kubeconfig}, args...)
	out, err := exec.CommandContext(ctx, "kubectl", args...).CombinedOutput() // #nosec G204 -- a test's kubectl command
	if err != nil {
		t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
