// Package browsertest drives Debian's Chromium headless through chromedp for
// the dashboard's browser tests. New(t) starts one browser with one tab;
// helpers find elements by their data-testid, wait with deadlines, and fail
// the test with a screenshot, the page's HTML and the console log saved.
// Every console error and uncaught exception of the page (CSP violations
// included) fails the test unless the test said it expects it.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// DefaultChromium is where Debian's chromium package puts the browser.
const DefaultChromium = "/usr/bin/chromium"

// ChromiumPath returns the Chromium to run: $BERTH_CHROMIUM when set, else
// Debian's /usr/bin/chromium, else chromium on PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv("BERTH_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil { // #nosec G703 -- the tester names the browser to run
			return "", fmt.Errorf("BERTH_CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	if _, err := os.Stat(DefaultChromium); err == nil {
		return DefaultChromium, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", errors.New("chromium not found at " + DefaultChromium + " nor on PATH")
}

// RequireChromium returns the browser's path; without one it fails the test
// under CI=true and skips it otherwise.
func RequireChromium(t testing.TB) string {
	t.Helper()
	p, err := ChromiumPath()
	if err == nil {
		return p
	}
	const how = "install it with `make deps` (scripts/install-deps.sh) or `apt-get install chromium`"
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests need Chromium under CI: %v; %s", err, how)
	}
	t.Skipf("browser tests skipped: %v; %s", err, how)
	return ""
}

// ConsoleEntry is one message of the page's console: a console API call, an
// uncaught exception, or an entry of the browser's log (network errors, CSP
// violations).
type ConsoleEntry struct {
	Time   time.Time
	Kind   string // "console", "exception" or "log"
	Level  string // log, info, debug, warning, error, ...
	Source string // for "log": network, security, javascript, ...
	Text   string
	URL    string
}

// IsError reports whether the entry fails a test that does not expect it.
func (e ConsoleEntry) IsError() bool {
	switch e.Kind {
	case "exception":
		return true
	case "console":
		return e.Level == "error" || e.Level == "assert"
	case "log":
		return e.Level == "error"
	}
	return false
}

func (e ConsoleEntry) String() string {
	s := fmt.Sprintf("%s %s/%s", e.Time.Format("15:04:05.000"), e.Kind, e.Level)
	if e.Source != "" {
		s += "(" + e.Source + ")"
	}
	s += ": " + e.Text
	if e.URL != "" {
		s += " [" + e.URL + "]"
	}
	return s
}

const maxConsole = 5000

// Browser is one headless Chromium with one tab, owned by a test.
type Browser struct {
	t *testing.T
	// Timeout bounds every wait of the helpers (WaitVisible, WaitText, Click, ...).
	Timeout time.Duration

	ctx          context.Context // the tab
	artifactsDir string

	mu       sync.Mutex
	console  []ConsoleEntry
	expected []*regexp.Regexp
	dropped  int
	saved    bool // artifacts written already (Fatalf, then the cleanup)
}

// New starts a headless Chromium with a fresh profile and returns its tab. The
// browser closes at the end of the test, after the console check and, when
// the test failed, after the artifacts are saved.
func New(t *testing.T) *Browser {
	t.Helper()
	exe := RequireChromium(t)
	b := &Browser{t: t, Timeout: 20 * time.Second, artifactsDir: t.TempDir()}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.onEvent))
	b.ctx = tab
	started := false
	t.Cleanup(func() {
		if started { // a browser that never started has no page to check or save
			b.checkConsole()
			if t.Failed() {
				b.saveArtifacts("failure")
			}
		}
		cancelTab()
		cancelAlloc()
	})
	const startTimeout = 2 * time.Minute // a loaded CI machine starts Chromium slowly
	start, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// The first action starts the browser; it must run on the tab's own
	// context (a deadline there would end the browser), so wait beside it.
	errc := make(chan error, 1)
	go func() { errc <- chromedp.Do(tab) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("start chromium %s: %v", exe, err)
		}
	case <-start.Done():
		// End the start attempt before failing, so nothing else uses the
		// tab's context while it is still being set up.
		cancelTab()
		<-errc
		t.Fatalf("chromium %s did not start within %s", exe, startTimeout)
	}
	started = true
	return b
}

// Context is the tab's context, for chromedp actions the helpers lack.
func (b *Browser) Context() context.Context { return b.ctx }

