package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubernetesOrphanCleanup: with cleanupOrphans, a Deployment labelled
// as berth's for a service the store does not have is removed after the
// grace, and so is (the target sets ingressHost) an Ingress labelled as
// berth's for an environment the store does not have; berth's live service,
// a live environment's Ingress (which the API refuses to delete on its
// own) and what berth never made stay.
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
	ings := cluster.Client.NetworkingV1().Ingresses(ns)
	prefix := networkingv1.PathTypePrefix
	for name, labels := range map[string]map[string]string{
		"ghost-ide": {"app.kubernetes.io/managed-by": "berth", "berth.dev/kind": "environment", "berth.dev/id": "env-ghost00000000"},
		"theirs":    {"app": "theirs"},
	} {
		ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: name + ".example.test",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
		if _, err := ings.Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: local\n    type: local\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    cleanupOrphans: true\n    orphanGrace: 2s\n    ingressHost: \"{id}.dev.example.test\"\n",
		cluster.Kubeconfig, ns), "BERTH_ORPHAN_INTERVAL=500ms")
	mustDo[api.ServiceResult](b, 201, "PUT", "/api/v1/services/web?target=kind", map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.27"})
	envID := mustDo[api.EnvironmentEnvelope](b, 201, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "ws", Target: "kind"}).Environment.ID
	if _, err := ings.Get(ctx, envID, metav1.GetOptions{}); err != nil {
		t.Fatalf("the environment's ingress: %v", err)
	}
	// Listed as berth's for the environment, and not its to delete alone.
	Eventually(t, 30*time.Second, "the environment's ingress in the inventory", func() (bool, string) {
		inv := getJSON[api.Inventory](b, "/api/v1/infrastructure?type=ingress")
		for _, r := range inv.Resources {
			if r.ID == ns+"/"+envID {
				return r.Type == "ingress" && r.BerthKind == "environment" && r.BerthID == envID && !r.Orphaned, mustJSON(r)
			}
		}
		return false, mustJSON(inv)
	})
	if e := mustDo[api.Error](b, 409, "DELETE", "/api/v1/infrastructure/ingress/"+ns+"%2F"+envID+"?target=kind", nil); e.Error != berth.ECONFLICT {
		t.Errorf("deleting the environment's ingress alone: %+v", e)
	}

	Eventually(t, 60*time.Second, "the orphaned deployment removed", func() (bool, string) {
		_, err := deploys.Get(ctx, "ghost", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	Eventually(t, 60*time.Second, "the orphaned ingress removed", func() (bool, string) {
		_, err := ings.Get(ctx, "ghost-ide", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	for _, name := range []string{"web", "legacy"} {
		if _, err := deploys.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s after the orphan cleanup: %v", name, err)
		}
	}
	for _, name := range []string{envID, "theirs"} {
		if ing, err := ings.Get(ctx, name, metav1.GetOptions{}); err != nil || ing.DeletionTimestamp != nil {
			t.Errorf("ingress %s after the orphan cleanup: %v", name, err)
		}
	}
}
