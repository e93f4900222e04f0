package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// TestTargetCapabilities: GET /api/v1/targets declares what each kind of
// target can do, derived from its runtime and what berth adds (a Prometheus
// source gives a kubernetes target metrics). ACI runs environments only.
// Nothing here needs a cluster or Azure: the kubernetes targets point at a
// closed port, the ACI one is never called.
func TestTargetCapabilities(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeFile(t, kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: x}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
`)
	conf := filepath.Join(dir, "berth.yaml")
	writeFile(t, conf, `targets:
  - name: local
    type: local
  - name: k8s
    type: kubernetes
    kubeconfig: `+kubeconfig+`
  - name: k8s-prom
    type: kubernetes
    kubeconfig: `+kubeconfig+`
    prometheusURL: http://127.0.0.1:1
  - name: aci-eastus
    type: aci
    region: eastus
`)
	b := StartBerth(t, "", "", "BERTH_CONFIG_FILE="+conf,
		"AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000000", "AZURE_TENANT_ID=00000000-0000-0000-0000-000000000001",
		"AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000002", "AZURE_CLIENT_SECRET=e2e-SECRET-client-secret",
		"AZURE_RESOURCE_GROUP=rg-dev8", "AZURE_STORAGE_ACCOUNT=dev8files", "AZURE_STORAGE_KEY=ZTJlLVNFQ1JFVC1zdG9yYWdlLWtleQ==")
	got := getJSON[api.TargetList](b, "/api/v1/targets")
	const service = "services,environments,scale,restart,rollback,logs,environmentLogs"
	want := map[string]string{
		"local":      service + ",metrics,inventory",
		"k8s":        service + ",inventory,revisions,events",
		"k8s-prom":   service + ",metrics,inventory,revisions,events",
		"aci-eastus": "environments,environmentLogs,inventory",
	}
	for _, tg := range got.Targets {
		if c := joinCaps(tg.Capabilities); c != want[tg.Name] {
			t.Errorf("target %s: capabilities %s, want %s", tg.Name, c, want[tg.Name])
		}
		delete(want, tg.Name)
	}
	if len(want) != 0 {
		t.Errorf("targets missing: %v (answer %s)", want, mustJSON(got))
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func joinCaps(cs []berth.Capability) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return strings.Join(out, ",")
}
