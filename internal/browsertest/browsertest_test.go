package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'"

// pageHTML is a small app: a form that greets, an element that appears late,
// an overlay that covers a button for a while, a list that grows, a counter
// of clicks and a hash route.
const pageHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>self-test</title><script src="/app.js" defer></script></head>
<body>
<input data-testid="name">
<select data-testid="role"><option value="viewer">viewer</option><option value="admin">admin</option></select>
<button data-testid="go">Go</button>
<div data-testid="out"></div>
<div data-testid="role-out"></div>
<div data-testid="route"></div>
<button data-testid="covered">covered</button>
<div data-testid="clicks">0</div>
<ul data-testid="list"></ul>
<div data-testid="hidden" hidden>hidden</div>
</body></html>`

const appJS = `
const $ = id => document.querySelector('[data-testid="' + id + '"]');
$('go').addEventListener('click', () => { $('out').textContent = 'hello ' + $('name').value; });
$('role').addEventListener('change', e => { $('role-out').textContent = 'role ' + e.target.value; });
let clicks = 0;
$('covered').addEventListener('click', () => { clicks++; $('clicks').textContent = String(clicks); });
const overlay = document.createElement('div');
overlay.id = 'overlay';
overlay.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.3)';
document.body.appendChild(overlay);
setTimeout(() => overlay.remove(), 400);
setTimeout(() => { const d = document.createElement('div'); d.dataset.testid = 'late'; d.textContent = 'late one'; document.body.appendChild(d); }, 500);
let n = 0;
const timer = setInterval(() => { const li = document.createElement('li'); li.dataset.testid = 'item'; li.textContent = 'item ' + (++n); $('list').appendChild(li); if (n === 5) clearInterval(timer); }, 100);
const route = () => { $('route').textContent = 'route ' + (location.hash || '#/'); };
window.addEventListener('hashchange', route); route();
console.log('app started', 42);
`

// failingJS logs errors of three kinds: console.error, an uncaught
// exception and (from the page's inline script) a CSP violation.
const failingJS = `
console.error('self-test console error');
setTimeout(() => { throw new Error('self-test uncaught'); }, 0);
document.querySelector('[data-testid="marker"]').textContent = 'failing page rendered';
`

func server(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
		}
	}
	js := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("/{$}", page(pageHTML))
	mux.HandleFunc("/app.js", js(appJS))
	mux.HandleFunc("/failing", page(`<!doctype html><html><head><script src="/failing.js" defer></script>
