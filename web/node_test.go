package web

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// need finds a tool the dashboard's checks run; without it the test is
// skipped, except under CI=true where a missing tool fails the run.
func need(t *testing.T, path, hint string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (%s): %v", path, hint, err)
	}
	t.Skipf("%s is missing (%s)", path, hint)
	return ""
}

var nodeCount = regexp.MustCompile(`(?m)^# (pass|fail) (\d+)$`)

// TestNodeHelpers runs the pure helpers' tests (web/test/*.test.mjs: pager
// math, the service link builder, page.watch's coalescing and aborts,
// formatting, the service page's rules) with node's own test runner.
func TestNodeHelpers(t *testing.T) {
	node := need(t, "node", "install Node.js 20 or later")
	files, err := filepath.Glob("test/*.test.mjs")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files under web/test: %v", err)
	}
	out, err := exec.Command(node, append([]string{"--test", "--test-reporter=tap"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	counts := map[string]string{}
	for _, m := range nodeCount.FindAllStringSubmatch(string(out), -1) {
		counts[m[1]] = m[2]
	}
	if counts["fail"] != "0" || counts["pass"] == "" || counts["pass"] == "0" {
		t.Fatalf("node --test passed %q, failed %q:\n%s", counts["pass"], counts["fail"], out)
	}
	t.Logf("node --test: %s passed", counts["pass"])
}

// TestTypeCheck type-checks the // @ts-check modules with the TypeScript
// pinned in web/package.json (make test installs it with npm ci), with
// no implicit any (web/tsconfig.json).
func TestTypeCheck(t *testing.T) {
	node := need(t, "node", "install Node.js 20 or later")
	tsc := filepath.Join("node_modules", "typescript", "bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("TypeScript is not installed: run npm ci in web/ (make test does): %v", err)
		}
		t.Skipf("TypeScript is not installed (npm ci in web/): %v", err)
	}
	out, err := exec.Command(node, tsc, "--noEmit", "-p", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tsc --noEmit: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("tsc --noEmit said:\n%s", s)
	}
}

// TestEveryModuleIsChecked: a module without // @ts-check would be left
// out of the type check silently.
func TestEveryModuleIsChecked(t *testing.T) {
	for p, body := range readAll(t) {
		if strings.HasPrefix(p, vendorDir) {
			continue // vendored as published, checked by its sums (TestVendoredUPlot)
		}
		if strings.HasSuffix(p, ".js") && !strings.HasPrefix(body, "// @ts-check\n") {
			t.Errorf("%s does not start with // @ts-check", p)
		}
	}
}
