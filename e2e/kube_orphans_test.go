package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubernetesOrphanCleanup: with cleanupOrphans, a Deployment labelled
// as berth's for a service the store does not have is removed after the
// grace; berth's live service and a workload berth never made stay.
func TestKubernetesOrphanCleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)
	deploys := cluster.Client.AppsV1().Deployments(ns)
	one := int32(1)
	for name, labels := range map[string]map[string]string{
		"ghost":  {"app.kubernetes.io/managed-by": "berth", "berth.dev/kind": "service", "berth.dev/id": "ghost"},
		"legacy": {"app": "legacy"},
	} {
		sel := map[string]string{"pick": name}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: name + ":1"}}}}}}
		if _, err := deploys.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: local\n    type: local\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    cleanupOrphans: true\n    orphanGrace: 2s\n",
		cluster.Kubeconfig, ns), "BERTH_ORPHAN_INTERVAL=500ms")
	b.MustDo(201, "PUT", "/api/v1/services/web?target=kind", map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.27"})

	Eventually(t, 60*time.Second, "the orphaned deployment removed", func() (bool, string) {
		_, err := deploys.Get(ctx, "ghost", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	for _, name := range []string{"web", "legacy"} {
		if _, err := deploys.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s after the orphan cleanup: %v", name, err)
		}
	}
}
