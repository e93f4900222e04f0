package kube_test

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// TestServiceKeysAtScale: with a few thousand Deployments (and a
// StatefulSet named like one of them) in two watched namespaces, the
// runtime's keys are exactly what the API server lists, sorted by
// namespace, name, then kind; ListServices reports them in that order; a
// deleted Deployment leaves the keys and ServicesOf reports it gone.
func TestServiceKeysAtScale(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	nss := []string{c.Namespace(t), c.Namespace(t)}
	rc := rest.CopyConfig(c.Config)
	rc.QPS, rc.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	const perNS = 1000
	labels := map[string]string{"app": "scale"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}}}
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNS)
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				ns, name := nss[i%2], fmt.Sprintf("app-%04d", i/2)
				_, err := client.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
				}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range 2 * perNS {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().StatefulSets(nss[0]).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "app-0007"},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	rt, err := kube.New(kube.Config{Target: "k8s", Kubeconfig: c.Kubeconfig, Namespaces: nss})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	// What the API server lists, from outside berth.
	var want []berth.ServiceKey
	for _, ns := range nss {
		ds, err := client.AppsV1().Deployments(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds.Items {
			want = append(want, berth.ServiceKey{Namespace: ns, Name: d.Name, Kind: "Deployment"})
		}
		ss, err := client.AppsV1().StatefulSets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss.Items {
			want = append(want, berth.ServiceKey{Namespace: ns, Name: s.Name, Kind: "StatefulSet"})
		}
	}
	sort.Slice(want, func(i, j int) bool {
		a, b := want[i], want[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Kind < b.Kind
	})
	if len(want) != 2*perNS+1 {
		t.Fatalf("the API server lists %d workloads, want %d", len(want), 2*perNS+1)
	}
	keys, _, err := rt.ServiceKeys(t.Context()) // synced: the index has seen the caches' content
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("%d keys, want the API server's %d in order", len(keys), len(want))
	}
	list, err := rt.ListServices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("ListServices: %d services, want %d", len(list), len(want))
	}
	for i, s := range list {
		if s.Namespace != want[i].Namespace || s.Name != want[i].Name {
			t.Fatalf("ListServices[%d] = %s/%s, want %s/%s", i, s.Namespace, s.Name, want[i].Namespace, want[i].Name)
		}
	}

	// Deleted: the key leaves the index, and a page built from the old
	// keys leaves it out.
	gone := want[10]
	if err := client.AppsV1().Deployments(gone.Namespace).Delete(t.Context(), gone.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the deleted Deployment's key gone", func() (bool, string) {
		keys, _, err := rt.ServiceKeys(t.Context())
		if err != nil {
			return false, err.Error()
		}
		return !slices.Contains(keys, gone) && len(keys) == len(want)-1, fmt.Sprintf("%d keys", len(keys))
	})
	page, err := rt.ServicesOf(t.Context(), want[9:12])
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0] == nil || page[1] != nil || page[2] == nil || page[2].Name != want[11].Name {
		t.Errorf("ServicesOf around a deleted workload = %v, want it nil between the two others", page)
	}
}
