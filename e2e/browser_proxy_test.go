package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// workspaceFiles are written into the environment's workspace on disk: a
// listing entry, and a page with a sub-resource (a 1×1 GIF).
var workspaceFiles = map[string]string{
	"from-disk.txt": "x",
	"page.html":     `<!doctype html><title>page</title><img src="pixel.gif" alt="pixel">`,
	"pixel.gif":     "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
}

// browserOpen creates an environment as admin, clicks its Open link in the
// dashboard and follows the ticket URL in Chromium, which must end at the
// environment's listing with the ticket gone from the address. It answers
// the dashboard, the environment's base URL and the ticket URL.
func browserOpen(t *testing.T, b *Berth) (*dashboard, string, string) {
	t.Helper()
	id := str(b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "opened"}), "environment", "id")
	Eventually(t, 60*time.Second, "environment RUNNING", func() (bool, string) {
		s := apiEnvStatus(b, id)
		return s == "RUNNING", s
	})
	wsDir := filepath.Join(workloadDirFor(b.DataDir), "local", "environments", id, "workspace")
	for name, body := range workspaceFiles {
		if err := os.WriteFile(filepath.Join(wsDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := str(b.MustDo(200, "GET", "/api/v1/environments/"+id, nil), "environment", "vsCodeUrl")

	d := openDashboard(t, b)
	d.ExpectConsoleError(`favicon\.ico`) // the workspace has none
	d.Navigate(d.base + "/")
	d.loginOK("admin", adminPassword, "admin")
	d.open("#/environments")
	open := envRow(id) + " " + tid("env-open")
	d.WaitVisibleSel(open)
	// Keep the tab the link opens in this page, to follow it here, and note
	// what Open did: whether the click reached it, and how berth answered its
	// ticket request (a failure says which, instead of an empty URL).
	d.Eval(`(() => {
		window.__opened = { opener: 1, location: { href: '' }, close() { window.__openClosed = true; } };
		window.__openCalls = 0;
		window.open = () => { window.__openCalls++; return window.__opened; };
		const fetch0 = window.fetch;
		window.fetch = async (...args) => {
			const r = await fetch0(...args);
			if (String(args[0]).endsWith('/open')) window.__openStatus = r.status;
			return r;
		};
		return true; })()`, new(bool))
	d.ClickSel(open)
	var ticketURL string
	clicked := time.Now()
	d.Eventually("Open asked for a ticket", func() (bool, string) {
		var st struct {
			Href   string `json:"href"`
			Calls  int    `json:"calls"`
			Status int    `json:"status"`
			Closed bool   `json:"closed"`
		}
		d.Eval(`({href: window.__opened.location.href, calls: window.__openCalls, status: window.__openStatus || 0, closed: !!window.__openClosed})`, &st)
		ticketURL = st.Href
		// A click the list's re-render swallowed never reached Open: click
		// again, as a user would. One that reached it and failed is the
		// failure to report.
		if st.Calls == 0 && time.Since(clicked) > 3*time.Second {
			d.ClickSel(open)
			clicked = time.Now()
		}
		return strings.Contains(ticketURL, "?berth-ticket="),
			fmt.Sprintf("url %q, Open called %d time(s), POST …/open answered %d, tab closed %v", st.Href, st.Calls, st.Status, st.Closed)
	})
	if !strings.HasPrefix(ticketURL, base+"?berth-ticket=") {
		t.Fatalf("Open went to %q, want %s?berth-ticket=…", ticketURL, base)
	}
	d.Navigate(ticketURL)
	d.Eventually("the workspace listing", func() (bool, string) {
		var text string
		d.Eval(`document.body ? document.body.innerText : ''`, &text)
		return strings.Contains(text, "from-disk.txt"), text
	})
	if loc := d.Location(); loc != base {
		t.Errorf("after the ticket the page is at %q, want %q (the ticket must leave the URL)", loc, base)
	}
	return d, base, ticketURL
}

// pageProbe answers what a workspace page can reach: the dashboard's
// session storage, its origin, its cookies.
func pageProbe(d *dashboard) string {
	var probe string
	d.Eval(`(() => {
		let storage = 'blocked';
		try { storage = sessionStorage.length === 0 ? 'empty' : 'has ' + Object.keys(sessionStorage).join(','); } catch (e) {}
		let cookie = 'blocked';
		try { cookie = document.cookie; } catch (e) {}
		return storage + ' ' + String(origin) + ' cookie=' + cookie;
	})()`, &probe)
	return probe
}

// TestBrowserOpenEnvironment (path mode): the dashboard's Open reaches the
// workspace in Chromium through a ticket and the cookie; the page, served
// on berth's own origin, cannot read the dashboard's session storage nor
// the cookie (the CSP sandbox makes it an opaque origin); the ticket works
// once.
func TestBrowserOpenEnvironment(t *testing.T) {
	b := StartBerth(t, "", "")
	d, base, ticketURL := browserOpen(t, b)
	if !strings.HasPrefix(base, b.URL+"/env/env-") {
		t.Errorf("vsCodeUrl %q is not the proxy's path", base)
	}
	if p := pageProbe(d); !strings.HasPrefix(p, "blocked null ") || strings.Contains(p, "berth_env=") {
		t.Errorf("the proxied page (storage, origin, cookie): %s; want storage blocked, an opaque origin, no cookie", p)
	}
	// The ticket was single use: loading it again is refused.
	d.ExpectConsoleError(`berth-ticket=`)
	d.Navigate(ticketURL)
	var text string
	d.Eval(`document.body ? document.body.innerText : ''`, &text)
	if !strings.Contains(text, "dashboard") {
		t.Errorf("a used ticket shows %q", text)
	}
}

// TestBrowserOpenEnvironmentHostMode: with envDomain, each environment is
// its own origin ({id}.localhost resolves to loopback in Chromium): a page
// of the workspace loads its sub-resources with the cookie (what an IDE
// needs, and what the sandbox of path mode prevents), and its origin holds
// none of the dashboard's storage nor a readable cookie.
func TestBrowserOpenEnvironmentHostMode(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_ENV_DOMAIN=localhost")
	d, base, _ := browserOpen(t, b)
	u, _ := url.Parse(b.URL)
	if !strings.HasPrefix(base, "http://env-") || !strings.HasSuffix(base, ".localhost:"+u.Port()+"/") {
		t.Fatalf("vsCodeUrl %q, want http://<id>.localhost:%s/", base, u.Port())
	}
	if p := pageProbe(d); p != "empty "+strings.TrimSuffix(base, "/")+" cookie=" {
		t.Errorf("the environment's page (storage, origin, cookie): %q; want empty storage, its own origin, no readable cookie", p)
	}
	d.Navigate(base + "page.html")
	d.Eventually("the page's image", func() (bool, string) {
		var w int
		d.Eval(`(() => { const i = document.querySelector('img'); return i && i.complete ? i.naturalWidth : -1; })()`, &w)
		return w == 1, "naturalWidth " + strconv.Itoa(w) + " (0: failed, -1: loading)"
	})
}
