package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserQuotaUsage: an admin edits the default quota in the quota
// editor (checked through the API), creates an environment from the form
// with Dev8's extra fields (git name, GitHub token as a secret, auto-stop,
// ttl) while the form shows what is left of the quota, and reads the Usage
// page (table row and monthly chart). From outside: the token reaches the
// workspace process's environment and is never shown back. No console
// errors.
func TestBrowserQuotaUsage(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(200, "PUT", "/api/v1/quotas/defaults", map[string]any{"cpuCores": 4})
	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")

	d.Click("nav-quotas")
	d.WaitHash("#/quotas")
	first := tid("quota-level") + `[data-scope="defaults"] `
	d.WaitVisibleSel(first + tid("quota-cpuCores"))
	d.Eventually("the defaults' cpuCores shows 4", func() (bool, string) {
		var v string
		d.Eval(`document.querySelector(`+strconv.Quote(first+tid("quota-cpuCores"))+`).value`, &v)
		return v == "4", v
	})
	d.SetValueSel(first+tid("quota-memoryGB"), "32")
	d.ClickSel(first + tid("quota-save"))
	d.okToast("saved")
	Eventually(t, 10*time.Second, "the defaults saved", func() (bool, string) {
		qs := b.MustDo(200, "GET", "/api/v1/quotas", nil)
		return num(qs, "defaults", "memoryGB") == 32 && num(qs, "defaults", "cpuCores") == 4, fmt.Sprint(qs["defaults"])
	})

	d.Click("nav-environments")
	d.WaitHash("#/environments")
	d.WaitText("env-quota", "CPU cores: 4 of 4 left")
	d.Eval(`document.querySelector('[data-testid="env-create-more"]').open = true`, nil)
	const token = "ghp_browserQuotaSecret123"
	d.SetValue("env-create-name", "full-form")
	d.SetValue("env-create-cpu", "2")
	d.SetValue("env-create-git-name", "Ada Lovelace")
	d.SetValue("env-create-github-token", token)
	d.SetValue("env-create-autostop", "30")
	d.SetValue("env-create-ttl", "7d")
	d.Click("env-create-submit")
	id := d.envRowID("full-form")
	d.WaitText("env-quota", "CPU cores: 2 of 4 left")
	env := b.MustDo(200, "GET", "/api/v1/environments/"+id, nil)
	deleteAt, _ := time.Parse(time.RFC3339, str(env, "environment", "deleteAt"))
	if str(env, "environment", "gitUserName") != "Ada Lovelace" || num(env, "environment", "autoStopMinutes") != 30 ||
		deleteAt.Sub(time.Now()) < 6*24*time.Hour || deleteAt.Sub(time.Now()) > 7*24*time.Hour {
		t.Fatalf("created from the form: %v", env["environment"])
	}
	if _, raw := b.DoRaw(b.Token(), "GET", "/api/v1/environments/"+id, nil); bytes.Contains(raw, []byte(token)) {
		t.Fatalf("the API shows the GitHub token back")
	}
	if v := d.Value("env-create-github-token"); v != "" {
		t.Fatalf("the token stays in the form after create: %q", v)
	}
	Eventually(t, 60*time.Second, "the workspace runs with the token", func() (bool, string) {
		for _, pid := range processesOfEnv(id) {
			environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if bytes.Contains(environ, []byte("GITHUB_TOKEN="+token+"\x00")) {
				return true, ""
			}
		}
		return false, fmt.Sprint(processesOfEnv(id))
	})

	d.Click("nav-usage")
	d.WaitHash("#/usage")
	me := b.MustDo(200, "GET", "/api/v1/auth/me", nil)
	uid := str(me, "user", "id")
	d.WaitVisibleSel(tid("usage-row") + fmt.Sprintf("[data-key=%q]", uid))
	d.WaitVisibleSel(tid("usage-chart") + " svg rect")
	if s := d.Text("usage-total"); !strings.Contains(s, "USD") {
		t.Fatalf("usage total: %q", s)
	}
	d.check()
}
