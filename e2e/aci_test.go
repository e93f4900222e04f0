package e2e

import (
	"strings"
	"testing"
)

// TestACIWiring: Dev8's AZURE_* variables give berth one ACI target per
// region next to local; requests resolve to them by cloudProvider and
// cloudRegion. (The ACI flow itself runs against the SDK's fakes in package
// aci: nothing here calls Azure.)
func TestACIWiring(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "",
		"AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000000", "AZURE_TENANT_ID=00000000-0000-0000-0000-000000000001",
		"AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000002", "AZURE_CLIENT_SECRET=e2e-SECRET-client-secret",
		"AZURE_RESOURCE_GROUP=rg-dev8", "AZURE_STORAGE_ACCOUNT=dev8files", "AZURE_STORAGE_KEY=ZTJlLVNFQ1JFVC1zdG9yYWdlLWtleQ==",
		"AZURE_REGIONS=eastus,westeurope")
	m := b.MustDo(200, "GET", "/api/v1/targets", nil)
	names := []string{}
	for _, tg := range m["targets"].([]any) {
		names = append(names, str(tg.(map[string]any), "name")+"/"+str(tg.(map[string]any), "provider")+"/"+str(tg.(map[string]any), "region"))
	}
	if strings.Join(names, ",") != "aci-eastus/AZURE/eastus,aci-westeurope/AZURE/westeurope,local/LOCAL/" {
		t.Fatalf("targets = %v", names)
	}
	code, e := b.Do(b.Token(), "POST", "/api/v1/environments", map[string]any{"name": "x", "cloudProvider": "AZURE", "cloudRegion": "japaneast"})
	if code != 400 || !strings.Contains(str(e, "message"), "aci-eastus (AZURE eastus)") || !strings.Contains(str(e, "message"), "cloudRegion") {
		t.Errorf("unknown region: %d %v", code, e)
	}
	code, e = b.Do(b.Token(), "POST", "/api/v1/environments", map[string]any{"name": "x", "cloudProvider": "AWS"})
	if code != 501 || e["error"] != "NOT_SUPPORTED" {
		t.Errorf("AWS: %d %v", code, e)
	}
	if strings.Contains(b.stderr.String(), "e2e-SECRET-client-secret") {
		t.Errorf("server log contains the Azure client secret")
	}
}
