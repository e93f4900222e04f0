package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/shiptools"
	"sigs.k8s.io/yaml"
)

const chart = "helm/berth"

// RenderedArgs are the `helm template` arguments deploy/kubernetes/berth.yaml
// is rendered with: the chart's defaults, with the two generated Secrets
// replaced by Secrets the kubectl user creates (a static file must not
// carry one key for everybody).
var RenderedArgs = []string{"template", "berth", chart, "--namespace", "berth-system",
	"--set", "secretKey.existingSecret=berth-secret-key", "--set", "admin.existingSecret=berth-admin"}

// helmBin is the pinned Helm (tools/helm), built into the cache when missing.
func helmBin(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	var log bytes.Buffer
	bin, err := shiptools.Ensure(ctx, "helm", &log)
	if err != nil {
		t.Fatalf("helm: %v\n%s", err, log.String())
	}
	return bin
}

// helm runs the pinned Helm in deploy/ and returns its output and error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...) // #nosec G204 -- the test's helm command
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

func mustHelm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// objects splits a multi-document YAML stream into objects.
func objects(t *testing.T, stream string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range strings.Split(stream, "\n---") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if o != nil {
			out = append(out, o)
		}
	}
	return out
}

func find(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestHelmLint: helm lint passes for the defaults and for the other value
// sets the chart supports (strict: warnings fail too).
func TestHelmLint(t *testing.T) {
	for name, set := range valueSets {
		args := append([]string{"lint", "--strict", chart}, set...)
		if out, err := helm(t, args...); err != nil {
			t.Errorf("%s: helm lint: %v\n%s", name, err, out)
		}
	}
}

// valueSets are the configurations the chart's tests render and validate.
var valueSets = map[string][]string{
	"defaults":   nil,
	"namespaced": {"--set", "kubernetes.namespaces={team-a,team-b}", "--set", "rbac.ingresses=false"},
	"ha-postgres-ingress-tls": {"--set", "replicaCount=3", "--set", "database.existingSecret=berth-db",
		"--set", "ingress.enabled=true", "--set", "ingress.host=berth.example.com", "--set", "ingress.tls.enabled=true",
		"--set", "ingress.tls.secretName=berth-tls", "--set", "secretKey.existingSecret=berth-key", "--set", "admin.existingSecret=berth-admin"},
	"monitoring": {"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
		"--set", "networkPolicy.enabled=false", "--set", "podDisruptionBudget.enabled=false", "--set", "persistence.enabled=false"},
}

// TestChartRefusesBadValues: the chart fails with a clear message for more
// than one replica without PostgreSQL and for TLS without a Secret, and
// values.schema.json rejects ill-typed and unknown values.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"--set", "replicaCount=2"}, "more than one replica needs PostgreSQL: set database.existingSecret"},
		{[]string{"--set", "ingress.enabled=true", "--set", "ingress.tls.enabled=true"}, "ingress.tls.enabled needs ingress.tls.secretName"},
		{[]string{"--set", "service.type=Magic"}, "/service/type"},
		{[]string{"--set", "replicaCount=two"}, "replicaCount"},
		{[]string{"--set", "persistnce.enabled=false"}, "persistnce"},
		{[]string{"--set", "kubernetes.namespaces={Team_A}"}, "namespaces"},
		{[]string{"--set", "config.targets={}"}, "config"},
	} {
		out, err := helm(t, append([]string{"template", "x", chart}, tc.set...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("helm template %v: err %v, want a failure naming %q:\n%s", tc.set, err, tc.want, out)
		}
	}
	// PostgreSQL lifts the limit.
	mustHelm(t, "template", "x", chart, "--set", "replicaCount=2", "--set", "database.existingSecret=db")
}

// TestRenderedManifestIsTheChart: deploy/kubernetes/berth.yaml is exactly
// `helm template` with RenderedArgs after its header (make deploy-manifest
// writes it).
func TestRenderedManifestIsTheChart(t *testing.T) {
	raw := readFile(t, "kubernetes/berth.yaml")
	i := strings.Index(raw, "\n---\n")
	if i < 0 {
		t.Fatal("deploy/kubernetes/berth.yaml has no header and --- separator")
	}
	if got, want := raw[i+1:], mustHelm(t, RenderedArgs...); got != want {
		t.Errorf("deploy/kubernetes/berth.yaml differs from helm %s: run make deploy-manifest", strings.Join(RenderedArgs, " "))
	}
}

// TestChartRBACIsRBACFile: the ClusterRole the chart renders has exactly
// the rules of deploy/kubernetes/rbac.yaml (which kube's TestRBAC proves
// enough); with namespaces it binds them per namespace, not cluster-wide.
func TestChartRBACIsRBACFile(t *testing.T) {
	want := find(objects(t, readFile(t, "kubernetes/rbac.yaml")), "ClusterRole")
	objs := objects(t, mustHelm(t, "template", "berth", chart, "--namespace", "berth-system"))
	got := find(objs, "ClusterRole")
	if len(want) != 1 || len(got) != 1 || !reflect.DeepEqual(got[0]["rules"], want[0]["rules"]) {
		t.Fatalf("the chart's ClusterRole rules differ from rbac.yaml's:\n%v\n%v", got, want)
	}
	if n := len(find(objs, "ClusterRoleBinding")); n != 1 {
		t.Errorf("%d ClusterRoleBindings by default, want 1", n)
	}
	objs = objects(t, mustHelm(t, append([]string{"template", "berth", chart}, valueSets["namespaced"]...)...))
	rbs := find(objs, "RoleBinding")
	if len(find(objs, "ClusterRoleBinding")) != 0 || len(rbs) != 2 {
		t.Errorf("namespaced: %d RoleBindings and %d ClusterRoleBindings, want 2 and 0", len(rbs), len(find(objs, "ClusterRoleBinding")))
	}
	for _, cr := range find(objs, "ClusterRole") {
		for _, r := range cr["rules"].([]any) {
			if strings.Contains(strings.Join(strs(r.(map[string]any)["resources"]), ","), "ingresses") {
				t.Errorf("rbac.ingresses=false still grants ingresses")
			}
		}
	}
}

// TestPrometheusRuleIsTheRules: the chart's PrometheusRule carries exactly
// deploy/prometheus/rules.yaml (files/rules.yaml is a copy), which promtool
// accepts once taken out of the object.
func TestPrometheusRuleIsTheRules(t *testing.T) {
	if readFile(t, "helm/berth/files/rules.yaml") != readFile(t, "prometheus/rules.yaml") {
		t.Fatal("deploy/helm/berth/files/rules.yaml differs from deploy/prometheus/rules.yaml: copy it")
	}
	objs := objects(t, mustHelm(t, append([]string{"template", "berth", chart}, valueSets["monitoring"]...)...))
	prs := find(objs, "PrometheusRule")
	sms := find(objs, "ServiceMonitor")
	if len(prs) != 1 || len(sms) != 1 {
		t.Fatalf("%d PrometheusRules, %d ServiceMonitors", len(prs), len(sms))
	}
	var rules map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, "prometheus/rules.yaml")), &rules); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(prs[0]["spec"], rules) {
		t.Errorf("PrometheusRule spec differs from rules.yaml")
	}
	spec, err := yaml.Marshal(prs[0]["spec"])
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(p, spec, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ".", tool(t, "promtool", "prometheus"), "check", "rules", p)
	if sms[0]["spec"].(map[string]any)["jobLabel"] != "app.kubernetes.io/name" {
		t.Errorf("ServiceMonitor jobLabel: the rules expect job=\"berth\"")
	}
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
