package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
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

	list := getJSON[api.ServiceList](b, "/api/v1/services?target=kind")
	if len(list.Services) != 1 || list.Services[0].Name != "legacy" || list.Services[0].Managed {
		t.Fatalf("list = %s, want legacy as managed:false", mustJSON(list))
	}
	Eventually(t, 60*time.Second, "legacy at revision 2, RUNNING", func() (bool, string) {
		svc := getJSON[api.ServiceResult](b, path).Service
		return svc.Status == berth.ServiceRunning && svc.Revision == 2 && svc.Spec.Image == "legacy:2", mustJSON(svc)
	})
	Eventually(t, 30*time.Second, "the controller's events in GET", func() (bool, string) {
		evs := getJSON[api.ServiceResult](b, path).Service.Events
		for _, e := range evs {
			if e.Reason == "ScalingReplicaSet" {
				return true, ""
			}
		}
		return false, mustJSON(evs)
	})

	// Logs of every pod through the real pods/log endpoint (kwok serves the
	// file as each pod's output), each line named after its pod.
	logs := kubetest.NewLogFile(t)
	logs.Append(t, time.Now().Add(-time.Minute), "legacy started", "legacy ready")
	cluster.ServeNamespaceLogs(t, ns, logs, nil)
	Eventually(t, 60*time.Second, "legacy's log lines through berth", func() (bool, string) {
		code, m, raw := tryDo[api.ServiceLogs](b, b.Token(), "GET", "/api/v1/services/legacy/logs?target=kind&tail=1", nil)
		if code != 200 || len(m.Lines) != 1 {
			return false, fmt.Sprint(code, " ", string(raw))
		}
		l := m.Lines[0]
		return l.Line == "legacy ready" && strings.HasPrefix(l.Replica, "legacy-"), mustJSON(l)
	})

	// The CLI shows the same, as kubectl describe does.
	cli := exec.Command(berthBin, "svc", "get", ns+"/legacy", "--target", "kind")
	cli.Env = []string{"HOME=" + t.TempDir(), "BERTH_URL=" + b.URL, "BERTH_TOKEN=" + b.Token()}
	out, err := cli.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no (found on the target)") || !strings.Contains(string(out), "ScalingReplicaSet") {
		t.Errorf("berth svc get %s/legacy: %v\n%s", ns, err, out)
	}

	three := 3
	mustDo[api.ServiceResult](b, 200, "POST", path[:len(path)-len("?target=kind")]+"/scale?target=kind", api.ScaleRequest{Replicas: &three})
	if got, _ := deploys.Get(ctx, "legacy", metav1.GetOptions{}); *got.Spec.Replicas != 3 {
		t.Errorf("after scale: replicas = %d, want 3", *got.Spec.Replicas)
	}
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/legacy/restart?target=kind&namespace="+ns, nil)
	if got, _ := deploys.Get(ctx, "legacy", metav1.GetOptions{}); got.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Errorf("after restart: no restartedAt on the template")
	}

	// The controller numbers the restart's ReplicaSet as revision 3.
	Eventually(t, 30*time.Second, "3 revisions (create, image change, restart), the oldest legacy:1", func() (bool, string) {
		revs := getJSON[api.RevisionList](b, "/api/v1/services/legacy/revisions?target=kind")
		l := revs.Revisions
		return len(l) == 3 && l[0].Number == 3 && l[2].Number == 1 && l[2].Spec.Image == "legacy:1", mustJSON(revs)
	})
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/legacy/rollback?target=kind", api.RollbackRequest{Revision: 1})
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
		if code, e := doAs[api.Error](b, b.Token(), c.method, c.path, c.body); code != 409 || e.Error != berth.ECONFLICT {
			t.Errorf("%s %s: %d %+v, want 409 CONFLICT", c.method, c.path, code, e)
		}
	}
	// The generation moves with every spec change (status updates of the
	// rollout in progress move only the resource version).
	after, err := deploys.Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil || after.Generation != before.Generation {
		t.Errorf("a refused request changed the deployment (generation %d → %d, %v)", before.Generation, after.Generation, err)
	}
	if svc := getJSON[api.ServiceResult](b, "/api/v1/services/legacy?target=kind").Service; svc.Managed {
		t.Errorf("after a refused PUT the service is %s", mustJSON(svc))
	}
}
