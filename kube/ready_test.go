package kube_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Ping (what /readyz asks every target) answers UNAVAILABLE naming the
// target while the informers' caches have not synced, though the API server
// answers; once it answers nil, the caches already hold what the cluster
// held: a Deployment created beforehand is listed at once.
func TestPingWaitsForCaches(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	labels := map[string]string{"app": "before"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "before", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rt, err := kube.New(kube.Config{Target: "k8s", Kubeconfig: c.Kubeconfig, Namespaces: []string{ns}})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: the server is up, the caches are empty.
	err = rt.Ping(t.Context())
	if !berth.IsCode(err, berth.EUNAVAILABLE) || !strings.Contains(berth.ErrorMessage(err), `target "k8s"`) ||
		!strings.Contains(berth.ErrorMessage(err), "not synced") {
		t.Fatalf("ping before the informers ran: %v, want UNAVAILABLE naming target \"k8s\" and the caches", err)
	}
	rt.Start(t.Context())
	testutil.Eventually(t, 30*time.Second, "ping answers once the caches synced", func() (bool, string) {
		err := rt.Ping(t.Context())
		return err == nil, fmt.Sprint(err)
	})
	svcs, err := rt.ListServices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range svcs {
		found = found || (s.Namespace == ns && s.Name == "before")
	}
	if !found {
		t.Errorf("ready, but the list of %d services lacks %s/before, created before berth started", len(svcs), ns)
	}
}
