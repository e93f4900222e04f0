package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berthhq/berth/bench/internal/kubebench"
	"github.com/berthhq/berth/bench/internal/stat"
	"github.com/berthhq/berth/internal/berthproc"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

const image = "nginx:1.27" // kwok runs no container: any image name does

// benchBerthCreate times n PUT /api/v1/services/{name} (one replica each,
// workers at a time) until GET shows every one RUNNING with one ready
// replica, then checks the Deployments on the cluster with client-go.
func benchBerthCreate(ctx context.Context, s *berthproc.Server, client kubernetes.Interface, ns string, n, workers int) (tool, cluster time.Duration, err error) {
	if err := kubebench.Namespace(ctx, client, ns); err != nil {
		return 0, 0, err
	}
	q := "?target=k&namespace=" + ns
	t0 := time.Now()
	seen := observe(ctx, client, ns, n, t0)
	err = stat.Parallel(n, workers, func(i int) error {
		return s.Do("PUT", fmt.Sprintf("/api/v1/services/svc-%d%s", i, q),
			map[string]any{"target": "k", "namespace": ns, "image": image, "replicas": 1}, nil)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("create services in %s: %w", ns, err)
	}
	fmt.Fprintf(os.Stderr, "  berth: %d PUTs answered after %.2fs\n", n, time.Since(t0).Seconds())
	var mu sync.Mutex
	pending := map[int]bool{}
	for i := range n {
		pending[i] = true
	}
	err = stat.Poll(5*time.Minute, 100*time.Millisecond, fmt.Sprintf("berth: %d services in %s RUNNING", n, ns), func() error {
		mu.Lock()
		var todo []int
		for i := range pending {
			todo = append(todo, i)
		}
		mu.Unlock()
		if err := stat.Parallel(len(todo), 8, func(k int) error {
			var got struct {
				Service struct {
					Status        string
					ReadyReplicas int
				}
			}
			if err := s.Do("GET", fmt.Sprintf("/api/v1/services/svc-%d%s", todo[k], q), nil, &got); err != nil {
				return err
			}
			if got.Service.Status == "RUNNING" && got.Service.ReadyReplicas == 1 {
				mu.Lock()
				delete(pending, todo[k])
				mu.Unlock()
			}
			return nil
		}); err != nil {
			return err
		}
		if len(pending) > 0 {
			return fmt.Errorf("%d not RUNNING yet", len(pending))
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	elapsed := time.Since(t0)
	return elapsed, <-seen, checkCluster(ctx, client, ns, n, "berth")
}

// benchKubectlCreate times `kubectl apply -f` of n Deployments shaped as
// berth makes them (one file) and `kubectl wait --for=condition=available`
// on all of them, then checks them with client-go.
func benchKubectlCreate(ctx context.Context, kubeconfig, home string, client kubernetes.Interface, ns string, n int) (tool, cluster time.Duration, err error) {
	if err := kubebench.Namespace(ctx, client, ns); err != nil {
		return 0, 0, err
	}
	var buf bytes.Buffer
	for i := range n {
		b, err := yaml.Marshal(berthShaped(ns, fmt.Sprintf("svc-%d", i)))
		if err != nil {
			return 0, 0, err
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	file := filepath.Join(home, ns+".yaml")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	seen := observe(ctx, client, ns, n, t0)
	if out, err := kubebench.Kubectl(ctx, kubeconfig, home, "apply", "-f", file).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("kubectl apply -f %s: %w: %s", file, err, out)
	}
	fmt.Fprintf(os.Stderr, "  kubectl: apply done after %.2fs\n", time.Since(t0).Seconds())
	if out, err := kubebench.Kubectl(ctx, kubeconfig, home, "wait", "--for=condition=available", "deploy", "--all", "-n", ns, "--timeout=300s").CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("kubectl wait in %s: %w: %s", ns, err, out)
	}
	elapsed := time.Since(t0)
	return elapsed, <-seen, checkCluster(ctx, client, ns, n, "kubectl")
}

// observe reports, on the returned channel, how long after t0 client-go
// first saw n available Deployments in ns: when the cluster was ready,
// independent of the tool being timed (polled every 100 ms).
func observe(ctx context.Context, client kubernetes.Interface, ns string, n int, t0 time.Time) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	go func() {
		_ = stat.Poll(5*time.Minute, 100*time.Millisecond, "observe "+ns, func() error {
			list, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				return err
			}
			ready := 0
			for _, d := range list.Items {
				if d.Status.AvailableReplicas == 1 {
					ready++
				}
			}
			if ready < n {
				return fmt.Errorf("%d of %d available", ready, n)
			}
			ch <- time.Since(t0)
			return nil
		})
		close(ch)
	}()
	return ch
}

// checkCluster verifies from outside both tools that ns holds n available
// Deployments managed by who.
func checkCluster(ctx context.Context, client kubernetes.Interface, ns string, n int, who string) error {
	list, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("check %s: %w", ns, err)
	}
	ok := 0
	for _, d := range list.Items {
		if d.Labels["app.kubernetes.io/managed-by"] == who && d.Status.AvailableReplicas == 1 {
			ok++
		}
	}
	if ok != n {
		return fmt.Errorf("check %s: %d of %d deployments managed by %s are available on the cluster", ns, ok, n, who)
	}
	return nil
}

// berthShaped is the Deployment berth's kube runtime writes for a service
// of one replica and an image (kube/objects.go), labelled as kubectl's so
// berth never takes it for an orphan of its own.
func berthShaped(ns, name string) *appsv1.Deployment {
	one := int32(1)
	sel := map[string]string{"berth.dev/kind": "service", "berth.dev/id": name}
	labels := map[string]string{"app.kubernetes.io/managed-by": "kubectl", "berth.dev/kind": "service", "berth.dev/id": name}
	rev := map[string]string{"berth.dev/revision": "1"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: rev},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: rev},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}
