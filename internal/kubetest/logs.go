package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Pods on kwok's node run no container, so they log nothing by themselves:
// kwok serves, as the kubelet would, the log files that its Logs (one pod)
// and ClusterLogs (pods of namespaces) objects name. A test writes a
// LogFile and points pods at it; `kubectl logs` and client-go's GetLogs
// then go through the API server's real pods/log path.

var (
	logsGVR        = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
	clusterLogsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
)

// installLogCRDs registers kwok's Logs and ClusterLogs kinds (a schema
// that keeps every field: kwok validates what it reads) and waits until
// they are served, before kwok starts watching them.
func (c *Cluster) installLogCRDs(ctx context.Context) error {
	for _, crd := range []struct{ kind, plural, scope string }{
		{"Logs", "logs", "Namespaced"},
		{"ClusterLogs", "clusterlogs", "Cluster"},
	} {
		body, err := json.Marshal(map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": crd.plural + "." + logsGVR.Group},
			"spec": map[string]any{
				"group": logsGVR.Group, "scope": crd.scope,
				"names": map[string]any{"kind": crd.kind, "listKind": crd.kind + "List", "plural": crd.plural, "singular": crd.plural},
				"versions": []any{map[string]any{
					"name": logsGVR.Version, "served": true, "storage": true,
					"subresources": map[string]any{"status": map[string]any{}},
					"schema": map[string]any{"openAPIV3Schema": map[string]any{
						"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
				}},
			},
		})
		if err != nil {
			return err
		}
		err = c.Client.Discovery().RESTClient().Post().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions").
			SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", crd.plural, err)
		}
		path := "/apis/" + logsGVR.Group + "/" + logsGVR.Version + "/" + crd.plural
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = Eventually(wctx, func(ctx context.Context) error {
			return c.Client.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).Error()
		})
		cancel()
		if err != nil {
			return fmt.Errorf("CRD %s not served: %w", crd.plural, err)
		}
	}
	return nil
}

// LogFile is a container log in the CRI format the kubelet reads
// ("<RFC 3339 time> stdout F <line>"), which kwok serves for the pods
// pointed at it. Appending while a reader follows it streams the new lines.
type LogFile struct {
	Path string
	mu   sync.Mutex
}

// NewLogFile creates an empty log file, removed when the test ends.
func NewLogFile(t testing.TB) *LogFile {
	t.Helper()
	f := &LogFile{Path: filepath.Join(t.TempDir(), "container.log")}
	if err := os.WriteFile(f.Path, nil, 0o600); err != nil {
		t.Fatalf("create log file: %v", err)
	}
	return f
}

// Append writes lines logged at the given time on stdout.
func (f *LogFile) Append(t testing.TB, at time.Time, lines ...string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", at.UTC().Format(time.RFC3339Nano), l)
	}
	out, err := os.OpenFile(f.Path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("append to %s: %v", f.Path, err)
	}
	defer out.Close()
	if _, err := out.WriteString(b.String()); err != nil {
		t.Fatalf("append to %s: %v", f.Path, err)
	}
}

func logSpec(current, previous *LogFile) []any {
	log := map[string]any{"logsFile": current.Path, "follow": true}
	if previous != nil {
		log["previousLogsFile"] = previous.Path
	}
	return []any{log} // no containers: every container of the pod
}

// ServePodLogs makes kwok serve current (and, for --previous, previous,
// which may be nil) as the logs of every container of one pod.
func (c *Cluster) ServePodLogs(t testing.TB, ns, pod string, current, previous *LogFile) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": logsGVR.GroupVersion().String(), "kind": "Logs",
		"metadata": map[string]any{"name": pod, "namespace": ns},
		"spec":     map[string]any{"logs": logSpec(current, previous)},
	}}
	if _, err := c.dynamic(t).Resource(logsGVR).Namespace(ns).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("serve logs of pod %s/%s: %v", ns, pod, err)
	}
}

// ServeNamespaceLogs makes kwok serve current (and previous) as the logs
// of every pod of namespace ns, those to come included.
func (c *Cluster) ServeNamespaceLogs(t testing.TB, ns string, current, previous *LogFile) {
	t.Helper()
	name := "ns-" + ns
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": clusterLogsGVR.GroupVersion().String(), "kind": "ClusterLogs",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{ns}},
			"logs":     logSpec(current, previous),
		},
	}}
	res := c.dynamic(t).Resource(clusterLogsGVR)
	if _, err := res.Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("serve logs of namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := res.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ClusterLogs %s: %v", name, err)
		}
	})
}

// WaitLogs waits until the API server serves the logs of a pod's container
// (kwok sees Logs objects through a watch, a moment after they are
// created). container may be empty for a pod of one container.
func (c *Cluster) WaitLogs(t testing.TB, ns, pod, container string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err := Eventually(ctx, func(ctx context.Context) error {
		body, err := c.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("logs of pod %s/%s: %v\n%s", ns, pod, err, c.Logs())
	}
}

func (c *Cluster) dynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	return d
}
