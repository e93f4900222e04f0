// Package deploy holds the tests of what berth ships besides its binary:
// alert rules, the Grafana dashboard, the Helm chart, the image and packages.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// tool finds a program the checks run, or skips (fails under CI=true)
// naming the Debian package that brings it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install %s; scripts/install-deps.sh does)", name, pkg)
		}
		t.Skipf("%s is missing: apt-get install %s", name, pkg)
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...) // #nosec G204 -- the test runs the tools it checks with
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtoolChecksRules: Debian's promtool accepts rules.yaml, and its
// unit tests (tests.yaml) pass.
func TestPromtoolChecksRules(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool", "prometheus")
	out := run(t, "prometheus", promtool, "check", "rules", "rules.yaml")
	if !strings.Contains(out, "SUCCESS: 11 rules found") {
		t.Errorf("promtool check rules: %s", out)
	}
	if out := run(t, "prometheus", promtool, "test", "rules", "tests.yaml"); !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: %s", out)
	}
}

// TestEveryAlertHasAFiringTest: tests.yaml has, for each alert of
// rules.yaml, a case where it fires and one where it stays silent.
func TestEveryAlertHasAFiringTest(t *testing.T) {
	t.Parallel()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
			} `json:"rules"`
		} `json:"groups"`
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, filepath.Join("prometheus", "rules.yaml"), &rules)
	readYAML(t, filepath.Join("prometheus", "tests.yaml"), &tests)
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] || !silent[r.Alert] {
				t.Errorf("alert %s: a firing case %v, a silent case %v in tests.yaml", r.Alert, fires[r.Alert], silent[r.Alert])
			}
		}
	}
	if n < 11 {
		t.Errorf("%d alerts in rules.yaml", n)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path) // #nosec G304 -- a file of the repository
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
