package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubernetesDrift, with the real binary: a managed Deployment deleted
// with kubectl comes back, and the repair is visible from outside berth's
// own answers too: a service.drift event on the WebSocket, an audit entry
// by system, and berth_drift_repairs_total on /metrics.
func TestKubernetesDrift(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)
	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    defaultNamespace: %s\n",
		cluster.Kubeconfig, ns, ns))
	q := "?target=kind&namespace=" + ns
	b.MustDo(201, "PUT", "/api/v1/services/web"+q, map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.27", "replicas": 1,
		"secrets": map[string]string{"TOKEN": "e2e-SECRET-drift-token"}})
	before, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ws := wsDial(t, b, b.Token(), "services")

	cluster.Kubectl(t, "-n", ns, "delete", "deployment", "web")
	start := time.Now()
	Eventually(t, 30*time.Second, "the Deployment re-created", func() (bool, string) {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.UID != before.UID && d.Spec.Template.Spec.Containers[0].Image == "nginx:1.27", string(d.UID)
	})
	t.Logf("Deployment back after %v", time.Since(start).Round(time.Millisecond))

	ev := waitEvent(t, ws, "a service.drift event", func(m map[string]any) bool {
		// The service as every services event carries it, plus what drifted.
		return m["type"] == "service.drift" && str(m, "data", "name") == "web" && str(m, "data", "target") == "kind" &&
			strings.Contains(fmt.Sprint(m["data"].(map[string]any)["drift"]), "missing")
	})
	if strings.Contains(fmt.Sprint(ev), "e2e-SECRET") {
		t.Errorf("the drift event carries the secret: %v", ev)
	}
	Eventually(t, 10*time.Second, "an audit entry by system", func() (bool, string) {
		m := getJSON[api.AuditList](b, "/api/v1/logs?type=reconcile")
		for _, e := range m.Logs {
			if strings.Contains(mustJSON(e), "e2e-SECRET") {
				t.Errorf("the audit entry carries the secret: %s", mustJSON(e))
			}
			if e.Action == "service.drift" && e.Username == "system" {
				return true, ""
			}
		}
		return false, mustJSON(m)
	})
	code, raw := b.DoRaw("", "GET", "/metrics", nil)
	want := `berth_drift_repairs_total{kind="service",target="kind"} 1`
	if code != 200 || !strings.Contains(string(raw), want) {
		t.Errorf("/metrics (%d) lacks %q", code, want)
	}
}
