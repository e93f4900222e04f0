package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubernetesTarget: berth with a kubernetes target (a real control
// plane from internal/kubetest, kwok nodes) creates, scales, stops, starts
// and deletes a Deployment; every effect is read back with client-go.
func TestKubernetesTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)

	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: local\n    type: local\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    defaultNamespace: %s\n",
		cluster.Kubeconfig, ns, ns))
	q := "?target=kind&namespace=" + ns

	b.MustDo(201, "PUT", "/api/v1/services/web"+q, map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.27", "replicas": 2,
		"ports": []map[string]any{{"name": "http", "port": 80}}, "secrets": map[string]string{"TOKEN": "e2e-SECRET-kube-token"}})
	deploy := func() (int32, map[string]string) {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return -1, nil
		}
		return *d.Spec.Replicas, d.Annotations
	}
	if r, _ := deploy(); r != 2 {
		t.Fatalf("deployment replicas = %d, want 2", r)
	}
	d, _ := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if d.Labels["app.kubernetes.io/managed-by"] != "berth" {
		t.Errorf("labels = %v", d.Labels)
	}
	Eventually(t, 60*time.Second, "web RUNNING 2/2 on the cluster", func() (bool, string) {
		svc := getJSON[api.ServiceResult](b, "/api/v1/services/web"+q).Service
		return svc.Status == berth.ServiceRunning && svc.ReadyReplicas == 2, string(svc.Status)
	})

	three := 3
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/scale"+q, api.ScaleRequest{Replicas: &three})
	if r, _ := deploy(); r != 3 {
		t.Errorf("after scale: replicas = %d", r)
	}
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/stop"+q, nil)
	if r, ann := deploy(); r != 0 || ann["berth.dev/replicas-before-stop"] != "3" {
		t.Errorf("after stop: replicas %d, annotations %v", r, ann)
	}
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/start"+q, nil)
	if r, _ := deploy(); r != 3 {
		t.Errorf("after start: replicas = %d", r)
	}
	// Rollback of berth's own service goes to its stored revision, and is
	// refused while the rollout is paused, as kubectl rollout undo is.
	b.MustDo(200, "PUT", "/api/v1/services/web"+q, map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.28",
		"ports": []map[string]any{{"name": "http", "port": 80}}, "secrets": map[string]string{"TOKEN": "e2e-SECRET-kube-token"}})
	image := func() string {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}
	cluster.Kubectl(t, "-n", ns, "rollout", "pause", "deployment/web")
	// berth decides from its informers' cache, which holds the pause a
	// moment after kubectl returns: wait for it there (the inventory reads
	// the same cache), as a rollback tried before would go ahead (CI).
	Eventually(t, 30*time.Second, "berth's cache holds the pause", func() (bool, string) {
		inv := getJSON[api.Inventory](b, "/api/v1/infrastructure?type=deployment&target=kind")
		for _, r := range inv.Resources {
			if r.Namespace == ns && r.Name == "web" {
				return r.Details["paused"] == true, fmt.Sprint(r.Details)
			}
		}
		return false, "no deployment web"
	})
	if code, e := doAs[api.Error](b, b.Token(), "POST", "/api/v1/services/web/rollback"+q, api.RollbackRequest{Revision: 1}); code != 409 || e.Error != berth.ECONFLICT {
		t.Fatalf("rollback of a paused rollout: %d %v, want 409 CONFLICT", code, e)
	}
	if got := image(); got != "nginx:1.28" {
		t.Errorf("a refused rollback changed the template: image %s", got)
	}
	cluster.Kubectl(t, "-n", ns, "rollout", "resume", "deployment/web")
	Eventually(t, 30*time.Second, "rollback once resumed", func() (bool, string) {
		code, raw := b.DoRaw(b.Token(), "POST", "/api/v1/services/web/rollback"+q, api.RollbackRequest{Revision: 1})
		return code == 200, fmt.Sprint(code, string(raw))
	})
	if got := image(); got != "nginx:1.27" {
		t.Errorf("after rollback to 1: image %s, want nginx:1.27", got)
	}

	mustDo[api.Ack](b, 200, "DELETE", "/api/v1/services/web"+q, nil)
	Eventually(t, 30*time.Second, "deployment deleted", func() (bool, string) {
		r, _ := deploy()
		return r == -1, fmt.Sprint(r)
	})
	assertNoSecret(t, b, "e2e-SECRET-kube-token")
}