// TestID is the CSS selector of the elements with that data-testid.
func TestID(id string) string { return fmt.Sprintf("[data-testid=%q]", id) }

// onEvent runs in chromedp's event loop: record, never block.
func (b *Browser) onEvent(ev any) {
	var e ConsoleEntry
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		e = ConsoleEntry{Time: msTime(float64(ev.Timestamp)), Kind: "console", Level: string(ev.Type), Text: argsText(ev.Args)}
		if ev.StackTrace != nil && len(ev.StackTrace.CallFrames) > 0 {
			e.URL = ev.StackTrace.CallFrames[0].URL
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		e = ConsoleEntry{Time: msTime(float64(ev.Timestamp)), Kind: "exception", Level: "error"}
		if d != nil {
			e.Text, e.URL = d.Text, d.URL
			if d.Exception != nil && d.Exception.Description != "" {
				e.Text += " " + d.Exception.Description
			}
		}
	case *log.EventEntryAdded:
		en := ev.Entry
		if en == nil {
			return
		}
		e = ConsoleEntry{Time: msTime(float64(en.Timestamp)), Kind: "log", Level: string(en.Level), Source: string(en.Source), Text: en.Text, URL: en.URL}
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.console) >= maxConsole {
		b.dropped++
		return
	}
	b.console = append(b.console, e)
}

func msTime(ms float64) time.Time {
	if ms <= 0 {
		return time.Now()
	}
	return time.UnixMilli(int64(ms))
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == nil:
		case a.Type == runtime.RemoteObjectTypeString && len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
				continue
			}
			parts = append(parts, string(a.Value))
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		case a.UnserializableValue != "":
			parts = append(parts, string(a.UnserializableValue))
		default:
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

// ExpectConsoleError declares console errors the test causes on purpose (a
// 401 of a wrong password, ...): entries whose text or URL match the regular
// expression do not fail the test.
func (b *Browser) ExpectConsoleError(pattern string) {
	b.t.Helper()
	re, err := regexp.Compile(pattern)
	if err != nil {
		b.t.Fatalf("ExpectConsoleError(%q): %v", pattern, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, re)
}

// ConsoleLog returns every console entry so far.
func (b *Browser) ConsoleLog() []ConsoleEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ConsoleEntry(nil), b.console...)
}

// UnexpectedConsoleErrors returns the console errors and exceptions that no
// ExpectConsoleError pattern covers.
func (b *Browser) UnexpectedConsoleErrors() []ConsoleEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []ConsoleEntry
	for _, e := range b.console {
		if !e.IsError() {
			continue
		}
		ok := false
		for _, re := range b.expected {
			if re.MatchString(e.Text) || (e.URL != "" && re.MatchString(e.URL)) {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, e)
		}
	}
	return out
}

// CheckConsole fails the test now if the page logged an unexpected error.
// It runs by itself at the end of every test too.
func (b *Browser) CheckConsole() {
	b.t.Helper()
	if errs := b.UnexpectedConsoleErrors(); len(errs) > 0 {
		b.Fatalf("the page logged %d unexpected console error(s):\n%s", len(errs), entriesText(errs))
	}
}

func (b *Browser) checkConsole() {
	if errs := b.UnexpectedConsoleErrors(); len(errs) > 0 {
		b.t.Errorf("browsertest: the page logged %d unexpected console error(s) (CSP violations and failed requests included):\n%s",
			len(errs), entriesText(errs))
	}
}

func entriesText(es []ConsoleEntry) string {
	var sb strings.Builder
	for _, e := range es {
		sb.WriteString("  " + e.String() + "\n")
	}
	return sb.String()
}

// Use makes the helpers report on t (a step of the test, run with t.Run)
// until restore is called.
func (b *Browser) Use(t *testing.T) (restore func()) {
	prev := b.t
	b.t = t
	return func() { b.t = prev }
}

// Fatalf saves the artifacts and fails the test.
func (b *Browser) Fatalf(format string, args ...any) {
	b.t.Helper()
	b.saveArtifacts("failure")
	b.t.Fatalf(format, args...)
}

// ArtifactsDir is where a failure's artifacts go: $BERTH_TEST_ARTIFACTS/<test>
// when that is set (kept), else a directory of t.TempDir() (removed with it).
func (b *Browser) ArtifactsDir() string {
	if root := os.Getenv("BERTH_TEST_ARTIFACTS"); root != "" {
		name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(b.t.Name(), "_")
		return filepath.Join(root, name)
	}
	return b.artifactsDir
}

