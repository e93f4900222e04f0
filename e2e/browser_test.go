package e2e

// Browser tests of the dashboard: headless Chromium (internal/browsertest)
// on the real berth binary. Every effect of a click is also checked from
// outside the page: through the API and, for local services and
// environments, in the process table. A console error or a CSP violation
// on any page fails the test (browsertest checks at the end and CheckConsole
// checks as the test goes).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/browsertest"
)

var tid = browsertest.TestID

// dashboard is a browser on one berth's dashboard.
type dashboard struct {
	*browsertest.Browser
	b    *Berth
	base string // http://127.0.0.1:port
}

func openDashboard(t *testing.T, b *Berth) *dashboard {
	t.Helper()
	d := &dashboard{Browser: browsertest.New(t), b: b, base: strings.TrimSuffix(b.URL, "/")}
	d.Timeout = 30 * time.Second // berth under -race on two shared cores
	return d
}

// open loads a client-side route ("#/services") of the dashboard.
func (d *dashboard) open(route string) {
	d.t().Helper()
	d.Navigate(d.base + "/" + route)
	d.WaitHash(route)
}

func (d *dashboard) t() *testing.T { return d.b.t }

// waitLogLinesGrow waits, on a service page that follows its logs, for a
// first line and five more after it, all live (the page is not reloaded).
func (d *dashboard) waitLogLinesGrow() {
	d.t().Helper()
	d.markPage()
	first := d.WaitCount(tid("log-line"), "first log lines", func(n int) bool { return n >= 1 })
	d.WaitCount(tid("log-line"), fmt.Sprintf("more than %d+5 log lines", first), func(n int) bool { return n >= first+5 })
	d.assertNotReloaded("log lines")
}

// login fills the login form; the caller checks where it lands.
func (d *dashboard) login(user, password string) {
	d.t().Helper()
	d.WaitHash("#/login")
	d.SetValue("login-username", user)
	d.SetValue("login-password", password)
	d.Click("login-submit")
}

// loginOK logs in and waits for the overview with a live WebSocket.
func (d *dashboard) loginOK(user, password, role string) {
	d.t().Helper()
	d.login(user, password)
	d.WaitHash("#/overview")
	d.Eventually("whoami", func() (bool, string) {
		s := d.Text("whoami")
		return s == user+" ("+role+")", s
	})
	d.Eventually("live-status is live", func() (bool, string) {
		s := d.Text("live-status")
		return s == "live", s
	})
}

// sessionToken finds the session token the page keeps in sessionStorage
// (under whatever key), "" when there is none.
func (d *dashboard) sessionToken() string {
	d.t().Helper()
	var tok string
	d.Eval(`(() => {
		for (let i = 0; i < sessionStorage.length; i++) {
			const v = sessionStorage.getItem(sessionStorage.key(i)) || '';
			try { const j = JSON.parse(v); if (j && typeof j.token === 'string') return j.token; } catch (e) {}
			if (/^ey[\w-]+\.[\w-]+\.[\w-]+$/.test(v)) return v;
		}
		return '';
	})()`, &tok)
	return tok
}

// markPage sets a marker in the page's window: gone after a reload.
func (d *dashboard) markPage() {
	d.t().Helper()
	d.Eval(`window.__e2eNoReload = true`, nil)
}

func (d *dashboard) assertNotReloaded(what string) {
	d.t().Helper()
	var ok bool
	d.Eval(`window.__e2eNoReload === true`, &ok)
	if !ok {
		d.Fatalf("%s: the page reloaded (its window marker is gone)", what)
	}
}

// check fails the test on a console error so far, or an error toast shown
// now (the page's own report of a failed API call).
func (d *dashboard) check() {
	d.t().Helper()
	d.CheckConsole()
	var st struct {
		Err  bool   `json:"err"`
		Text string `json:"text"`
	}
	d.Eval(`(() => { const el = document.querySelector(`+strconv.Quote(tid("toast"))+`);
		if (!el) return {err: false, text: ''};
		const shown = !el.classList.contains('hidden') && !el.hidden;
		return {err: shown && el.classList.contains('error'), text: el.textContent}; })()`, &st)
	if st.Err {
		d.Fatalf("the page shows an error toast: %s", st.Text)
	}
}

// waitEnabled waits until the element matching the CSS selector is enabled
// (want true) or disabled (want false).
func (d *dashboard) waitEnabled(sel string, want bool) {
	d.t().Helper()
	wantS := map[bool]string{true: "enabled", false: "disabled"}[want]
	d.Eventually(sel+" "+wantS, func() (bool, string) {
		var s string
		d.Eval(`(() => { const el = document.querySelector(`+strconv.Quote(sel)+`);
			return el ? (el.disabled ? 'disabled' : 'enabled') : 'missing'; })()`, &s)
		return s == wantS, s
	})
}

// confirmDialog waits for the confirmation dialog and answers it: ok or cancel.
func (d *dashboard) confirmDialog(ok bool) {
	d.t().Helper()
	d.WaitVisible("confirm-ok")
	if ok {
		d.Click("confirm-ok")
	} else {
		d.Click("confirm-cancel")
	}
	d.WaitNotVisible(tid("confirm-ok"))
}

// errorToast waits for an error toast containing substr and returns its text.
func (d *dashboard) errorToast(substr string) string {
	d.t().Helper()
	var text string
	d.Eventually("an error toast with "+strconv.Quote(substr), func() (bool, string) {
		var st struct {
			Err  bool   `json:"err"`
			Text string `json:"text"`
		}
		d.Eval(`(() => { const el = document.querySelector(`+strconv.Quote(tid("toast"))+`);
			return el ? {err: el.classList.contains('error') && !el.classList.contains('hidden'), text: el.textContent} : {err: false, text: ''}; })()`, &st)
		text = st.Text
		return st.Err && strings.Contains(st.Text, substr), fmt.Sprintf("error %v: %q", st.Err, st.Text)
	})
	return text
}

// okToast waits for a success toast containing substr (it replaces an
// earlier error toast, so check() passes again).
func (d *dashboard) okToast(substr string) {
	d.t().Helper()
	d.Eventually("a success toast with "+strconv.Quote(substr), func() (bool, string) {
		var st struct {
			OK   bool   `json:"ok"`
			Text string `json:"text"`
		}
		d.Eval(`(() => { const el = document.querySelector(`+strconv.Quote(tid("toast"))+`);
			return el ? {ok: !el.classList.contains('error'), text: el.textContent} : {ok: false, text: ''}; })()`, &st)
		return st.OK && strings.Contains(st.Text, substr), fmt.Sprintf("ok %v: %q", st.OK, st.Text)
	})
}

