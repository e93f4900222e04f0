package kubetest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// A Deployment created with client-go rolls out on the kwok node: the
// controller manager, scheduler and kwok all work.
func TestDeploymentBecomesAvailable(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas != 2 {
			return fmt.Errorf("available %d of 2", d.Status.AvailableReplicas)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("deployment web: %v\n%s", err, c.Logs())
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != kubetest.NodeName || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q phase %s, want %s Running", p.Name, p.Spec.NodeName, p.Status.Phase, kubetest.NodeName)
		}
	}

	// kubectl, from outside this process, sees the same cluster.
	if got := c.Kubectl(t, "-n", ns, "get", "deploy", "web", "-o", "jsonpath={.status.availableReplicas}"); got != "2" {
		t.Errorf("kubectl: availableReplicas = %q, want 2", got)
	}
}

// RestartAPIServer: the API server does not answer while it is down, then
// answers on the same address with what etcd kept, and the controllers
// carry on (a Deployment created after the restart becomes available).
func TestRestartAPIServer(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var downErr error
	if err := c.RestartAPIServer(ctx, func() {
		_, downErr = c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	}); err != nil {
		t.Fatalf("restart: %v\n%s", err, c.Logs())
	}
	if downErr == nil {
		t.Error("the API server answered while it was down")
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s after the restart: %v", ns, err)
	}
	labels := map[string]string{"app": "after"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "after", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment after the restart: %v", err)
	}
	if err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "after", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas != 1 {
			return fmt.Errorf("available %d of 1", d.Status.AvailableReplicas)
		}
		return nil
	}); err != nil {
		t.Fatalf("deployment after the restart: %v\n%s", err, c.Logs())
	}
}
