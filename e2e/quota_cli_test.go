package e2e

import (
	"encoding/csv"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQuotaUsageCLI: the real CLI sets a user's quota (kept fields merge,
// the server then refuses what exceeds it), shows it, and exports usage as
// CSV whose rows match the JSON report.
func TestQuotaUsageCLI(t *testing.T) {
	b := StartBerth(t, "", "")
	cli := func(args ...string) string {
		t.Helper()
		c := exec.Command(berthBin, args...)
		c.Env = []string{"HOME=" + t.TempDir(), "BERTH_URL=" + b.URL, "BERTH_TOKEN=" + b.Token()}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	u := b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "cara", "password": "cara-password-1", "role": "operator"})
	id := str(u, "user", "id")
	cli("quota", "set", "--user", "cara", "cpuCores=2", "maxEnvironments=3")
	cli("quota", "set", "--user", "cara", "maxEnvironments=1") // cpuCores stays
	qs := b.MustDo(200, "GET", "/api/v1/quotas", nil)
	if num(qs, "users", id, "cpuCores") != 2 || num(qs, "users", id, "maxEnvironments") != 1 {
		t.Fatalf("quotas after the CLI: %v", qs)
	}
	cara := b.Login("cara", "cara-password-1")
	if code, m := b.Do(cara, "POST", "/api/v1/environments", map[string]any{"name": "one", "cpuCores": 2}); code != 201 {
		t.Fatalf("create within quota: %d %v", code, m)
	}
	if code, m := b.Do(cara, "POST", "/api/v1/environments", map[string]any{"name": "two", "cpuCores": 1}); code != 403 || m["error"] != "QUOTA_EXCEEDED" {
		t.Fatalf("create over quota: %d %v", code, m)
	}
	out := cli("quota", "get", "--user", "cara")
	if !regexp.MustCompile(`(?m)^cpuCores\s+2\s+2\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^maxEnvironments\s+1\s+1\s*$`).MatchString(out) {
		t.Fatalf("berth quota get:\n%s", out)
	}
	time.Sleep(time.Second) // some usage to report
	from := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	out = cli("usage", "--from", from, "--group-by", "user", "-o", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 3 {
		t.Fatalf("usage CSV: %v\n%s", err, out)
	}
	if strings.Join(recs[0], ",") != "key,name,cpuCoreHours,memoryGBHours,storageGBHours,runningHours,cost,currency" {
		t.Fatalf("CSV header %v", recs[0])
	}
	var row []string
	for _, r := range recs[1:] {
		if r[0] == id {
			row = r
		}
	}
	if row == nil || row[1] != "cara" || row[7] != "USD" {
		t.Fatalf("no row for cara in\n%s", out)
	}
	storage, _ := strconv.ParseFloat(row[4], 64)
	if storage <= 0 {
		t.Fatalf("cara's storage GB-hours %q, want > 0", row[4])
	}
	if last := recs[len(recs)-1]; last[0] != "total" {
		t.Fatalf("last CSV row %v, want the total", last)
	}
}
