package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubernetesUnmanaged: a Deployment made with client-go (not berth) is a
// service of the target: listed as managed:false, readable by namespace/name,
// scaled, restarted and rolled back through berth (each effect read back from
// the cluster), its revisions and events shown; changing or deleting it, or
// PUTting its name, is refused and changes nothing.
func TestKubernetesUnmanaged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)
	deploys := cluster.Client.AppsV1().Deployments(ns)

	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: ns, Labels: map[string]string{"app": "legacy"}},
		Spec: appsv1.DeploymentSpec{Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "legacy"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "legacy:1"}}}}}}
	if _, err := deploys.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A second revision, as a CI pipeline outside berth would roll out.
	cluster.Kubectl(t, "-n", ns, "set", "image", "deployment/legacy", "app=legacy:2")

	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: local\n    type: local\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n",
		cluster.Kubeconfig, ns))
	path := "/api/v1/services/" + ns + "%2Flegacy?target=kind"

	list := b.MustDo(200, "GET", "/api/v1/services?target=kind", nil)
	svcs, _ := list["services"].([]any)
	if len(svcs) != 1 || str(svcs[0].(map[string]any), "name") != "legacy" || svcs[0].(map[string]any)["managed"] != false {
		t.Fatalf("list = %v, want legacy as managed:false", list)
	}
	Eventually(t, 60*time.Second, "legacy at revision 2, RUNNING", func() (bool, string) {
		m := b.MustDo(200, "GET", path, nil)
		return str(m, "service", "status") == "RUNNING" && num(m, "service", "revision") == 2 &&
			str(m, "service", "spec", "image") == "legacy:2", fmt.Sprint(m["service"])
	})
	Eventually(t, 30*time.Second, "the controller's events in GET", func() (bool, string) {
		m := b.MustDo(200, "GET", path, nil)
		evs, _ := m["service"].(map[string]any)["events"].([]any)
		for _, e := range evs {
			if str(e.(map[string]any), "reason") == "ScalingReplicaSet" {
				return true, ""
			}
		}
		return false, fmt.Sprint(evs)
	})

	// Logs of every pod through the real pods/log endpoint (kwok serves the
	// file as each pod's output), each line named after its pod.
	logs := kubetest.NewLogFile(t)
	logs.Append(t, time.Now().Add(-time.Minute), "legacy started", "legacy ready")
	cluster.ServeNamespaceLogs(t, ns, logs, nil)
	Eventually(t, 60*time.Second, "legacy's log lines through berth", func() (bool, string) {
		code, m := b.Do(b.Token(), "GET", "/api/v1/services/legacy/logs?target=kind&tail=1", nil)
		lines, _ := m["lines"].([]any)
		if code != 200 || len(lines) != 1 {
			return false, fmt.Sprint(code, m)
		}
		l := lines[0].(map[string]any)
		return str(l, "line") == "legacy ready" && strings.HasPrefix(str(l, "replica"), "legacy-"), fmt.Sprint(l)
	})

	// The CLI shows the same, as kubectl describe does.
	cli := exec.Command(berthBin, "svc", "get", ns+"/legacy", "--target", "kind")
	cli.Env = []string{"HOME=" + t.TempDir(), "BERTH_URL=" + b.URL, "BERTH_TOKEN=" + b.Token()}
	out, err := cli.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no (found on the target)") || !strings.Contains(string(out), "ScalingReplicaSet") {
		t.Errorf("berth svc get %s/legacy: %v\n%s", ns, err, out)
	}

	b.MustDo(200, "POST", path[:len(path)-len("?target=kind")]+"/scale?target=kind", map[string]int{"replicas": 3})
	if got, _ := deploys.Get(ctx, "legacy", metav1.GetOptions{}); *got.Spec.Replicas != 3 {
		t.Errorf("after scale: replicas = %d, want 3", *got.Spec.Replicas)
	}
	b.MustDo(200, "POST", "/api/v1/services/legacy/restart?target=kind&namespace="+ns, nil)
	if got, _ := deploys.Get(ctx, "legacy", metav1.GetOptions{}); got.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Errorf("after restart: no restartedAt on the template")
	}

	// The controller numbers the restart's ReplicaSet as revision 3.
	Eventually(t, 30*time.Second, "3 revisions (create, image change, restart), the oldest legacy:1", func() (bool, string) {
		revs := b.MustDo(200, "GET", "/api/v1/services/legacy/revisions?target=kind", nil)
		l, _ := revs["revisions"].([]any)
		return len(l) == 3 && num(l[0].(map[string]any), "revision") == 3 && num(l[2].(map[string]any), "revision") == 1 &&
			str(l[2].(map[string]any), "spec", "image") == "legacy:1", fmt.Sprint(revs)
	})
	b.MustDo(200, "POST", "/api/v1/services/legacy/rollback?target=kind", map[string]int{"revision": 1})
	Eventually(t, 30*time.Second, "template rolled back to legacy:1 in the cluster", func() (bool, string) {
		got, err := deploys.Get(ctx, "legacy", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Spec.Template.Spec.Containers[0].Image == "legacy:1", got.Spec.Template.Spec.Containers[0].Image
	})

	before, _ := deploys.Get(ctx, "legacy", metav1.GetOptions{})
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/v1/services/legacy?target=kind&namespace=" + ns, map[string]any{"target": "kind", "namespace": ns, "image": "mine:1"}},
		{"PUT", "/api/v1/services/legacy/config?target=kind", map[string]any{"files": map[string]string{"a": "b"}}},
		{"DELETE", "/api/v1/services/legacy?target=kind", nil},
	} {
		if code, m := b.Do(b.Token(), c.method, c.path, c.body); code != 409 {
			t.Errorf("%s %s: %d %v, want 409 CONFLICT", c.method, c.path, code, m)
		}
	}
	// The generation moves with every spec change (status updates of the
	// rollout in progress move only the resource version).
	after, err := deploys.Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil || after.Generation != before.Generation {
		t.Errorf("a refused request changed the deployment (generation %d → %d, %v)", before.Generation, after.Generation, err)
	}
	m := b.MustDo(200, "GET", "/api/v1/services/legacy?target=kind", nil)
	if m["service"].(map[string]any)["managed"] != false {
		t.Errorf("after a refused PUT the service is %v", m["service"])
	}
}
