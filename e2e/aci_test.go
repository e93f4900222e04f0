package e2e

import (
	"strings"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
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
	m := getJSON[api.TargetList](b, "/api/v1/targets")
	names := []string{}
	for _, tg := range m.Targets {
		names = append(names, tg.Name+"/"+tg.Provider+"/"+tg.Region)
	}
	if strings.Join(names, ",") != "aci-eastus/AZURE/eastus,aci-westeurope/AZURE/westeurope,local/LOCAL/" {
		t.Fatalf("targets = %v", names)
	}
	code, e := doAs[api.Error](b, b.Token(), "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "x", CloudProvider: "AZURE", CloudRegion: "japaneast"})
	if code != 400 || !strings.Contains(e.Message, "aci-eastus (AZURE eastus)") || !strings.Contains(e.Message, "cloudRegion") {
		t.Errorf("unknown region: %d %+v", code, e)
	}
	code, e = doAs[api.Error](b, b.Token(), "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "x", CloudProvider: "AWS"})
	if code != 501 || e.Error != berth.ENOTSUPPORTED {
		t.Errorf("AWS: %d %+v", code, e)
	}
	if strings.Contains(b.stderr.String(), "e2e-SECRET-client-secret") {
		t.Errorf("server log contains the Azure client secret")
	}
}
