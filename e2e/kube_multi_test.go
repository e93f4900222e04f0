package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// sameNamespace creates namespace ns on c (whose cleanup is c.Stop) and
// waits for its default service account.
func sameNamespace(t *testing.T, ctx context.Context, c *kubetest.Cluster, ns string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := kubetest.Eventually(wctx, func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		t.Fatalf("namespace %s: %v", ns, err)
	}
}

// createLegacy creates a Deployment with client-go, as someone else than berth would.
func createLegacy(t *testing.T, ctx context.Context, c *kubetest.Cluster, ns, name string, labels map[string]string) {
	t.Helper()
	sel := map[string]string{"app": name}
	_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
}

// deploySnapshot is what must not change on a cluster berth was not asked to touch.
type deploySnapshot struct {
	replicas        int32
	annotations     string
	resourceVersion string
}

func snapshot(t *testing.T, ctx context.Context, c *kubetest.Cluster, ns, name string) deploySnapshot {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s/%s: %v", ns, name, err)
	}
	return deploySnapshot{*d.Spec.Replicas, fmt.Sprint(d.Annotations), d.ResourceVersion}
}

// TestKubernetesMultiCluster: one berth, two clusters as targets "east" and
// "west", a service "web" in the same namespace of both. Every action on
// one leaves the other cluster's Deployment exactly as it was, and a
// cluster going down makes only its own target unavailable.
func TestKubernetesMultiCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	east := startCluster(t, ctx)
	west := startCluster(t, ctx)
	ns := east.Namespace(t)
	sameNamespace(t, ctx, west, ns)

	yaml := "targets:\n  - name: local\n    type: local\n"
	for name, c := range map[string]*kubetest.Cluster{"east": east, "west": west} {
		yaml += fmt.Sprintf("  - name: %s\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    defaultNamespace: %s\n",
			name, c.Kubeconfig, ns, ns)
	}
	b := startBerthWith(t, yaml)
	on := func(target string) string { return "?target=" + target + "&namespace=" + ns }
	step := steps(t, b.use)
	// west's Deployment as it was before anything acted on east.
	var before deploySnapshot
	untouched := func(t *testing.T, after string) {
		t.Helper()
		if now := snapshot(t, ctx, west, ns, "web"); now != before {
			t.Errorf("west's deployment changed after %s on east: %+v, was %+v", after, now, before)
		}
	}

	step("web on both targets", func(t *testing.T) {
		for target, replicas := range map[string]int{"east": 2, "west": 1} {
			b.MustDo(201, "PUT", "/api/v1/services/web"+on(target), map[string]any{"target": target, "namespace": ns,
				"image": "nginx:1.27", "replicas": replicas, "ports": []map[string]any{{"name": "http", "port": 80}}})
		}
		for target, replicas := range map[string]int{"east": 2, "west": 1} {
			Eventually(t, 60*time.Second, "web RUNNING on "+target, func() (bool, string) {
				m := b.MustDo(200, "GET", "/api/v1/services/web"+on(target), nil)
				return str(m, "service", "status") == "RUNNING" && num(m, "service", "readyReplicas") == replicas &&
					str(m, "service", "target") == target, fmt.Sprint(m["service"])
			})
		}
		if code, m := b.Do(b.Token(), "GET", "/api/v1/services/web", nil); code != 409 || !strings.Contains(str(m, "message"), "east") ||
			!strings.Contains(str(m, "message"), "west") {
			t.Errorf("web without a target: %d %v, want CONFLICT naming both targets", code, m)
		}
	})

	// Side by side: the service list and the inventory show both, and a
	step("side by side", func(t *testing.T) {
		// Deployment berth did not create on east only.
		createLegacy(t, ctx, east, ns, "legacy", nil)
		Eventually(t, 60*time.Second, "services side by side", func() (bool, string) {
			list := b.MustDo(200, "GET", "/api/v1/services", nil)
			seen := map[string]string{}
			for _, s := range list["services"].([]any) {
				m := s.(map[string]any)
				seen[str(m, "target")+" "+str(m, "namespace")+"/"+str(m, "name")] = str(m, "replicas") + " managed=" + str(m, "managed")
			}
			want := map[string]string{"east " + ns + "/web": "2 managed=true", "west " + ns + "/web": "1 managed=true",
				"east " + ns + "/legacy": "1 managed=false"}
			for k, w := range want {
				if seen[k] != w {
					return false, fmt.Sprint(seen)
				}
			}
			return len(seen) == len(want), fmt.Sprint(seen)
		})
		inv := b.MustDo(200, "GET", "/api/v1/infrastructure", nil)
		reachable := map[string]string{}
		for _, ts := range inv["targets"].([]any) {
			reachable[str(ts.(map[string]any), "name")] = str(ts.(map[string]any), "reachable")
		}
		if reachable["east"] != "true" || reachable["west"] != "true" {
			t.Errorf("inventory targets = %v", inv["targets"])
		}
		deployments := map[string]map[string]any{}
		for _, r := range inv["resources"].([]any) {
			m := r.(map[string]any)
			if str(m, "type") == "deployment" && str(m, "id") == ns+"/web" {
				deployments[str(m, "target")] = m
			}
		}
		for target, replicas := range map[string]string{"east": "2", "west": "1"} {
			d := deployments[target]
			if d == nil || str(d, "managed") != "true" || str(d, "berthKind") != "service" || str(d, "berthId") != "web" ||
				str(d, "orphaned") != "" || str(d, "details", "replicas") != replicas {
				t.Errorf("inventory deployment %s/web on %s = %v", ns, target, d)
			}
		}
	})

	// Scale, stop, start and delete on east: west's Deployment is untouched.
	step("actions on east leave west alone", func(t *testing.T) {
		before = snapshot(t, ctx, west, ns, "web")
		eastReplicas := func() (int32, map[string]string) {
			d, err := east.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return -1, nil
			}
			if err != nil {
				t.Fatalf("get east deployment: %v", err)
			}
			return *d.Spec.Replicas, d.Annotations
		}
		b.MustDo(200, "POST", "/api/v1/services/web/scale"+on("east"), map[string]int{"replicas": 3})
		if r, _ := eastReplicas(); r != 3 {
			t.Errorf("east after scale: %d replicas", r)
		}
		untouched(t, "scale")
		b.MustDo(200, "POST", "/api/v1/services/web/stop"+on("east"), nil)
		if r, ann := eastReplicas(); r != 0 || ann["berth.dev/replicas-before-stop"] != "3" {
			t.Errorf("east after stop: %d replicas, annotations %v", r, ann)
		}
		untouched(t, "stop")
		b.MustDo(200, "POST", "/api/v1/services/web/start"+on("east"), nil)
		if r, _ := eastReplicas(); r != 3 {
			t.Errorf("east after start: %d replicas", r)
		}
		untouched(t, "start")
		if m := b.MustDo(200, "GET", "/api/v1/services/web"+on("west"), nil); num(m, "service", "replicas") != 1 {
			t.Errorf("west web through berth: %v", m["service"])
		}
		b.MustDo(200, "DELETE", "/api/v1/services/web"+on("east"), nil)
		Eventually(t, 60*time.Second, "east deployment deleted", func() (bool, string) {
			r, _ := eastReplicas()
			return r == -1, fmt.Sprint(r)
		})
		untouched(t, "delete")
		if code, m := b.Do(b.Token(), "GET", "/api/v1/services/web"+on("east"), nil); code != 404 {
			t.Errorf("east web after delete: %d %v", code, m)
		}
	})

	// The inventory acts on one target: an orphan on west goes, west's live
	step("the inventory acts on one target", func(t *testing.T) {
		// service is refused, and east is not asked.
		createLegacy(t, ctx, west, ns, "ghost", map[string]string{
			"app.kubernetes.io/managed-by": "berth", "berth.dev/kind": "service", "berth.dev/id": "ghost"})
		Eventually(t, 60*time.Second, "orphan ghost in west's inventory", func() (bool, string) {
			m := b.MustDo(200, "GET", "/api/v1/infrastructure?type=deployment", nil)
			for _, r := range m["resources"].([]any) {
				r := r.(map[string]any)
				if str(r, "target") == "west" && str(r, "id") == ns+"/ghost" {
					return str(r, "orphaned") == "true", fmt.Sprint(r)
				}
			}
			return false, "not listed"
		})
		ghostID := url.PathEscape(ns + "/ghost")
		webID := url.PathEscape(ns + "/web")
		if code, m := b.Do(b.Token(), "DELETE", "/api/v1/infrastructure/deployment/"+webID+"?target=west", nil); code != 409 {
			t.Errorf("delete west's live web through the inventory: %d %v, want 409", code, m)
		}
		untouched(t, "a refused inventory delete")
		b.MustDo(200, "POST", "/api/v1/infrastructure/deployment/"+ghostID+"/stop?target=west", nil)
		if d, err := west.Client.AppsV1().Deployments(ns).Get(ctx, "ghost", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 0 ||
			d.Annotations["berth.dev/replicas-before-stop"] != "1" {
			t.Errorf("ghost after an inventory stop: %v %+v", err, d)
		}
		b.MustDo(200, "DELETE", "/api/v1/infrastructure/deployment/"+ghostID+"?target=west", nil)
		Eventually(t, 60*time.Second, "ghost deleted on west", func() (bool, string) {
			_, err := west.Client.AppsV1().Deployments(ns).Get(ctx, "ghost", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		untouched(t, "an inventory delete of another deployment")
	})

	// West goes down: only west is unavailable.
	step("west down", func(t *testing.T) {
		b.MustDo(201, "PUT", "/api/v1/services/api"+on("east"), map[string]any{"target": "east", "namespace": ns, "image": "nginx:1.27", "replicas": 1})
		Eventually(t, 60*time.Second, "api RUNNING on east", func() (bool, string) {
			m := b.MustDo(200, "GET", "/api/v1/services/api"+on("east"), nil)
			return str(m, "service", "status") == "RUNNING", fmt.Sprint(m["service"])
		})
		west.Stop()
		Eventually(t, 60*time.Second, "west unavailable", func() (bool, string) {
			code, m := b.Do(b.Token(), "GET", "/api/v1/services?target=west", nil)
			return code == 503 && str(m, "error") == "UNAVAILABLE" && strings.Contains(str(m, "message"), `"west"`), fmt.Sprint(code, m)
		})
		// Reading one service of west needs west: 503 naming it; the list of
		// every target keeps the stored record, with the reason as its message.
		if code, m := b.Do(b.Token(), "GET", "/api/v1/services/web"+on("west"), nil); code != 503 || !strings.Contains(str(m, "message"), `"west"`) {
			t.Errorf("GET west's web while west is down: %d %v, want 503 naming west", code, m)
		}
		if code, m := b.Do(b.Token(), "POST", "/api/v1/services/web/scale"+on("west"), map[string]int{"replicas": 2}); code != 503 ||
			str(m, "error") != "UNAVAILABLE" || !strings.Contains(str(m, "message"), `"west"`) {
			t.Errorf("scale west's web while west is down: %d %v, want 503 naming west", code, m)
		}
		if m := b.MustDo(200, "GET", "/api/v1/services/api"+on("east"), nil); str(m, "service", "status") != "RUNNING" {
			t.Errorf("east's api while west is down: %v", m["service"])
		}
		code, ready := b.Do("", "GET", "/readyz", nil)
		if code != 503 || str(ready, "checks", "target:west", "status") != "down" || str(ready, "checks", "target:west", "error") != "unreachable" ||
			str(ready, "checks", "target:east", "status") != "ok" || str(ready, "checks", "store", "status") != "ok" {
			t.Errorf("/readyz with west down: %d %v", code, ready)
		}
		inv := b.MustDo(200, "GET", "/api/v1/infrastructure", nil)
		for _, ts := range inv["targets"].([]any) {
			m := ts.(map[string]any)
			switch str(m, "name") {
			case "west":
				if str(m, "reachable") != "false" || !strings.Contains(str(m, "error"), "west") {
					t.Errorf("inventory target west while down: %v", m)
				}
			case "east":
				if str(m, "reachable") != "true" {
					t.Errorf("inventory target east while west is down: %v", m)
				}
			}
		}
		eastAPI := false
		for _, r := range inv["resources"].([]any) {
			m := r.(map[string]any)
			if str(m, "target") == "west" && str(m, "type") != "service" {
				t.Errorf("inventory lists %v of the unreachable west", m)
			}
			if str(m, "target") == "east" && str(m, "type") == "deployment" && str(m, "id") == ns+"/api" {
				eastAPI = true
			}
		}
		if !eastAPI {
			t.Errorf("inventory while west is down has no deployment api on east: %v", inv["resources"])
		}
		// The whole list still answers, with what west was last known to run.
		list := b.MustDo(200, "GET", "/api/v1/services", nil)
		listed := map[string]string{}
		for _, s := range list["services"].([]any) {
			m := s.(map[string]any)
			listed[str(m, "target")+" "+str(m, "name")] = str(m, "status")
		}
		if listed["east api"] != "RUNNING" || listed["east legacy"] == "" || listed["west web"] == "" {
			t.Errorf("GET /services while west is down: %v", listed)
		}
		// …and says which target it could not ask.
		if u, _ := list["unreachable"].([]any); len(u) != 1 || str(u[0].(map[string]any), "name") != "west" ||
			!strings.Contains(str(u[0].(map[string]any), "error"), "west") {
			t.Errorf("GET /services while west is down: unreachable = %v, want west", list["unreachable"])
		}
		b.MustDo(200, "POST", "/api/v1/services/api/scale"+on("east"), map[string]int{"replicas": 2})
		if d, err := east.Client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 2 {
			t.Errorf("east's api after a scale while west is down: %v %+v", err, d)
		}
	})
}
