package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/internal/shiptools"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// helmCmd runs the pinned Helm (tools/helm, built into the cache when
// missing) against the cluster.
func helmCmd(t *testing.T, c *kubetest.Cluster, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	var log bytes.Buffer
	bin, err := shiptools.Ensure(ctx, "helm", &log)
	if err != nil {
		t.Fatalf("helm: %v\n%s", err, log.String())
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...) // #nosec G204 -- the test's helm command
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustHelm(t *testing.T, c *kubetest.Cluster, args ...string) string {
	t.Helper()
	out, err := helmCmd(t, c, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestHelmChartOnCluster checks deploy/helm/berth against a real API
// server: the templates of several value sets pass server-side dry-run
// (every object validated by the API server); helm install, then helm
// upgrade keeps the generated secret key and admin password; berth run with
// the token of the ServiceAccount the chart created (TokenRequest) does
// the runtime operations of the kube e2e tests on a watched namespace:
// create, scale, stop, start, update, rollback, events, logs, inventory,
// an environment, delete; and with the chart's pods/log rule removed from
// its ClusterRole, logs fail as forbidden.
func TestHelmChartOnCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	chart := filepath.Join(repoRoot(t), "deploy", "helm", "berth")

	t.Run("server-side dry-run", func(t *testing.T) {
		a, b := cluster.Namespace(t), cluster.Namespace(t)
		for name, set := range map[string][]string{
			"defaults":   nil,
			"namespaced": {"--set", "kubernetes.namespaces={" + a + "," + b + "}", "--set", "rbac.ingresses=false"},
			"ha-postgres-ingress-tls": {"--set", "replicaCount=3", "--set", "database.existingSecret=berth-db",
				"--set", "ingress.enabled=true", "--set", "ingress.host=berth.example.com", "--set", "ingress.tls.enabled=true",
				"--set", "ingress.tls.secretName=berth-tls", "--set", "secretKey.existingSecret=k", "--set", "admin.existingSecret=a"},
			"no-extras": {"--set", "networkPolicy.enabled=false", "--set", "podDisruptionBudget.enabled=false",
				"--set", "persistence.enabled=false", "--set", "topologySpread.enabled=false"},
		} {
			ns := cluster.Namespace(t)
			out := mustHelm(t, cluster, append([]string{"template", "dry-" + name, chart, "--namespace", ns}, set...)...)
			f := filepath.Join(t.TempDir(), "all.yaml")
			if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			res := cluster.Kubectl(t, "apply", "--dry-run=server", "-f", f)
			if n := strings.Count(res, "(server dry run)"); n < 8 {
				t.Errorf("%s: %d objects accepted by the API server:\n%s", name, n, res)
			}
		}
	})

	ns, work := cluster.Namespace(t), cluster.Namespace(t)
	secrets := cluster.Client.CoreV1().Secrets(ns)
	secretData := func(name, key string) string {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("secret %s: %v", name, err)
		}
		return string(s.Data[key])
	}
	mustHelm(t, cluster, "install", "berth", chart, "--namespace", ns, "--set", "kubernetes.namespaces={"+work+"}")
	key, pw := secretData("berth-secret-key", "secret-key"), secretData("berth-admin", "password")
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 32 || len(pw) != 24 {
		t.Fatalf("generated secret key %d bytes (%v), admin password %d characters", len(raw), err, len(pw))
	}
	mustHelm(t, cluster, "upgrade", "berth", chart, "--namespace", ns, "--set", "kubernetes.namespaces={"+work+"}",
		"--set", "config.logLevel=debug")
	if secretData("berth-secret-key", "secret-key") != key || secretData("berth-admin", "password") != pw {
		t.Fatal("helm upgrade replaced the generated secret key or admin password")
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "berth", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["berth.yaml"], "logLevel: debug") || !strings.Contains(cm.Data["berth.yaml"], work) {
		t.Fatalf("berth.yaml after the upgrade: %v %q", err, cm.Data["berth.yaml"])
	}
	if rev := cluster.Kubectl(t, "-n", ns, "get", "secret", "-l", "owner=helm,name=berth", "-o", "name"); strings.Count(rev, "\n") != 1 {
		t.Errorf("helm release revisions: %q, want 2", rev)
	}

	// berth with the chart's ServiceAccount: a token from TokenRequest.
	tr, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "berth",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for the chart's ServiceAccount: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "sa.kubeconfig")
	ca := cluster.Config.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(cluster.Config.CAFile); err != nil { // #nosec G304 -- the test cluster's CA
			t.Fatal(err)
		}
	}
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"+
		"users:\n- name: berth\n  user:\n    token: %s\ncontexts:\n- name: c\n  context: {cluster: c, user: berth}\ncurrent-context: c\n",
		cluster.Config.Host, base64.StdEncoding.EncodeToString(ca), tr.Status.Token)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    defaultNamespace: %s\n",
		kubeconfig, work, work))
	runtimeOperations(t, ctx, cluster, b, work)

	// One rule less: the ClusterRole without pods/log. Logs are refused.
	role := ns + "-berth"
	cluster.Kubectl(t, "patch", "clusterrole", role, "--type=json", "-p", `[{"op":"remove","path":"/rules/4"}]`)
	if got := cluster.Kubectl(t, "get", "clusterrole", role, "-o", "jsonpath={.rules[*].resources}"); strings.Contains(got, "pods/log") {
		t.Fatalf("the patch left pods/log: %s", got)
	}
	Eventually(t, 30*time.Second, "logs refused without the pods/log rule", func() (bool, string) {
		code, m := b.Do(b.Token(), "GET", "/api/v1/services/web/logs?target=kind&tail=1", nil)
		return code >= 400 && strings.Contains(strings.ToLower(fmt.Sprint(m)), "forbidden"), fmt.Sprint(code, m)
	})
	b.MustDo(200, "DELETE", "/api/v1/services/web?target=kind", nil)
	Eventually(t, 30*time.Second, "web deleted", func() (bool, string) {
		_, err := cluster.Client.AppsV1().Deployments(work).Get(ctx, "web", metav1.GetOptions{})
		return err != nil, fmt.Sprint(err)
	})
}