// saveArtifacts writes the screenshot, the page's HTML, its URL and the console
// log, and prints where.
func (b *Browser) saveArtifacts(prefix string) {
	b.mu.Lock()
	done := b.saved
	b.saved = true
	b.mu.Unlock()
	if done {
		return
	}
	dir := b.ArtifactsDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.t.Logf("browsertest: cannot save artifacts: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var saved []string
	write := func(name string, data []byte) {
		p := filepath.Join(dir, prefix+"-"+name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			b.t.Logf("browsertest: write %s: %v", p, err)
			return
		}
		saved = append(saved, filepath.Base(p))
	}
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		write("screenshot.png", png)
	} else {
		b.t.Logf("browsertest: screenshot: %v", err)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement ? document.documentElement.outerHTML : ""`)); err == nil {
		write("page.html", []byte(html))
	} else {
		b.t.Logf("browsertest: page HTML: %v", err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); err == nil {
		write("url.txt", []byte(loc+"\n"))
	}
	b.mu.Lock()
	text := entriesText(b.console)
	if b.dropped > 0 {
		text += fmt.Sprintf("  (%d more entries dropped)\n", b.dropped)
	}
	b.mu.Unlock()
	write("console.log", []byte(text))
	where := dir
	if os.Getenv("BERTH_TEST_ARTIFACTS") == "" {
		where += " (removed with the test's temp dir; set BERTH_TEST_ARTIFACTS=<dir> to keep them)"
	}
	b.t.Logf("browsertest: saved %s in %s", strings.Join(saved, ", "), where)
}

// eval runs a JavaScript expression in the page and decodes its value.
func eval[T any](b *Browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// Eval runs a JavaScript expression in the page and decodes its JSON value
// into out (nil: ignore it); an error fails the test.
func (b *Browser) Eval(expr string, out any) {
	b.t.Helper()
	raw, err := eval[[]byte](b, expr)
	if err != nil {
		b.Fatalf("eval %s: %v", expr, err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.Fatalf("eval %s: decode %s: %v", expr, raw, err)
		}
	}
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// poll evaluates expr (a JS expression yielding {ok: bool, state: string})
// until ok or the deadline; it fails the test with the last state.
func (b *Browser) poll(what, expr string) string {
	b.t.Helper()
	var last string
	err := b.pollErr(expr, b.Timeout, &last)
	if err != nil {
		b.Fatalf("%s: %v; last state: %s", what, err, last)
	}
	return last
}

type pollState struct {
	OK    bool   `json:"ok"`
	State string `json:"state"`
}

func (b *Browser) pollErr(expr string, timeout time.Duration, last *string) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := eval[pollState](b, expr)
		if err == nil {
			*last = st.State
			if st.OK {
				return nil
			}
		} else {
			*last = "error: " + err.Error()
			if b.ctx.Err() != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not reached after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Navigate loads url and waits for its load event; a change of the hash
// alone is a same-document navigation and only sets location.hash.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	cur, _ := eval[string](b, `location.href`)
	base := func(u string) string {
		if i := strings.IndexByte(u, '#'); i >= 0 {
			return u[:i]
		}
		return u
	}
	if i := strings.IndexByte(url, '#'); i >= 0 && cur != "" && base(cur) == base(url) {
		b.Eval(`location.hash = `+jsString(url[i:]), nil)
		b.poll("navigate to "+url, `({ok: location.href === `+jsString(url)+`, state: location.href})`)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout+10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		b.Fatalf("navigate to %s: %v", url, err)
	}
}

// Reload reloads the page and waits for its load event.
func (b *Browser) Reload() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout+10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		b.Fatalf("reload: %v", err)
	}
}

// Location is the page's URL.
func (b *Browser) Location() string {
	b.t.Helper()
	var s string
	b.Eval(`location.href`, &s)
	return s
}

// WaitHash waits until location.hash equals hash (e.g. "#/overview").
func (b *Browser) WaitHash(hash string) {
	b.t.Helper()
	b.poll("location hash "+hash, `({ok: location.hash === `+jsString(hash)+`, state: location.href})`)
}

// visibleJS is a JS function body: is element el rendered and visible?
const visibleJS = `function(el) {
	if (!el || !el.isConnected) return false;
	const st = getComputedStyle(el);
	if (st.visibility === 'hidden' || st.display === 'none') return false;
	return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
}`

// WaitVisible waits until an element with that data-testid is visible.
func (b *Browser) WaitVisible(testid string) { b.t.Helper(); b.WaitVisibleSel(TestID(testid)) }

// WaitVisibleSel waits until an element matching the CSS selector is visible.
func (b *Browser) WaitVisibleSel(sel string) {
	b.t.Helper()
	b.poll("visible "+sel, `(() => { const vis = `+visibleJS+`;
		const els = [...document.querySelectorAll(`+jsString(sel)+`)];
		return {ok: els.some(vis), state: els.length + ' match(es), none visible'}; })()`)
}

// WaitGone waits until no element matches the CSS selector.
func (b *Browser) WaitGone(sel string) {
	b.t.Helper()
	b.poll("gone "+sel, `(() => { const n = document.querySelectorAll(`+jsString(sel)+`).length;
		return {ok: n === 0, state: n + ' match(es)'}; })()`)
}

// WaitNotVisible waits until no element matching the CSS selector is visible.
func (b *Browser) WaitNotVisible(sel string) {
	b.t.Helper()
	b.poll("not visible "+sel, `(() => { const vis = `+visibleJS+`;
		const n = [...document.querySelectorAll(`+jsString(sel)+`)].filter(vis).length;
		return {ok: n === 0, state: n + ' visible match(es)'}; })()`)
}

// Click clicks, with the mouse, the element with that data-testid.
func (b *Browser) Click(testid string) { b.t.Helper(); b.ClickSel(TestID(testid)) }

// ClickSel waits until the first visible element matching the CSS selector
// can take a click (in the viewport, not covered by another element), then
// clicks its center with the mouse, as a user would.
func (b *Browser) ClickSel(sel string) {
	b.t.Helper()
	type target struct {
		OK    bool    `json:"ok"`
		State string  `json:"state"`
		X     float64 `json:"x"`
		Y     float64 `json:"y"`
	}
	expr := `(() => { const vis = ` + visibleJS + `;
		const el = [...document.querySelectorAll(` + jsString(sel) + `)].find(vis);
		if (!el) return {ok: false, state: 'no visible match'};
		if (el.disabled) return {ok: false, state: 'disabled'};
		el.scrollIntoView({block: 'center', inline: 'center'});
		const r = el.getBoundingClientRect();
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		const hit = document.elementFromPoint(x, y);
		if (!hit || !(el === hit || el.contains(hit))) {
			return {ok: false, state: 'covered by ' + (hit ? hit.outerHTML.slice(0, 200) : 'nothing')};
		}
		return {ok: true, state: el.outerHTML.slice(0, 200), x: x, y: y}; })()`
	deadline := time.Now().Add(b.Timeout)
	last := ""
	for {
		tg, err := eval[target](b, expr)
		if err == nil && tg.OK {
			ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
			err = chromedp.Do(ctx, chromedp.MouseClickXY(tg.X, tg.Y))
			cancel()
			if err == nil {
				return
			}
		}
		switch {
		case err != nil:
			last = "error: " + err.Error()
		default:
			last = tg.State
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.Fatalf("click %s: not clickable after %s; last state: %s", sel, b.Timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SetValue sets the value of the input, textarea or select with that
// data-testid and fires its input and change events.
func (b *Browser) SetValue(testid, value string) {
	b.t.Helper()
	b.SetValueSel(TestID(testid), value)
}

// SetValueSel is SetValue by CSS selector (first visible match).
func (b *Browser) SetValueSel(sel, value string) {
	b.t.Helper()
	b.poll("set value of "+sel, `(() => { const vis = `+visibleJS+`;
		const el = [...document.querySelectorAll(`+jsString(sel)+`)].find(vis);
		if (!el) return {ok: false, state: 'no visible match'};
		if (el.disabled) return {ok: false, state: 'disabled'};
		const v = `+jsString(value)+`;
		if (el instanceof HTMLSelectElement && ![...el.options].some(o => o.value === v)) {
			return {ok: false, state: 'no option ' + v + ' in ' + [...el.options].map(o => o.value).join(',')};
		}
		const proto = Object.getPrototypeOf(el);
		const desc = Object.getOwnPropertyDescriptor(proto, 'value');
		el.focus();
		if (desc && desc.set) desc.set.call(el, v); else el.value = v;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return {ok: el.value === v, state: 'value ' + el.value}; })()`)
}

// Value returns the value of the input, textarea or select with that data-testid.
func (b *Browser) Value(testid string) string {
	b.t.Helper()
	var s string
	b.WaitVisible(testid)
	b.Eval(`document.querySelector(`+jsString(TestID(testid))+`).value`, &s)
	return s
}

// Text waits for an element with that data-testid and returns its visible
// text, trimmed.
func (b *Browser) Text(testid string) string { b.t.Helper(); return b.TextSel(TestID(testid)) }

// TextSel is Text by CSS selector (first match).
func (b *Browser) TextSel(sel string) string {
	b.t.Helper()
	return b.poll("text of "+sel, `(() => { const el = document.querySelector(`+jsString(sel)+`);
		return el ? {ok: true, state: (el.innerText || el.textContent || '').trim()} : {ok: false, state: 'no match'}; })()`)
}

// Texts returns the trimmed text of every element matching the CSS
// selector, in document order (none: empty, no wait).
func (b *Browser) Texts(sel string) []string {
	b.t.Helper()
	var out []string
	b.Eval(`[...document.querySelectorAll(`+jsString(sel)+`)].map(el => (el.innerText || el.textContent || '').trim())`, &out)
	return out
}

// WaitText waits until the element with that data-testid contains substr in
// its text, and returns the text.
func (b *Browser) WaitText(testid, substr string) string {
	b.t.Helper()
	return b.WaitTextSel(TestID(testid), substr)
}

// WaitTextSel is WaitText by CSS selector: some match must contain substr.
func (b *Browser) WaitTextSel(sel, substr string) string {
	b.t.Helper()
	return b.poll(fmt.Sprintf("text %q in %s", substr, sel), `(() => {
		const ts = [...document.querySelectorAll(`+jsString(sel)+`)].map(el => (el.innerText || el.textContent || '').trim());
		const hit = ts.find(t => t.includes(`+jsString(substr)+`));
		return hit !== undefined ? {ok: true, state: hit} : {ok: false, state: ts.length ? JSON.stringify(ts).slice(0, 500) : 'no match'}; })()`)
}

// Count is how many elements match the CSS selector now.
func (b *Browser) Count(sel string) int {
	b.t.Helper()
	var n int
	b.Eval(`document.querySelectorAll(`+jsString(sel)+`).length`, &n)
	return n
}

// WaitCount waits until cond holds for the number of elements matching the
// CSS selector, and returns that number.
func (b *Browser) WaitCount(sel, what string, cond func(n int) bool) int {
	b.t.Helper()
	var n int
	b.Eventually(what+" ("+sel+")", func() (bool, string) {
		n = b.Count(sel)
		return cond(n), fmt.Sprintf("%d match(es)", n)
	})
	return n
}

// Attr is the attribute of the first element matching the CSS selector
// ("" when absent); the element must exist.
func (b *Browser) Attr(sel, name string) string {
	b.t.Helper()
	return b.poll("attribute "+name+" of "+sel, `(() => { const el = document.querySelector(`+jsString(sel)+`);
		return el ? {ok: true, state: el.getAttribute(`+jsString(name)+`) || ''} : {ok: false, state: 'no match'}; })()`)
}

// Exists reports whether an element matches the CSS selector now.
func (b *Browser) Exists(sel string) bool { b.t.Helper(); return b.Count(sel) > 0 }

// Eventually polls cond until it holds or the browser's Timeout passes.
func (b *Browser) Eventually(what string, cond func() (bool, string)) {
	b.t.Helper()
	b.EventuallyWithin(b.Timeout, what, cond)
}

// EventuallyWithin is Eventually with its own deadline.
func (b *Browser) EventuallyWithin(timeout time.Duration, what string, cond func() (bool, string)) {
	b.t.Helper()
	testutil.Eventually(savingT{b.t, b}, timeout, what, cond)
}

// savingT is the browser's test, whose Fatalf saves the artifacts first.
type savingT struct {
	*testing.T
	b *Browser
}

func (s savingT) Fatalf(format string, args ...any) {
	s.T.Helper()
	s.b.Fatalf(format, args...)
}
