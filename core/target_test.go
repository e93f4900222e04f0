package core

import (
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

// infoOnly is a runtime that only describes itself: target resolution is
// pure logic over target descriptions, so no runtime call may happen here.
type infoOnly struct {
	berth.Runtime
	info berth.TargetInfo
}

func (r infoOnly) Info() berth.TargetInfo { return r.info }

func TestResolveTarget(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Store: nilStore{}, Runtimes: []berth.Runtime{
		infoOnly{info: berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}},
		infoOnly{info: berth.TargetInfo{Name: "aci-eastus", Provider: berth.ProviderAzure, Region: "eastus"}},
		infoOnly{info: berth.TargetInfo{Name: "aci-westeurope", Provider: berth.ProviderAzure, Region: "westeurope"}},
		infoOnly{info: berth.TargetInfo{Name: "prod", Provider: berth.ProviderKubernetes}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		target, provider, region string
		want                     string // target name, or error code
	}{
		{"", "", "", "local"},
		{"prod", "", "", "prod"},
		{"prod", berth.ProviderAzure, "eastus", "prod"}, // explicit target wins
		{"", berth.ProviderAzure, "eastus", "aci-eastus"},
		{"", berth.ProviderAzure, "WestEurope", "aci-westeurope"},
		{"", berth.ProviderAzure, "", "aci-eastus"},
		{"", berth.ProviderAzure, "japaneast", string(berth.EINVALID)},
		{"", berth.ProviderKubernetes, "anywhere", "prod"}, // region-less target serves any region
		{"", berth.ProviderLocal, "", "local"},
		{"", berth.ProviderAWS, "us-east-1", string(berth.ENOTSUPPORTED)},
		{"mars", "", "", string(berth.EINVALID)},
	}
	for _, tc := range cases {
		rt, err := c.resolveTarget(tc.target, tc.provider, tc.region)
		got := ""
		if err != nil {
			got = string(berth.ErrorCode(err))
			if got == string(berth.EINVALID) && !strings.Contains(berth.ErrorMessage(err), "aci-eastus (AZURE eastus)") {
				t.Errorf("%+v: error does not list the configured targets: %s", tc, berth.ErrorMessage(err))
			}
		} else {
			got = rt.Info().Name
		}
		if got != tc.want {
			t.Errorf("resolve(%q, %q, %q) = %s, want %s", tc.target, tc.provider, tc.region, got, tc.want)
		}
	}
	if _, err := New(Config{Store: nilStore{}, DefaultTarget: "nope", Runtimes: []berth.Runtime{
		infoOnly{info: berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}}}}); err == nil {
		t.Error("an unknown default target was accepted")
	}
}

// nilStore satisfies the type for tests that never touch the store.
type nilStore struct{ berth.Store }
