package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserOpenEnvironment: the dashboard's Open asks for a ticket and
// opens the proxy with it; Chromium ends at the environment with the
// cookie, sees the workspace listing, and the proxied page — on berth's own
// origin in path mode — cannot read the dashboard's session storage (the
// CSP sandbox makes it an opaque origin) nor the cookie.
func TestBrowserOpenEnvironment(t *testing.T) {
	b := StartBerth(t, "", "")
	id := str(b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "opened"}), "environment", "id")
	Eventually(t, 60*time.Second, "environment RUNNING", func() (bool, string) {
		s := apiEnvStatus(b, id)
		return s == "RUNNING", s
	})
	wsDir := filepath.Join(b.DataDir, "targets", "local", "environments", id, "workspace")
	if err := os.WriteFile(filepath.Join(wsDir, "from-disk.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	d := openDashboard(t, b)
	d.Navigate(d.base + "/")
	d.loginOK("admin", adminPassword, "admin")
	d.open("#/environments")
	open := envRow(id) + " " + tid("env-open")
	d.WaitVisibleSel(open)
	// Keep the tab the link opens in this page, to follow it here.
	d.Eval(`(() => { window.__opened = { opener: 1, location: { href: '' }, close() {} }; window.open = () => window.__opened; return true; })()`, new(bool))
	d.ClickSel(open)
	var ticketURL string
	d.Eventually("Open asked for a ticket", func() (bool, string) {
		d.Eval(`window.__opened.location.href`, &ticketURL)
		return strings.Contains(ticketURL, "?berth-ticket="), ticketURL
	})
	if !strings.HasPrefix(ticketURL, d.base+"/env/"+id+"/") {
		t.Fatalf("Open went to %q", ticketURL)
	}

	d.Navigate(ticketURL)
	d.Eventually("the workspace listing", func() (bool, string) {
		var text string
		d.Eval(`document.body ? document.body.innerText : ''`, &text)
		return strings.Contains(text, "from-disk.txt"), text
	})
	if loc := d.Location(); loc != d.base+"/env/"+id+"/" {
		t.Errorf("after the ticket the page is at %q (the ticket must leave the URL)", loc)
	}
	var probe string
	d.Eval(`(() => {
		let storage = 'readable';
		try { sessionStorage.getItem('x'); } catch (e) { storage = 'blocked'; }
		return storage + ' ' + String(origin) + ' cookie=' + (() => { try { return document.cookie; } catch (e) { return 'blocked'; } })();
	})()`, &probe)
	if !strings.HasPrefix(probe, "blocked null ") || strings.Contains(probe, "berth_env=") {
		t.Errorf("the proxied page (storage, origin, cookie): %s; want storage blocked, an opaque origin, no cookie", probe)
	}
	// The ticket was single use: loading it again is refused.
	d.ExpectConsoleError(`berth-ticket=`)
	d.Navigate(ticketURL)
	var text string
	d.Eval(`document.body ? document.body.innerText : ''`, &text)
	if !strings.Contains(text, "dashboard") {
		t.Errorf("a used ticket shows %s", strconv.Quote(text))
	}
}
