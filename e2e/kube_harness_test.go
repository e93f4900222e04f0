package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthhq/berth/internal/kubetest"
)

// startCluster starts a control plane of its own, stopped when the test ends.
func startCluster(t *testing.T, ctx context.Context) *kubetest.Cluster {
	t.Helper()
	c, err := kubetest.Start(ctx, os.Stderr)
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skipf("no cluster: %v", err)
		}
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// startBerthWith starts berth with yaml as its berth.yaml.
func startBerthWith(t *testing.T, yaml string, env ...string) *Berth {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartBerth(t, dir, "", env...)
}