<script>window.inlineRan = true;</script></head><body><div data-testid="marker">not yet</div></body></html>`))
	mux.HandleFunc("/failing.js", js(failingJS))
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHarnessDrivesAPage(t *testing.T) {
	srv := server(t)
	b := New(t)
	b.Timeout = 10 * time.Second
	b.Navigate(srv.URL + "/")

	// An element that appears later is awaited, not raced.
	b.WaitVisible("late")
	if got := b.Text("late"); got != "late one" {
		t.Errorf("Text(late) = %q", got)
	}

	// SetValue fires input/change; Click is a real mouse click.
	b.SetValue("name", "Ada <b>")
	if got := b.Value("name"); got != "Ada <b>" {
		t.Errorf("Value(name) = %q", got)
	}
	b.Click("go")
	if got := b.WaitText("out", "hello Ada"); got != "hello Ada <b>" {
		t.Errorf("out = %q", got)
	}
	b.SetValue("role", "admin")
	b.WaitText("role-out", "role admin")

	// A click waits until nothing covers the element, and clicks once.
	b.Click("covered")
	b.WaitText("clicks", "1")
	if b.Exists("#overlay") {
		t.Errorf("clicked while the overlay was still there")
	}

	// Counting and waiting for a count.
	if n := b.WaitCount(TestID("item"), "five items", func(n int) bool { return n == 5 }); n != 5 {
		t.Errorf("items = %d", n)
	}
	if got := b.Texts(TestID("item")); len(got) != 5 || got[0] != "item 1" || got[4] != "item 5" {
		t.Errorf("Texts(item) = %q", got)
	}
	if n := b.Count(TestID("nothing")); n != 0 {
		t.Errorf("Count(nothing) = %d", n)
	}
	b.WaitNotVisible(TestID("hidden"))
	if b.Attr(TestID("hidden"), "data-testid") != "hidden" || b.Attr(TestID("hidden"), "title") != "" {
		t.Errorf("Attr is wrong")
	}

	// A hash change is a same-document navigation: no reload, state kept.
	b.Navigate(srv.URL + "/#/services")
	b.WaitHash("#/services")
	b.WaitText("route", "route #/services")
	if got := b.Text("out"); got != "hello Ada <b>" {
		t.Errorf("a hash navigation reloaded the page: out = %q", got)
	}
	b.Reload()
	b.WaitText("route", "route #/services")
	if got := b.Text("out"); got != "" {
		t.Errorf("after reload out = %q", got)
	}
	if !strings.HasSuffix(b.Location(), "/#/services") {
		t.Errorf("Location = %q", b.Location())
	}

	// The console is recorded; a plain log is no error.
	b.Eventually("console log recorded", func() (bool, string) {
		for _, e := range b.ConsoleLog() {
			if e.Kind == "console" && e.Level == "log" && e.Text == "app started 42" {
				return true, ""
			}
		}
		return false, fmt.Sprint(b.ConsoleLog())
	})
	if errs := b.UnexpectedConsoleErrors(); len(errs) != 0 {
		t.Errorf("unexpected console errors on a clean page: %v", errs)
	}
}

func TestHarnessCatchesConsoleErrorsAndCSP(t *testing.T) {
	srv := server(t)
	b := New(t)
	b.Navigate(srv.URL + "/failing")
	b.WaitText("marker", "failing page rendered")
	want := map[string]string{
		"console.error": "self-test console error",
		"exception":     "self-test uncaught",
		"CSP violation": "Content Security Policy",
	}
	b.Eventually("three kinds of errors seen", func() (bool, string) {
		all := fmt.Sprint(b.UnexpectedConsoleErrors())
		for _, sub := range want {
			if !strings.Contains(all, sub) {
				return false, all
			}
		}
		return true, ""
	})
	var inline bool
	b.Eval(`window.inlineRan === true`, &inline)
	if inline {
		t.Errorf("the inline script ran despite the CSP")
	}
	// Declared errors no longer count; anything else still would.
	b.ExpectConsoleError(`self-test console error|self-test uncaught`)
	if errs := b.UnexpectedConsoleErrors(); len(errs) != 1 || !strings.Contains(errs[0].Text, "Content Security Policy") {
		t.Fatalf("after expecting two, unexpected = %v", errs)
	}
	b.ExpectConsoleError(`Content Security Policy`)
	b.CheckConsole()
}

// TestHelperFailingPage is run by TestFailuresAreReported in a child
// process (it fails on purpose); on its own it does nothing.
func TestHelperFailingPage(t *testing.T) {
	url := os.Getenv("BROWSERTEST_HELPER_URL")
	if url == "" {
		t.Skip("helper of TestFailuresAreReported")
	}
	b := New(t)
	b.Navigate(url)
	b.WaitText("marker", "failing page rendered")
	b.Eventually("the exception is logged", func() (bool, string) {
		for _, e := range b.ConsoleLog() {
			if e.Kind == "exception" {
				return true, ""
			}
		}
		return false, ""
	})
	// The test ends with no failure of its own: the console check fails it.
}

func runHelper(t *testing.T, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperFailingPage$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestFailuresAreReported(t *testing.T) {
	RequireChromium(t)
	srv := server(t)
	dir := t.TempDir()
	out, err := runHelper(t, "BROWSERTEST_HELPER_URL="+srv.URL+"/failing", "BERTH_TEST_ARTIFACTS="+dir)
	if err == nil || !strings.Contains(out, "--- FAIL: TestHelperFailingPage") {
		t.Fatalf("a page with console errors did not fail its test (err %v):\n%s", err, out)
	}
	for _, want := range []string{"unexpected console error", "self-test console error", "self-test uncaught", "Content Security Policy", "browsertest: saved", dir} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	art := filepath.Join(dir, "TestHelperFailingPage")
	png, err := os.ReadFile(filepath.Join(art, "failure-screenshot.png"))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n")) {
		t.Errorf("screenshot: %v (%d bytes)", err, len(png))
	}
	if html, err := os.ReadFile(filepath.Join(art, "failure-page.html")); err != nil || !strings.Contains(string(html), "failing page rendered") {
		t.Errorf("page HTML: %v: %.300s", err, html)
	}
	if cl, err := os.ReadFile(filepath.Join(art, "failure-console.log")); err != nil || !strings.Contains(string(cl), "self-test uncaught") {
		t.Errorf("console log: %v: %s", err, cl)
	}

	// No Chromium: a failure under CI, a skip otherwise, both saying how to install it.
	out, err = runHelper(t, "BROWSERTEST_HELPER_URL="+srv.URL+"/failing", "BERTH_CHROMIUM=/nonexistent/chromium", "CI=true")
	if err == nil || !strings.Contains(out, "--- FAIL") || !strings.Contains(out, "apt-get install chromium") {
		t.Errorf("missing Chromium under CI=true did not fail with how to install it (err %v):\n%s", err, out)
	}
	out, err = runHelper(t, "BROWSERTEST_HELPER_URL="+srv.URL+"/failing", "BERTH_CHROMIUM=/nonexistent/chromium", "CI=")
	if err != nil || !strings.Contains(out, "--- SKIP") || !strings.Contains(out, "apt-get install chromium") {
		t.Errorf("missing Chromium outside CI did not skip with how to install it (err %v):\n%s", err, out)
	}
}
