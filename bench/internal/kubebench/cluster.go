package kubebench

import (
	"context"
	"fmt"
	"time"

	"github.com/berthhq/berth/bench/internal/stat"
	"github.com/berthhq/berth/internal/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// FastClient is a clientset with client-side throttling raised, for
// creating many objects at once.
func FastClient(cfg *rest.Config) (kubernetes.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 1000, 2000
	return kubernetes.NewForConfig(c)
}

// AddNodes registers n more kwok nodes of 1,000 pods each: the harness's one
// node takes 250 pods, the bench runs well over a thousand.
func AddNodes(ctx context.Context, client kubernetes.Interface, n int) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
	for i := range n {
		name := fmt.Sprintf("kwok-bench-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
		if err := stat.Poll(60*time.Second, 200*time.Millisecond, "node "+name+" schedulable", func() error {
			return kubetest.Schedulable(ctx, client, name)
		}); err != nil {
			return err
		}
	}
	return nil
}

// namespace creates ns and waits for its default service account: pods
// are refused before it exists, and the replica set controller's backoff
// would then count against whoever is being timed.
func Namespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return stat.Poll(60*time.Second, 100*time.Millisecond, "namespace "+ns+": default service account", func() error {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// Populate creates perNS Deployments in each of namespaces, not managed by
// berth, workers at a time, the i-th of replicas(i) replicas (WaitAvailable
// then waits for the controllers).
func Populate(ctx context.Context, client kubernetes.Interface, namespaces []string, perNS, workers int, replicas func(i int) int32) error {
	for _, ns := range namespaces {
		if err := Namespace(ctx, client, ns); err != nil {
			return err
		}
	}
	n := len(namespaces) * perNS
	err := stat.Parallel(n, workers, func(i int) error {
		ns, name := namespaces[i/perNS], fmt.Sprintf("app-%d", i%perNS)
		d := PlainDeployment(ns, name, replicas(i))
		_, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create deployment %s/%s: %w", ns, name, err)
		}
		return nil
	})
	return err
}

// WaitAvailable waits until want Deployments of namespaces have all their
// replicas available.
func WaitAvailable(ctx context.Context, client kubernetes.Interface, namespaces []string, want int, limit time.Duration) error {
	return stat.Poll(limit, time.Second, fmt.Sprintf("%d deployments available", want), func() error {
		avail := 0
		for _, ns := range namespaces {
			list, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, d := range list.Items {
				if d.Spec.Replicas != nil && d.Status.AvailableReplicas == *d.Spec.Replicas && d.Status.ObservedGeneration >= d.Generation {
					avail++
				}
			}
		}
		if avail < want {
			return fmt.Errorf("%d of %d available", avail, want)
		}
		return nil
	})
}

// PlainDeployment is a workload berth did not create, as a cluster holds.
func PlainDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			},
		},
	}
}
