package core_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/kube"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestKubernetesReconcileRepairsManagedObjects, on a real control plane
// with core's reconcile loop running: each kind of object berth made for a
// service or an environment, deleted from outside (the API call kubectl
// delete makes), comes back; a managed Deployment's image edited from
// outside is put back, while an unmanaged Deployment edited the same way is
// left alone; a stopped service and a stopped environment scaled up from
// outside go back to 0 replicas. Each repair is a drift event, an audit
// entry by system and a count on the drift counter.
func TestKubernetesReconcileRepairsManagedObjects(t *testing.T) {
	t.Parallel()
	cluster := startCluster(t)
	ns := cluster.Namespace(t)
	rt, err := kube.New(kube.Config{Target: "k8s", Kubeconfig: cluster.Kubeconfig, Namespaces: []string{ns},
		DefaultNamespace: ns, IngressHost: "{id}.dev.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	st := storetest.Open(t, store.SQLite, nil)
	events := &eventLog{}
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, DefaultTarget: "k8s", Events: events,
		// An activity token makes the environment a Secret (BERTH_ACTIVITY_TOKEN).
		PublicURL: "http://berth.test", ActivityToken: func(id string) string { return "token-of-" + id },
		Reconcile: core.ReconcileConfig{Resync: 500 * time.Millisecond, RetryBase: 100 * time.Millisecond, RetryMax: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := berth.WithActor(t.Context(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	two := 2
	if _, _, err := c.ApplyService(ctx, "web", berth.ServiceSpec{Image: "nginx:1", Replicas: &two,
		Ports: []berth.Port{{Name: "http", Port: 80}}, Secrets: map[string]string{"TOKEN": "s3cret"},
		Config: berth.Config{Files: map[string]string{"app.conf": "listen 80"}}}); err != nil {
		t.Fatalf("apply service: %v", err)
	}
	env, err := c.CreateEnvironment(ctx, berth.CreateEnvironmentRequest{Name: "ws", Target: "k8s", BaseImage: "node"})
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	cl := cluster.Client
	theirs := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "theirs"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "theirs"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}}}}}
	if _, err := cl.AppsV1().Deployments(ns).Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Deleted from outside: each object is back, a new one (another uid).
	for _, obj := range []struct{ kind, name string }{
		{"Deployment", "web"}, {"Service", "web"}, {"Secret", "web-secrets"}, {"ConfigMap", "web-config"},
		{"Deployment", env.ID}, {"Service", env.ID}, {"Secret", env.ID + "-secrets"}, {"Ingress", env.ID},
	} {
		t.Run("delete "+obj.kind+" "+obj.name, func(t *testing.T) {
			uid, err := objectUID(ctx, cl, ns, obj.kind, obj.name)
			if err != nil {
				t.Fatalf("before: %v", err)
			}
			if err := deleteObject(ctx, cl, ns, obj.kind, obj.name); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			await(ctx, t, obj.kind+" "+obj.name+" re-created", func(ctx context.Context) error {
				now, err := objectUID(ctx, cl, ns, obj.kind, obj.name)
				if err != nil {
					return err
				}
				if now == uid {
					return fmt.Errorf("still the deleted object %s", uid)
				}
				return nil
			})
			t.Logf("%s %s back after %v", obj.kind, obj.name, time.Since(start).Round(time.Millisecond))
		})
	}

	t.Run("image edited", func(t *testing.T) {
		for _, name := range []string{"theirs", "web"} {
			patch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:evil"}]}}}}`
			if _, err := cl.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				t.Fatalf("edit %s: %v", name, err)
			}
		}
		await(ctx, t, "web's image put back", func(ctx context.Context) error {
			d, err := cl.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1" {
				return fmt.Errorf("image %s", img)
			}
			return nil
		})
		// web's repair came after theirs was edited: the loop ran and left it.
		d, err := cl.AppsV1().Deployments(ns).Get(ctx, "theirs", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:evil" {
			t.Errorf("the unmanaged Deployment's image is %s: the loop changed what berth did not create", img)
		}
	})

	t.Run("stopped stays stopped", func(t *testing.T) {
		if _, err := c.StopService(ctx, core.ServiceQuery{Name: "web", Target: "k8s", Namespace: ns}); err != nil {
			t.Fatalf("stop service: %v", err)
		}
		if _, err := c.StopEnvironment(ctx, env.ID); err != nil {
			t.Fatalf("stop environment: %v", err)
		}
		for _, name := range []string{"web", env.ID} {
			if err := scaleDeployment(ctx, cl, ns, name, 3); err != nil {
				t.Fatal(err)
			}
			await(ctx, t, name+" back to 0 replicas", func(ctx context.Context) error {
				d, err := cl.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if r := *d.Spec.Replicas; r != 0 {
					return fmt.Errorf("%d replicas", r)
				}
				return nil
			})
		}
	})

	t.Run("claim deleted", func(t *testing.T) {
		// With the environment stopped no pod holds the claim, so its
		// deletion completes (pvc-protection) and berth makes a new one.
		uid, err := objectUID(ctx, cl, ns, "PersistentVolumeClaim", env.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := deleteObject(ctx, cl, ns, "PersistentVolumeClaim", env.ID); err != nil {
			t.Fatal(err)
		}
		await(ctx, t, "claim re-created", func(ctx context.Context) error {
			now, err := objectUID(ctx, cl, ns, "PersistentVolumeClaim", env.ID)
			if err != nil {
				return err
			}
			if now == uid {
				return fmt.Errorf("still the deleted claim")
			}
			return nil
		})
	})

	t.Run("visible", func(t *testing.T) {
		if events.count("service.drift") == 0 || events.count("environment.drift") == 0 {
			t.Errorf("drift events: %d service.drift, %d environment.drift; want some of each",
				events.count("service.drift"), events.count("environment.drift"))
		}
		entries, _, err := st.ListAudit(ctx, berth.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Action == "service.drift" || e.Action == "environment.drift" {
				n++
				if e.UserID != berth.System.UserID {
					t.Errorf("audit entry %s by %s, want system", e.Action, e.UserID)
				}
			}
		}
		if n == 0 {
			t.Error("no drift audit entry")
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(c.Collectors()...)
		if got := testutil.ToFloat64(driftCounter(t, c, "environment")); got < 1 {
			t.Errorf("berth_drift_repairs_total{kind=environment} = %v", got)
		}
	})
}

func driftCounter(t *testing.T, c *core.Core, kind string) prometheus.Collector {
	return collectorFor(t, c, kind)
}

func scaleDeployment(ctx context.Context, cl kubernetes.Interface, ns, name string, replicas int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	_, err := cl.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// kindClient reads and deletes objects of one kind in one namespace.
type kindClient struct {
	get func(ctx context.Context, name string) (metav1.Object, error)
	del func(ctx context.Context, name string) error
}

func kindOf[T metav1.Object](get func(context.Context, string, metav1.GetOptions) (T, error),
	del func(context.Context, string, metav1.DeleteOptions) error) kindClient {
	return kindClient{
		get: func(ctx context.Context, name string) (metav1.Object, error) {
			return get(ctx, name, metav1.GetOptions{})
		},
		del: func(ctx context.Context, name string) error { return del(ctx, name, metav1.DeleteOptions{}) },
	}
}

func kinds(cl kubernetes.Interface, ns string) map[string]kindClient {
	return map[string]kindClient{
		"Deployment":            kindOf(cl.AppsV1().Deployments(ns).Get, cl.AppsV1().Deployments(ns).Delete),
		"Service":               kindOf(cl.CoreV1().Services(ns).Get, cl.CoreV1().Services(ns).Delete),
		"Secret":                kindOf(cl.CoreV1().Secrets(ns).Get, cl.CoreV1().Secrets(ns).Delete),
		"ConfigMap":             kindOf(cl.CoreV1().ConfigMaps(ns).Get, cl.CoreV1().ConfigMaps(ns).Delete),
		"PersistentVolumeClaim": kindOf(cl.CoreV1().PersistentVolumeClaims(ns).Get, cl.CoreV1().PersistentVolumeClaims(ns).Delete),
		"Ingress":               kindOf(cl.NetworkingV1().Ingresses(ns).Get, cl.NetworkingV1().Ingresses(ns).Delete),
	}
}

// objectUID is the uid of a live object (one being deleted counts as gone).
func objectUID(ctx context.Context, cl kubernetes.Interface, ns, kind, name string) (types.UID, error) {
	m, err := kinds(cl, ns)[kind].get(ctx, name)
	if err != nil {
		return "", err
	}
	if m.GetDeletionTimestamp() != nil {
		return "", fmt.Errorf("%s %s is being deleted", kind, name)
	}
	return m.GetUID(), nil
}

func deleteObject(ctx context.Context, cl kubernetes.Interface, ns, kind, name string) error {
	return kinds(cl, ns)[kind].del(ctx, name)
}