// runtimeOperations drives berth through the operations of the kube e2e
// tests in namespace ns, checking each effect with the cluster's client.
func runtimeOperations(t *testing.T, ctx context.Context, cluster *kubetest.Cluster, b *Berth, ns string) {
	t.Helper()
	q := "?target=kind"
	deploys := cluster.Client.AppsV1().Deployments(ns)
	replicas := func() int32 {
		d, err := deploys.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return -1
		}
		return *d.Spec.Replicas
	}
	spec := func(image string) map[string]any {
		return map[string]any{"target": "kind", "namespace": ns, "image": image, "replicas": 2,
			"ports": []map[string]any{{"name": "http", "port": 80}}, "secrets": map[string]string{"TOKEN": "helm-SECRET-token"},
			"config": map[string]any{"files": map[string]string{"app.conf": "a=1"}}}
	}
	b.MustDo(201, "PUT", "/api/v1/services/web"+q, spec("nginx:1.27"))
	Eventually(t, 60*time.Second, "web RUNNING 2/2", func() (bool, string) {
		m := b.MustDo(200, "GET", "/api/v1/services/web"+q, nil)
		return str(m, "service", "status") == "RUNNING" && num(m, "service", "readyReplicas") == 2, str(m, "service", "status")
	})
	b.MustDo(200, "POST", "/api/v1/services/web/scale"+q, map[string]int{"replicas": 3})
	if r := replicas(); r != 3 {
		t.Errorf("after scale: %d replicas", r)
	}
	b.MustDo(200, "POST", "/api/v1/services/web/stop"+q, nil)
	if r := replicas(); r != 0 {
		t.Errorf("after stop: %d replicas", r)
	}
	b.MustDo(200, "POST", "/api/v1/services/web/start"+q, nil)
	if r := replicas(); r != 3 {
		t.Errorf("after start: %d replicas", r)
	}
	b.MustDo(200, "PUT", "/api/v1/services/web"+q, spec("nginx:1.28"))
	Eventually(t, 30*time.Second, "rollback to revision 1", func() (bool, string) {
		code, m := b.Do(b.Token(), "POST", "/api/v1/services/web/rollback"+q, map[string]int{"revision": 1})
		return code == 200, fmt.Sprint(code, m)
	})
	if d, err := deploys.Get(ctx, "web", metav1.GetOptions{}); err != nil || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("after rollback: %v", err)
	}
	logs := kubetest.NewLogFile(t)
	logs.Append(t, time.Now().Add(-time.Minute), "web started", "web ready")
	cluster.ServeNamespaceLogs(t, ns, logs, nil)
	Eventually(t, 60*time.Second, "web's log lines through berth", func() (bool, string) {
		code, m := b.Do(b.Token(), "GET", "/api/v1/services/web/logs"+q+"&tail=1", nil)
		lines, _ := m["lines"].([]any)
		return code == 200 && len(lines) == 1 && str(lines[0].(map[string]any), "line") == "web ready", fmt.Sprint(code, m)
	})
	Eventually(t, 30*time.Second, "events and the inventory", func() (bool, string) {
		m := b.MustDo(200, "GET", "/api/v1/services/web"+q, nil)
		evs, _ := m["service"].(map[string]any)["events"].([]any)
		inv := b.MustDo(200, "GET", "/api/v1/infrastructure?target=kind", nil)
		return len(evs) > 0 && strings.Contains(fmt.Sprint(inv), "web"), fmt.Sprint(len(evs), inv)
	})
	env := b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "helm-env", "cloudProvider": "KUBERNETES"})
	id := str(env, "environment", "id")
	Eventually(t, 60*time.Second, "the environment's Deployment in "+ns, func() (bool, string) {
		_, err := deploys.Get(ctx, id, metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	b.MustDo(200, "DELETE", "/api/v1/environments/"+id, nil)
	Eventually(t, 60*time.Second, "the environment's Deployment gone", func() (bool, string) {
		_, err := deploys.Get(ctx, id, metav1.GetOptions{})
		return err != nil, fmt.Sprint(err)
	})
}