func svcRow(name string) string { return tid("service-row") + fmt.Sprintf("[data-name=%q]", name) }

// procEnv reads one variable of a process's environment from /proc.
func procEnv(pid int, key string) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok && k == key {
			return v
		}
	}
	return ""
}

// waitProcsEnv waits until n processes of the service run, all with key=value.
func waitProcsEnv(t *testing.T, service string, n int, key, value string) []int {
	t.Helper()
	var pids []int
	Eventually(t, 45*time.Second, fmt.Sprintf("%d processes of %s with %s=%s", n, service, key, value), func() (bool, string) {
		pids = processesOf(service)
		var vals []string
		for _, p := range pids {
			vals = append(vals, procEnv(p, key))
		}
		if len(pids) != n {
			return false, fmt.Sprint(pids, vals)
		}
		for _, v := range vals {
			if v != value {
				return false, fmt.Sprint(pids, vals)
			}
		}
		return true, ""
	})
	sort.Ints(pids)
	return pids
}

func apiService(b *Berth, name string) map[string]any {
	return b.MustDo(200, "GET", "/api/v1/services/"+name, nil)["service"].(map[string]any)
}

// TestBrowserServices: login, the services list live over the WebSocket,
// every action of the service page, live logs, and the audit page.
func TestBrowserServices(t *testing.T) {
	b := StartBerth(t, "", "")
	d := openDashboard(t, b)
	step := steps(t, b.use, d.Use)

	// Not logged in: the dashboard sends us to #/login.
	step("login", func(t *testing.T) {
		d.Navigate(d.base + "/")
		d.WaitHash("#/login")
		d.WaitVisible("login-username")

		// A wrong password: an error, and we stay on #/login. The browser logs
		// the 401 of the login request; that one is expected.
		d.ExpectConsoleError("^" + regexp.QuoteMeta(d.base+"/api/v1/auth/login") + "$")
		d.login("admin", "not-the-password")
		d.WaitVisible("login-error")
		d.Eventually("login-error says why", func() (bool, string) {
			s := d.Text("login-error")
			return s != "", s
		})
		if h := d.Location(); !strings.HasSuffix(h, "#/login") {
			d.Fatalf("after a wrong password the page is at %s", h)
		}
		if tok := d.sessionToken(); tok != "" {
			d.Fatalf("a failed login left a token in sessionStorage")
		}
		if m := b.MustDo(200, "GET", "/api/v1/logs?type=login&status=failed", nil); num(m, "total") < 1 {
			t.Errorf("the failed login is not in the audit log: %v", m)
		}

		// The right one: the overview, who we are, the live connection.
		d.loginOK("admin", adminPassword, "admin")
		tok := d.sessionToken()
		if tok == "" {
			d.Fatalf("no session token in sessionStorage after login")
		}
		if code, m := b.Do(tok, "GET", "/api/v1/auth/me", nil); code != 200 || !strings.Contains(mustJSON(m), `"admin"`) {
			d.Fatalf("the page's token does not work against the API: %d %v", code, m)
		}
		d.check()
	})

	// The services list updates live: a service created through the API
	// appears, RUNNING, with no reload.
	step("services list is live", func(t *testing.T) {
		d.Click("nav-services")
		d.WaitHash("#/services")
		d.WaitVisible("services-table")
		d.markPage()
		b.MustDo(201, "PUT", "/api/v1/services/job", map[string]any{
			"command": []string{"sleep", "600"}, "replicas": 1, "env": map[string]string{"GREETING": "hi"},
		})
		d.WaitVisibleSel(svcRow("job"))
		d.WaitTextSel(svcRow("job")+" "+tid("service-status"), "RUNNING")
		d.WaitTextSel(svcRow("job")+" "+tid("service-replicas"), "1/1")
		d.WaitTextSel(svcRow("job")+" "+tid("service-target"), "local")
		d.assertNotReloaded("service created through the API")
		waitRunning(t, b, "job", 1)
		waitProcs(t, "job", 1)
		d.check()
	})

	// The detail page, through the row's link.
	step("service actions", func(t *testing.T) {
		d.ClickSel(svcRow("job") + " " + tid("service-name"))
		d.WaitHash("#/services/job")
		d.WaitText("service-title", "job")
		d.WaitText("service-status", "RUNNING")

		// The buttons match the state: running, so no start; revision 1, so
		// nothing to roll back to.
		d.waitEnabled(tid("action-start"), false)
		d.waitEnabled(tid("action-stop"), true)
		d.waitEnabled(tid("action-rollback"), false)

		// Cancel on a confirmation leaves the service as it was.
		d.Click("action-delete")
		d.confirmDialog(false)
		if s := str(apiService(b, "job"), "status"); s != "RUNNING" {
			t.Errorf("after a cancelled delete the API says %q", s)
		}
		waitProcs(t, "job", 1)
		if m := b.MustDo(200, "GET", "/api/v1/logs?type=delete", nil); num(m, "total") != 0 {
			t.Errorf("a cancelled delete reached the API: %v", m)
		}

		// Scale to 2: the API says 2, two processes run, two replica rows.
		d.SetValue("scale-input", "2")
		d.Click("scale-submit")
		waitRunning(t, b, "job", 2)
		pids := waitProcs(t, "job", 2)
		d.WaitCount(tid("replica-row"), "two replica rows", func(n int) bool { return n == 2 })

		// Restart: new processes replace the old ones (rolling).
		d.Click("action-restart")
		waitReplaced(t, "job", pids, 60*time.Second)
		waitRunning(t, b, "job", 2)
		if m := b.MustDo(200, "GET", "/api/v1/logs?type=restart&status=completed", nil); num(m, "total") != 1 {
			t.Errorf("restart not audited once: %v", m)
		}

		// Stop asks first; then STOPPED in the page and the API, no process.
		d.Click("action-stop")
		d.WaitVisible("confirm-ok")
		d.Click("confirm-ok")
		d.WaitText("service-status", "STOPPED")
		Eventually(t, 30*time.Second, "API says STOPPED", func() (bool, string) {
			s := str(apiService(b, "job"), "status")
			return s == "STOPPED", s
		})
		waitProcs(t, "job", 0)
		d.waitEnabled(tid("action-stop"), false)
		d.waitEnabled(tid("action-start"), true)

		// Start: RUNNING again with its two replicas.
		d.Click("action-start")
		d.WaitText("service-status", "RUNNING")
		waitRunning(t, b, "job", 2)
		waitProcsEnv(t, "job", 2, "GREETING", "hi")
		d.check()

		// A config change in the page (an env var): revision 2, the processes
		// get the new value.
		d.WaitCount(tid("revision-row"), "one revision row", func(n int) bool { return n == 1 })
		d.SetValueSel(tid("env-var-row")+`[data-key="GREETING"] `+tid("config-env-value"), "hola")
		d.Click("config-save")
		Eventually(t, 30*time.Second, "config revision 2 with GREETING=hola", func() (bool, string) {
			m := b.MustDo(200, "GET", "/api/v1/services/job/config", nil)
			return str(m, "env", "GREETING") == "hola" && num(m, "revision") == 2, mustJSON(m)
		})
		waitProcsEnv(t, "job", 2, "GREETING", "hola")
		d.WaitCount(tid("revision-row"), "two revision rows", func(n int) bool { return n == 2 })
		d.waitEnabled(tid("action-rollback"), true) // revision 2
		d.waitEnabled(tid("action-start"), false)   // running again

		// Roll back (asks first): revision 3 with revision 1's spec.
		d.Click("action-rollback")
		d.WaitVisible("confirm-ok")
		d.Click("confirm-ok")
		Eventually(t, 30*time.Second, "rolled back to revision 3", func() (bool, string) {
			m := b.MustDo(200, "GET", "/api/v1/services/job/revisions", nil)
			revs, _ := m["revisions"].([]any)
			return num(m, "total") == 3 && len(revs) > 0 && str(revs[0].(map[string]any), "cause") == "rollback to 1", mustJSON(m)
		})
		if m := b.MustDo(200, "GET", "/api/v1/services/job/config", nil); str(m, "env", "GREETING") != "hi" {
			t.Errorf("after rollback the config is %v", m)
		}
		waitProcsEnv(t, "job", 2, "GREETING", "hi")
		d.WaitCount(tid("revision-row"), "three revision rows", func(n int) bool { return n == 3 })
		d.WaitVisibleSel(tid("revision-row") + `[data-revision="3"]`)
		d.check()

		// Delete (asks first): back on the list, the row is gone, the API
		// answers 404 and no process is left.
		d.Click("action-delete")
		d.WaitVisible("confirm-ok")
		d.Click("confirm-ok")
		d.WaitHash("#/services")
		d.WaitVisible("services-table")
		d.WaitGone(svcRow("job"))
		if code, m := b.Do(b.Token(), "GET", "/api/v1/services/job", nil); code != 404 {
			t.Errorf("GET a deleted service: %d %v", code, m)
		}
		waitProcs(t, "job", 0)
		d.check()
	})

	// Logs: a service that prints a line every 200 ms; its page shows the
	// lines and keeps adding them, live.
	step("live logs", func(t *testing.T) {
		b.MustDo(201, "PUT", "/api/v1/services/ticker", map[string]any{
			"command": []string{"sh", "-c", "while true; do echo tick $(date +%s%N); sleep 0.2; done"}, "replicas": 1,
		})
		waitRunning(t, b, "ticker", 1)
		d.WaitVisibleSel(svcRow("ticker")) // live, as above
		d.ClickSel(svcRow("ticker") + " " + tid("service-name"))
		d.WaitHash("#/services/ticker")
		d.WaitText("service-title", "ticker")
		d.waitLogLinesGrow()
		lines := d.Texts(tid("log-line"))
		stamp := func(s string) int64 {
			f := strings.Fields(s[strings.LastIndex(s, "tick"):])
			if len(f) < 2 {
				return 0
			}
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
		if l0, ln := lines[0], lines[len(lines)-1]; !strings.Contains(l0, "tick") || !strings.Contains(ln, "tick") || stamp(ln) <= stamp(l0) {
			t.Errorf("log lines do not grow in time: first %q, last %q", l0, ln)
		}
		if logs := b.MustDo(200, "GET", "/api/v1/services/ticker/logs?tail=5", nil); !strings.Contains(mustJSON(logs), "tick ") {
			t.Errorf("API logs = %v", logs)
		}
		d.check()
	})

	// The audit page lists what we did, newest first, as the API does.
	step("audit page", func(t *testing.T) {
		d.Click("nav-audit")
		d.WaitHash("#/audit")
		d.WaitVisible("audit-table")
		d.WaitTextSel(tid("audit-row"), "service.delete")
		rows := d.Texts(tid("audit-row"))
		want := []string{"service.apply", "service.delete", "service.rollback", "service.config", "service.start", "service.stop", "service.restart", "service.scale", "service.apply"}
		at := 0
		for _, r := range rows {
			if at < len(want) && strings.Contains(r, want[at]) {
				at++
			}
		}
		if at != len(want) {
			t.Errorf("audit rows (newest first) do not list %q in that order:\n%s", want, strings.Join(rows, "\n"))
		}
		// Row by row as the API lists them (newest first): its action in the
		// row, its type in audit-type.
		types := d.Texts(tid("audit-row") + " " + tid("audit-type"))
		api := b.MustDo(200, "GET", "/api/v1/logs", nil)["logs"].([]any)
		if len(types) != len(rows) {
			t.Errorf("%d audit rows but %d audit-type cells", len(rows), len(types))
		}
		for i := 0; i < len(rows) && i < len(types) && i < len(api); i++ {
			e := api[i].(map[string]any)
			if !strings.Contains(rows[i], str(e, "action")) || types[i] != str(e, "type") {
				t.Errorf("audit row %d: page %q (type %q), API action %q type %q", i, rows[i], types[i], str(e, "action"), str(e, "type"))
				break
			}
		}
		users := d.Texts(tid("audit-row") + " " + tid("audit-user"))
		statuses := d.Texts(tid("audit-row") + " " + tid("audit-status"))
		if len(users) == 0 || users[0] != "admin" || len(statuses) == 0 || !strings.Contains(statuses[0], "completed") {
			t.Errorf("newest audit row: user %q status %q", users, statuses)
		}
	})

	// Every other page renders without a console error.
	step("other pages and the inventory", func(t *testing.T) {
		d.Click("nav-overview")
		d.WaitHash("#/overview")
		d.Eventually("overview counts the ticker", func() (bool, string) {
			s := d.Text("overview-services")
			return s == "1", s
		})
		d.Click("nav-environments")
		d.WaitHash("#/environments")
		d.WaitVisible("env-create-name")
		d.Click("nav-infrastructure")
		d.WaitHash("#/infrastructure")
		tickerRow := tid("infra-row") + `[data-type="service"][data-id="ticker"]`
		d.WaitVisibleSel(tickerRow)
		d.waitEnabled(tickerRow+" "+tid("infra-start"), false) // it runs
		d.waitEnabled(tickerRow+" "+tid("infra-stop"), true)

		// Delete from the inventory asks first: cancel keeps the service,
		// confirm deletes it (API and process table).
		d.ClickSel(tickerRow + " " + tid("infra-delete"))
		d.confirmDialog(false)
		if s := str(apiService(b, "ticker"), "status"); s != "RUNNING" {
			t.Errorf("after a cancelled inventory delete the API says %q", s)
		}
		waitProcs(t, "ticker", 1)
		d.ClickSel(tickerRow + " " + tid("infra-delete"))
		d.confirmDialog(true)
		Eventually(t, 30*time.Second, "ticker deleted", func() (bool, string) {
			code, m := b.Do(b.Token(), "GET", "/api/v1/services/ticker", nil)
			return code == 404, fmt.Sprint(code, m)
		})
		waitProcs(t, "ticker", 0)
		d.WaitGone(tickerRow)
		d.check()
		d.Click("nav-users")
		d.WaitHash("#/users")
		d.WaitVisibleSel(tid("user-row") + `[data-username="admin"]`)
		d.check()
	})
}

// envRowID waits for the environment row showing name and returns its data-id.
func (d *dashboard) envRowID(name string) string {
	d.t().Helper()
	var id string
	d.Eventually("environment row "+name, func() (bool, string) {
		d.Eval(`(() => {
			const r = [...document.querySelectorAll(`+strconv.Quote(tid("env-row"))+`)].find(r => {
				const n = r.querySelector(`+strconv.Quote(tid("env-name"))+`);
				return n && n.textContent === `+strconv.Quote(name)+`;
			});
			return r ? r.getAttribute('data-id') || '' : '';
		})()`, &id)
		return id != "", fmt.Sprint(d.Texts(tid("env-name")))
	})
	return id
}

func envRow(id string) string { return tid("env-row") + fmt.Sprintf("[data-id=%q]", id) }

func apiEnvStatus(b *Berth, id string) string {
	return str(b.MustDo(200, "GET", "/api/v1/environments/"+id, nil), "environment", "status")
}

// waitEnv waits until the page and the API both say status.
func (d *dashboard) waitEnv(id, status string) {
	d.t().Helper()
	d.WaitTextSel(envRow(id)+" "+tid("env-status"), status)
	Eventually(d.t(), 60*time.Second, "API: environment "+id+" "+status, func() (bool, string) {
		s := apiEnvStatus(d.b, id)
		return s == status, s
	})
}

// TestBrowserEnvironments: create, stop, start and delete an environment
// from its page, each checked through the API and the process table; a
// name made of HTML stays text.
func TestBrowserEnvironments(t *testing.T) {
	b := StartBerth(t, "", "")
	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")

	d.Click("nav-environments")
	d.WaitHash("#/environments")
	d.markPage()
	d.SetValue("env-create-name", "dev-one")
	d.Click("env-create-submit")
	id := d.envRowID("dev-one")
	if s := d.TextSel(envRow(id) + " " + tid("env-status")); s == "" {
		t.Errorf("the new row has no status")
	}
	list := b.MustDo(200, "GET", "/api/v1/environments", nil)
	if num(list, "total") != 1 || str(list["environments"].([]any)[0].(map[string]any), "id") != id ||
		str(list["environments"].([]any)[0].(map[string]any), "name") != "dev-one" {
		t.Fatalf("API list after creating dev-one (row %s) = %v", id, list)
	}
	d.waitEnv(id, "RUNNING")
	Eventually(t, 30*time.Second, "one workspace process", func() (bool, string) {
		p := processesOfEnv(id)
		return len(p) == 1, fmt.Sprint(p)
	})
	vs := str(b.MustDo(200, "GET", "/api/v1/environments/"+id, nil), "environment", "vsCodeUrl")
	open := envRow(id) + " " + tid("env-open")
	d.WaitVisibleSel(open)
	if href := d.Attr(open, "href"); vs == "" || strings.TrimSuffix(href, "/") != strings.TrimSuffix(vs, "/") {
		t.Errorf("env-open href %q, API vsCodeUrl %q", href, vs)
	}
	if d.Attr(open, "target") != "_blank" || !strings.Contains(d.Attr(open, "rel"), "noopener") {
		t.Errorf("env-open target %q rel %q", d.Attr(open, "target"), d.Attr(open, "rel"))
	}
	d.check()
	// Running: nothing to start.
	d.waitEnabled(envRow(id)+" "+tid("env-start"), false)
	d.waitEnabled(envRow(id)+" "+tid("env-stop"), true)

	// Stop (one click): STOPPED, the workspace process ends.
	d.ClickSel(envRow(id) + " " + tid("env-stop"))
	d.waitEnv(id, "STOPPED")
	Eventually(t, 30*time.Second, "workspace process gone", func() (bool, string) {
		p := processesOfEnv(id)
		return len(p) == 0, fmt.Sprint(p)
	})
	d.waitEnabled(envRow(id)+" "+tid("env-stop"), false)
	d.waitEnabled(envRow(id)+" "+tid("env-start"), true)

	// Start: RUNNING with a process again.
	d.ClickSel(envRow(id) + " " + tid("env-start"))
	d.waitEnv(id, "RUNNING")
	Eventually(t, 30*time.Second, "workspace process back", func() (bool, string) {
		p := processesOfEnv(id)
		return len(p) == 1, fmt.Sprint(p)
	})

	// A file in the workspace, found from outside berth: the workspace
	// process's $WORKSPACE.
	var workspace string
	Eventually(t, 10*time.Second, "the workspace directory of "+id, func() (bool, string) {
		p := processesOfEnv(id)
		if len(p) != 1 {
			return false, fmt.Sprint(p)
		}
		workspace = procEnv(p[0], "WORKSPACE")
		return workspace != "" && !strings.HasPrefix(workspace, "<"), workspace
	})
	marker := filepath.Join(workspace, "keep-me.txt")
	if err := os.WriteFile(marker, []byte("work in progress\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Delete asks first; cancel leaves the environment running.
	d.ClickSel(envRow(id) + " " + tid("env-delete"))
	d.WaitVisible("confirm-keep-volume")
	var checked bool
	d.Eval(`document.querySelector(`+strconv.Quote(tid("confirm-keep-volume"))+`).checked`, &checked)
	if checked {
		t.Errorf("keep the workspace volume is checked by default")
	}
	d.confirmDialog(false)
	if s := apiEnvStatus(b, id); s != "RUNNING" {
		t.Errorf("after a cancelled delete the environment is %s", s)
	}
	if p := processesOfEnv(id); len(p) != 1 {
		t.Errorf("after a cancelled delete the workspace processes are %v", p)
	}
	d.WaitVisibleSel(envRow(id))

	// Delete, keeping the volume: the row goes, the API forgets it, no
	// process is left, the workspace's files stay and the audit entry says
	// keepVolume.
	d.ClickSel(envRow(id) + " " + tid("env-delete"))
	d.Click("confirm-keep-volume")
	d.confirmDialog(true)
	d.WaitGone(envRow(id))
	Eventually(t, 60*time.Second, "environment deleted", func() (bool, string) {
		code, m := b.Do(b.Token(), "GET", "/api/v1/environments/"+id, nil)
		return code == 404, fmt.Sprint(code, m)
	})
	Eventually(t, 30*time.Second, "no workspace process", func() (bool, string) {
		p := processesOfEnv(id)
		return len(p) == 0, fmt.Sprint(p)
	})
	d.assertNotReloaded("environment actions")
	var envActions []string
	for _, e := range b.MustDo(200, "GET", "/api/v1/logs?user=admin", nil)["logs"].([]any) {
		if em := e.(map[string]any); str(em, "resourceType") == "environment" && str(em, "status") == "completed" {
			envActions = append(envActions, str(em, "action"))
		}
	}
	if got := strings.Join(envActions, " "); got != "environment.delete environment.start environment.stop environment.create" {
		t.Errorf("audit of the environment's actions, newest first: %s", got)
	}
	del := b.MustDo(200, "GET", "/api/v1/logs?type=delete", nil)["logs"].([]any)
	if len(del) != 1 || str(del[0].(map[string]any), "resource") != id || str(del[0].(map[string]any), "details", "keepVolume") != "true" {
		t.Errorf("audit of the delete with keep-volume: %v", del)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "work in progress\n" {
		t.Errorf("the kept workspace lost its file: %q %v", b, err)
	}
	d.check()

	// A name made of HTML is shown as text: no <img> is created and its
	// onerror never runs, here or on the pages that show the name again.
	const xss = `<img src=x onerror=window.__xss=1>`
	d.SetValue("env-create-name", xss)
	d.Click("env-create-submit")
	xid := d.envRowID(xss)
	if got := d.TextSel(envRow(xid) + " " + tid("env-name")); got != xss {
		t.Errorf("env-name shows %q, want the name as text", got)
	}
	if m := b.MustDo(200, "GET", "/api/v1/environments/"+xid, nil); str(m, "environment", "name") != xss {
		t.Errorf("API name = %q", str(m, "environment", "name"))
	}
	checkNoXSS := func(where string) {
		t.Helper()
		var st struct {
			Imgs    int    `json:"imgs"`
			OnError int    `json:"onerror"`
			XSS     string `json:"xss"`
		}
		d.Eval(`({imgs: document.querySelectorAll('img[src="x"]').length,
			onerror: document.querySelectorAll('[onerror]').length, xss: typeof window.__xss})`, &st)
		if st.Imgs != 0 || st.OnError != 0 || st.XSS != "undefined" {
			d.Fatalf("%s: the name became HTML: %+v", where, st)
		}
	}
	d.waitEnv(xid, "RUNNING")
	checkNoXSS("environments page")
	for _, p := range []string{"overview", "infrastructure", "audit"} {
		d.Click("nav-" + p)
		d.WaitHash("#/" + p)
	}
	d.WaitTextSel(tid("audit-row"), "environment.create")
	checkNoXSS("audit page")
	d.Click("nav-infrastructure")
	d.WaitVisibleSel(tid("infra-row") + fmt.Sprintf("[data-id=%q]", xid))
	checkNoXSS("infrastructure page")
	b.MustDo(200, "DELETE", "/api/v1/environments/"+xid, nil)
	d.WaitGone(tid("infra-row") + fmt.Sprintf("[data-id=%q]", xid))
	d.check()
}

// TestBrowserUsersAndViewer: the users page creates a viewer and an API
// key (its secret shown once); logout forgets the session; the viewer sees
// no admin navigation and no action control.
func TestBrowserUsersAndViewer(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/job", map[string]any{"command": []string{"sleep", "600"}, "replicas": 1})
	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")
	d.WaitVisible("nav-users")
	d.Eventually("overview counts the service", func() (bool, string) {
		ov := b.MustDo(200, "GET", "/api/v1/overview", nil)
		s := d.Text("overview-services")
		return s == str(ov, "totals", "services", "total") && s == "1", s
	})

	// A viewer, created in the page.
	d.Click("nav-users")
	d.WaitHash("#/users")
	d.SetValue("user-create-username", "vera")
	d.SetValue("user-create-password", "viewer-password-1")
	d.SetValue("user-create-role", "viewer")
	d.Click("user-create-submit")
	d.WaitVisibleSel(tid("user-row") + `[data-username="vera"]`)
	users := b.MustDo(200, "GET", "/api/v1/users", nil)
	found := false
	for _, u := range users["users"].([]any) {
		if um := u.(map[string]any); str(um, "username") == "vera" {
			found = str(um, "role") == "viewer"
		}
	}
	if !found {
		t.Fatalf("API users after creating vera as a viewer: %v", users)
	}

	// An API key: its secret shows once, and it works against the API.
	d.markPage()
	d.SetValue("apikey-create-name", "ci-key")
	d.SetValue("apikey-create-role", "viewer")
	d.Click("apikey-create-submit")
	secret := d.WaitText("apikey-secret", "brt_")
	if i := strings.Index(secret, "brt_"); i > 0 {
		secret = secret[i:]
	}
	secret = strings.Fields(secret)[0]
	if code, m := b.Do(secret, "GET", "/api/v1/services", nil); code != 200 || num(m, "total") != 1 {
		t.Fatalf("GET /api/v1/services with the page's key %q: %d %v", secret, code, m)
	}
	keys := b.MustDo(200, "GET", "/api/v1/apikeys", nil)
	if !strings.Contains(mustJSON(keys), `"ci-key"`) || strings.Contains(mustJSON(keys), strings.Split(secret, "_")[2]) {
		t.Errorf("API key list: %v", keys)
	}
	d.WaitTextSel(tid("apikey-row"), "ci-key")
	d.assertNotReloaded("API key created")
	d.Reload()
	d.WaitTextSel(tid("apikey-row"), "ci-key")
	if n := d.Count(tid("apikey-secret")); n != 0 {
		t.Errorf("after a reload %d apikey-secret element(s) remain", n)
	}
	keyRow := tid("apikey-row") + `[data-name="ci-key"]`

	// Deleting the key asks first: cancel keeps it working.
	d.ClickSel(keyRow + " " + tid("apikey-delete"))
	d.confirmDialog(false)
	if code, _ := b.Do(secret, "GET", "/api/v1/services", nil); code != 200 {
		t.Errorf("after a cancelled delete the key answers %d", code)
	}
	d.WaitVisibleSel(keyRow)
	var leaked bool
	d.Eval(`(() => { const s = `+strconv.Quote(secret)+`;
		const inStore = st => { for (let i = 0; i < st.length; i++) { if ((st.getItem(st.key(i)) || '').includes(s)) return true; } return false; };
		return document.documentElement.outerHTML.includes(s) || inStore(sessionStorage) || inStore(localStorage); })()`, &leaked)
	if leaked {
		t.Errorf("after a reload the key's secret is still in the page or its storage")
	}
	d.check()

	// An admin cannot delete themself: the page asks, the server refuses,
	// the page shows its message, and admin is still there.
	var adminID string
	for _, u := range b.MustDo(200, "GET", "/api/v1/users", nil)["users"].([]any) {
		if um := u.(map[string]any); str(um, "username") == "admin" {
			adminID = str(um, "id")
		}
	}
	d.ExpectConsoleError("^" + regexp.QuoteMeta(d.base+"/api/v1/users/"+adminID) + "$")
	d.ClickSel(tid("user-row") + `[data-username="admin"] ` + tid("user-delete"))
	d.confirmDialog(true)
	d.errorToast("yourself")
	if code, m := b.Do(b.Token(), "GET", "/api/v1/users/"+adminID, nil); code != 200 {
		t.Errorf("admin after deleting themself: %d %v", code, m)
	}

	// Another user: cancel keeps them, confirm deletes them (API).
	d.SetValue("user-create-username", "temp")
	d.SetValue("user-create-password", "temp-password-1")
	d.SetValue("user-create-role", "operator")
	d.Click("user-create-submit")
	tempRow := tid("user-row") + `[data-username="temp"]`
	d.WaitVisibleSel(tempRow)
	tempID := d.Attr(tempRow, "data-id")
	d.ClickSel(tempRow + " " + tid("user-delete"))
	d.confirmDialog(false)
	if code, m := b.Do(b.Token(), "GET", "/api/v1/users/"+tempID, nil); code != 200 {
		t.Errorf("temp after a cancelled delete: %d %v", code, m)
	}
	d.ClickSel(tempRow + " " + tid("user-delete"))
	d.confirmDialog(true)
	d.WaitGone(tempRow)
	d.okToast("temp deleted")
	if code, m := b.Do(b.Token(), "GET", "/api/v1/users/"+tempID, nil); code != 404 {
		t.Errorf("temp after delete: %d %v", code, m)
	}

	// The key, confirmed this time: gone from the list, refused by the API.
	d.ClickSel(keyRow + " " + tid("apikey-delete"))
	d.confirmDialog(true)
	d.WaitGone(keyRow)
	d.okToast("ci-key deleted")
	if code, _ := b.Do(secret, "GET", "/api/v1/services", nil); code != 401 {
		t.Errorf("a deleted key answers %d, want 401", code)
	}
	if keys := b.MustDo(200, "GET", "/api/v1/apikeys", nil); strings.Contains(mustJSON(keys), `"ci-key"`) {
		t.Errorf("API keys after delete: %v", keys)
	}
	d.check()

	// Logout: back to #/login, the token is revoked and forgotten.
	tok := d.sessionToken()
	if tok == "" {
		d.Fatalf("no session token before logout")
	}
	d.Click("logout")
	d.WaitHash("#/login")
	d.WaitVisible("login-username")
	Eventually(t, 10*time.Second, "the session token revoked", func() (bool, string) {
		code, _ := b.Do(tok, "GET", "/api/v1/auth/me", nil)
		return code == 401, fmt.Sprint(code)
	})
	if s := d.sessionToken(); s != "" {
		t.Errorf("the token is still in sessionStorage after logout")
	}

	// The viewer: no users page in the navigation, no action controls.
	d.loginOK("vera", "viewer-password-1", "viewer")
	d.WaitVisible("nav-services")
	if n := d.Count(tid("nav-users")); n != 0 {
		t.Errorf("a viewer sees nav-users")
	}
	d.open("#/services/job")
	d.WaitText("service-title", "job")
	d.WaitText("service-status", "RUNNING")
	d.WaitVisible("service-replicas-list")
	controls := strings.Join([]string{`[data-testid^="action-"]`, tid("scale-input"), tid("scale-submit"),
		tid("config-save"), tid("revision-rollback"), tid("spec-edit"), tid("spec-save")}, ", ")
	if n := d.Count(controls); n != 0 {
		t.Errorf("a viewer sees %d action control(s) on a service page", n)
	}
	d.Click("nav-services")
	d.WaitHash("#/services")
	d.WaitVisibleSel(svcRow("job"))
	if n := d.Count(`[data-testid^="service-create"]`); n != 0 {
		t.Errorf("a viewer sees the service create form")
	}
	d.Click("nav-environments")
	d.WaitHash("#/environments")
	d.WaitVisible("environments-table")
	if n := d.Count(tid("env-create-name") + ", " + tid("env-create-submit")); n != 0 {
		t.Errorf("a viewer sees the environment create form")
	}
	d.check()
}

// twoTargets starts berth with two local targets: local (the default) and
// edge, so that service names can repeat across targets.
func twoTargets(t *testing.T) *Berth {
	t.Helper()
	dir := t.TempDir()
	cfg := "targets:\n  - name: local\n    type: local\n  - name: edge\n    type: local\n"
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartBerth(t, dir, "")
}

// specJSON reads the spec editor's JSON.
func (d *dashboard) specJSON() map[string]any {
	d.t().Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(d.Value("spec-json")), &m); err != nil {
		d.Fatalf("spec-json is not a JSON object: %v: %s", err, d.Value("spec-json"))
	}
	return m
}

// revisionCount is the number of revisions the API lists for a service.
func revisionCount(b *Berth, name string) int {
	return num(b.MustDo(200, "GET", "/api/v1/services/"+name+"/revisions", nil), "total")
}

// TestBrowserServiceForms: a service created with the page's form runs
// (API, process table); a bad form shows the server's message and creates
// nothing; the spec editor makes new revisions and never sends a redacted
// secret back; on two targets with the same service names, the service page
// follows the logs of its own target live and the overview's alert links to
// the right one.
func TestBrowserServiceForms(t *testing.T) {
	b := twoTargets(t)
	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")
	// The form asks whether a name is taken before PUT (which would replace
	// the service): a 404 the browser logs. And the bad form's 400, and the
	// stale edit's 409 on vault.
	d.ExpectConsoleError("^" + regexp.QuoteMeta(d.base+"/api/v1/services/") + `(form-web|bad-one|form-edge|vault)(\?|$)`)

	d.Click("nav-services")
	d.WaitHash("#/services")
	d.Click("service-create-open")
	d.WaitVisible("service-create-name")
	d.Eventually("the default target preselected", func() (bool, string) {
		v := d.Value("service-create-target")
		return v == "local", v
	})
	if d.Exists(tid("service-create-namespace")) {
		d.WaitNotVisible(tid("service-create-namespace")) // local targets have no namespaces
	}
	step := steps(t, b.use, d.Use)

	// A bad form: the server's message, naming the field, and nothing created.
	step("a bad form", func(t *testing.T) {
		d.SetValue("service-create-name", "bad-one")
		d.SetValue("service-create-command", "sleep 600")
		d.SetValue("service-create-replicas", "-1")
		d.Click("service-create-submit")
		msg := d.errorToast("replicas")
		if !strings.HasPrefix(msg, "replicas: ") {
			t.Errorf("the toast %q does not start with the field", msg)
		}
		if code, m := b.Do(b.Token(), "GET", "/api/v1/services/bad-one", nil); code != 404 {
			t.Errorf("a refused form created bad-one: %d %v", code, m)
		}
		if h := d.Location(); !strings.HasSuffix(h, "#/services") {
			t.Errorf("after a refused form the page is at %s", h)
		}
		if p := processesOf("bad-one"); len(p) != 0 {
			t.Errorf("processes of a refused service: %v", p)
		}
	})

	// A good one: the page goes to the new service, which runs with what the
	// form said.
	step("a good form", func(t *testing.T) {
		d.SetValue("service-create-name", "form-web")
		d.SetValue("service-create-replicas", "2")
		d.SetValue("service-create-ports", "http:8080, admin:9090")
		d.SetValue("service-create-env", "GREETING=hello\nMODE=a=b")
		d.Click("service-create-submit")
		d.WaitHash("#/services/form-web")
		d.WaitText("service-title", "form-web")
		d.WaitText("service-status", "RUNNING")
		svc := apiService(b, "form-web")
		if got := str(svc, "spec", "command") + " " + str(svc, "spec", "ports") + " " + str(svc, "spec", "env") + " " + str(svc, "target"); got !=
			`["sleep","600"] [{"name":"http","port":8080},{"name":"admin","port":9090}] {"GREETING":"hello","MODE":"a=b"} local` {
			t.Errorf("the form's service: %s", got)
		}
		pids := waitProcsEnv(t, "form-web", 2, "GREETING", "hello")
		for _, p := range pids {
			if procEnv(p, "MODE") != "a=b" || procEnv(p, "PORT") == "" || procEnv(p, "PORT_ADMIN") == "" {
				t.Errorf("process %d: MODE %q PORT %q PORT_ADMIN %q", p, procEnv(p, "MODE"), procEnv(p, "PORT"), procEnv(p, "PORT_ADMIN"))
			}
		}
		d.check()
	})

	// Edit spec: the JSON is the spec without target, namespace and
	// secrets; saving it makes revision 2, which runs.
	step("edit spec", func(t *testing.T) {
		d.Click("spec-edit")
		spec := d.specJSON()
		for _, k := range []string{"target", "namespace", "secrets"} {
			if _, ok := spec[k]; ok {
				t.Errorf("spec-json shows %s: %v", k, spec)
			}
		}
		if str(spec, "replicas") != "2" || str(spec, "env", "GREETING") != "hello" {
			t.Fatalf("spec-json: %v", spec)
		}
		spec["replicas"] = 1
		spec["env"].(map[string]any)["GREETING"] = "bonjour"
		d.SetValue("spec-json", mustJSON(spec))
		d.Click("spec-save")
		Eventually(t, 30*time.Second, "revision 2 of form-web", func() (bool, string) {
			s := apiService(b, "form-web")
			return str(s, "revision") == "2" && str(s, "spec", "env", "GREETING") == "bonjour" && str(s, "replicas") == "1", mustJSON(s)
		})
		if m := b.MustDo(200, "GET", "/api/v1/services/form-web/revisions", nil); num(m, "total") != 2 ||
			str(m["revisions"].([]any)[0].(map[string]any), "cause") != "apply" {
			t.Errorf("revisions after the edit: %v", m)
		}
		waitProcsEnv(t, "form-web", 1, "GREETING", "bonjour")
		d.WaitCount(tid("revision-row"), "two revision rows", func(n int) bool { return n == 2 })
		d.WaitNotVisible(tid("spec-json"))
		d.check()
	})

	// A service with a secret: the editor never shows or sends it back.
	step("secrets in the editor", func(t *testing.T) {
		b.MustDo(201, "PUT", "/api/v1/services/vault", map[string]any{
			"command": []string{"sleep", "600"}, "secrets": map[string]string{"TOKEN": "s3cret-one"},
		})
		waitProcsEnv(t, "vault", 1, "TOKEN", "s3cret-one")
		d.open("#/services/vault")
		d.WaitText("service-title", "vault")
		d.Click("spec-edit")
		d.WaitVisible("spec-secrets-note")
		if raw := d.Value("spec-json"); strings.Contains(raw, "s3cret") || strings.Contains(raw, "redacted") || strings.Contains(raw, "TOKEN") {
			t.Errorf("spec-json shows the secret: %s", raw)
		}
		spec := d.specJSON()
		spec["env"] = map[string]string{"EXTRA": "1"}
		// Without the secret: the page asks before removing it; cancel sends nothing.
		d.SetValue("spec-json", mustJSON(spec))
		d.Click("spec-save")
		d.WaitTextSel("#confirm-message", "TOKEN")
		d.confirmDialog(false)
		// The redacted placeholder as a value: refused in the page.
		spec["secrets"] = map[string]string{"TOKEN": "[redacted]"}
		d.SetValue("spec-json", mustJSON(spec))
		d.Click("spec-save")
		d.errorToast("TOKEN")
		if n := revisionCount(b, "vault"); n != 1 {
			t.Fatalf("vault has %d revisions after a cancelled and a refused save", n)
		}
		waitProcsEnv(t, "vault", 1, "TOKEN", "s3cret-one")
		// With a real value: saved, and the process has it.
		spec["secrets"] = map[string]string{"TOKEN": "s3cret-two"}
		d.SetValue("spec-json", mustJSON(spec))
		d.Click("spec-save")
		d.okToast("updated")
		pids := waitProcsEnv(t, "vault", 1, "TOKEN", "s3cret-two")
		if procEnv(pids[0], "EXTRA") != "1" || revisionCount(b, "vault") != 2 {
			t.Errorf("vault after the edit: EXTRA %q, %d revisions", procEnv(pids[0], "EXTRA"), revisionCount(b, "vault"))
		}
		d.check()
	})

	// An edit opened on revision 2 is saved only over revision 2: a change
	// someone made meanwhile is refused, and the user's text stays.
	step("a stale edit", func(t *testing.T) {
		d.Click("spec-edit")
		spec := d.specJSON()
		b.MustDo(200, "PUT", "/api/v1/services/vault", map[string]any{
			"command": []string{"sleep", "600"}, "secrets": map[string]string{"TOKEN": "s3cret-two"}, "env": map[string]string{"OTHER": "1"},
		})
		spec["secrets"] = map[string]string{"TOKEN": "s3cret-two"}
		spec["env"] = map[string]string{"STALE": "1"}
		d.SetValue("spec-json", mustJSON(spec))
		d.Click("spec-save")
		d.errorToast("is at revision 3")
		if n := revisionCount(b, "vault"); n != 3 {
			t.Fatalf("vault has %d revisions after a stale save, want 3", n)
		}
		waitProcsEnv(t, "vault", 1, "OTHER", "1")
		if !strings.Contains(d.Value("spec-json"), "STALE") {
			t.Errorf("the refused edit's text was lost: %s", d.Value("spec-json"))
		}
		// Once the page shows revision 3 (the change's event), the editor
		// opened again holds it, and saving works.
		d.Click("spec-cancel")
		d.WaitText("service-revision", "3")
		d.Click("spec-edit")
		spec = d.specJSON()
		if str(spec, "env", "OTHER") != "1" {
			t.Fatalf("the editor reopened on %v, want revision 3's env", spec["env"])
		}
		spec["secrets"] = map[string]string{"TOKEN": "s3cret-two"}
		spec["env"].(map[string]any)["STALE"] = "no more"
		d.SetValue("spec-json", mustJSON(spec))
		d.Click("spec-save")
		d.okToast("updated")
		waitProcsEnv(t, "vault", 1, "STALE", "no more")
		if n := revisionCount(b, "vault"); n != 4 {
			t.Errorf("vault has %d revisions, want 4", n)
		}
		d.check()
	})

	// The form on the other target: the page goes to the service there.
	step("the form on another target", func(t *testing.T) {
		d.Click("nav-services")
		d.WaitHash("#/services")
		d.Click("service-create-open")
		d.SetValue("service-create-name", "form-edge")
		d.SetValue("service-create-target", "edge")
		d.SetValue("service-create-command", "sleep 600")
		d.Click("service-create-submit")
		d.WaitHash("#/services/form-edge?target=edge")
		d.WaitText("service-status", "RUNNING")
		if s := b.MustDo(200, "GET", "/api/v1/services/form-edge?target=edge", nil); str(s, "service", "target") != "edge" {
			t.Errorf("form-edge: %v", s)
		}
		if code, _ := b.Do(b.Token(), "GET", "/api/v1/services/form-edge?target=local", nil); code != 404 {
			t.Errorf("form-edge on local: %d", code)
		}
		waitProcs(t, "form-edge", 1)
		d.check()
	})

	// The same name on both targets, each printing its own line: the API
	// needs ?target= to tell them apart, and so does the log topic.
	step("same name on both targets", func(t *testing.T) {
		talk := func(target, word string) {
			b.MustDo(201, "PUT", "/api/v1/services/echo", map[string]any{"target": target,
				"command": []string{"sh", "-c", "while true; do echo " + word + " $(date +%s%N); sleep 0.2; done"}})
		}
		talk("local", "from-local")
		talk("edge", "from-edge")
		if code, m := b.Do(b.Token(), "GET", "/api/v1/services/echo", nil); code != 409 {
			t.Fatalf("GET echo without a target: %d %v", code, m)
		}
		d.open("#/services/echo?target=edge")
		d.WaitText("service-title", "echo")
		d.waitLogLinesGrow()
		for _, l := range d.Texts(tid("log-line")) {
			if !strings.Contains(l, "from-edge") {
				t.Fatalf("the edge service's page shows %q", l)
			}
		}
		if n := d.Count(".log-note"); n != 0 {
			t.Errorf("the log stream ended: %v", d.Texts(".log-note"))
		}
		d.check()
	})

	// A crashing service on edge beside a healthy one of the same name on
	// local: the overview's alert links to edge's.
	step("alert links to its target", func(t *testing.T) {
		b.MustDo(201, "PUT", "/api/v1/services/crash", map[string]any{"command": []string{"sleep", "600"}})
		b.MustDo(201, "PUT", "/api/v1/services/crash", map[string]any{"target": "edge", "command": []string{"sh", "-c", "exit 3"}})
		Eventually(t, 45*time.Second, "local's crash RUNNING", func() (bool, string) {
			s := str(b.MustDo(200, "GET", "/api/v1/services/crash?target=local", nil), "service", "status")
			return s == "RUNNING", s
		})
		d.Click("nav-overview")
		d.WaitHash("#/overview")
		link := tid("alert-row") + ` a[href="#/services/crash?target=edge"]`
		d.WaitVisibleSel(link)
		if n := d.Count(tid("alert-row") + ` a[href^="#/services/crash"]:not([href$="target=edge"])`); n != 0 {
			t.Errorf("%d alert(s) link to another crash: %v", n, d.Texts(tid("alert-row")))
		}
		d.ClickSel(link)
		d.WaitHash("#/services/crash?target=edge")
		d.WaitText("service-title", "crash")
		d.Eventually("the page shows edge's crash", func() (bool, string) {
			var meta string
			d.Eval(`document.querySelector('.meta') ? document.querySelector('.meta').textContent : ''`, &meta)
			return strings.Contains(meta, "target edge"), meta
		})
		if s := d.Text("service-status"); s == "RUNNING" {
			t.Errorf("edge's crash shows %s", s)
		}
		d.check()
	})
}
