package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestAlertRulesAndDashboardUseExportedMetrics scrapes a real berth (a
// running service, an ACI target beside local so the throttling counter is
// there) and fails when deploy/prometheus/rules.yaml or
// deploy/grafana/berth.json names a metric that /metrics does not export.
// It also reads the values the alerts depend on: this replica leads, the
// local target is up, the service's ready and desired replicas are 1.
func TestAlertRulesAndDashboardUseExportedMetrics(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_METRICS_INTERVAL=1s",
		"AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000000", "AZURE_TENANT_ID=00000000-0000-0000-0000-000000000001",
		"AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000002", "AZURE_CLIENT_SECRET=e2e-SECRET-client-secret",
		"AZURE_RESOURCE_GROUP=rg-dev8", "AZURE_STORAGE_ACCOUNT=dev8files", "AZURE_STORAGE_KEY=ZTJlLVNFQ1JFVC1zdG9yYWdlLWtleQ==",
		"AZURE_REGIONS=eastus")
	b.MustDo(201, "PUT", "/api/v1/services/alerted", map[string]any{"command": []string{"sleep", "600"}})
	var body string
	Eventually(t, 60*time.Second, "the service's series on /metrics", func() (bool, string) {
		code, raw := b.DoRaw("", "GET", "/metrics", nil)
		body = string(raw)
		return code == 200 && strings.Contains(body, `berth_service_ready_replicas{namespace="",service="alerted",target="local"} 1`) &&
			strings.Contains(body, `container_cpu_usage_seconds_total{container="alerted"`), body
	})
	for _, want := range []string{
		"berth_leader 1", `berth_target_up{target="local"} 1`, `berth_target_up{target="aci-eastus"} 0`,
		`berth_service_desired_replicas{namespace="",service="alerted",target="local"} 1`,
		`berth_target_throttled_total{target="aci-eastus"} 0`, "berth_ws_clients 0", "berth_ws_clients_dropped_total 0",
		`container_memory_working_set_bytes{container="alerted",namespace="local"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	exported := exportedNames(body)
	exported["up"] = true // Prometheus's own series for every scrape
	root := repoRoot(t)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "rules.yaml"), &rules)
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	readYAML(t, filepath.Join(root, "deploy", "grafana", "berth.json"), &dash)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions read from the rules and the dashboard", len(exprs))
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, n := range metricNames(e) {
			used[n] = true
			if !exported[n] {
				t.Errorf("%q uses metric %s, which berth's /metrics does not export", e, n)
			}
		}
	}
	if !used["berth_service_ready_replicas"] || !used["berth_http_request_duration_seconds_bucket"] {
		t.Errorf("the name extraction missed metrics: %v", used)
	}
}

// exportedNames lists the metric names of a text exposition, with the
// _bucket/_sum/_count series of histograms and summaries.
func exportedNames(body string) map[string]bool {
	names := map[string]bool{}
	for line := range strings.SplitSeq(body, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			switch f[3] {
			case "histogram":
				names[f[2]+"_bucket"], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
			case "summary":
				names[f[2]+"_sum"], names[f[2]+"_count"] = true, true
			}
		}
	}
	return names
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promBraces   = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promNumber   = regexp.MustCompile(`\b\d+(\.\d+)?(e[+-]?\d+)?\b`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames extracts the metric names a PromQL expression selects: what
// is left once strings, label matchers, ranges, grouping clauses, function
// calls and keywords are taken out.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promBraces.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promNumber.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	for _, m := range promIdent.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") || promKeywords[strings.ToLower(m)] {
			continue // a function or aggregation
		}
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path) // #nosec G304 -- a file of the repository
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".json") {
		err = json.Unmarshal(raw, v)
	} else {
		err = yaml.Unmarshal(raw, v)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// repoRoot is the checkout the test runs from (e2e's parent).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}
