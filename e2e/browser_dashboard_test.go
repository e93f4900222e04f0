package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// optionValues lists the values of a select's options, sorted.
func (d *dashboard) optionValues(testid string) []string {
	d.t().Helper()
	var vals []string
	d.Eval(`[...document.querySelectorAll('[data-testid="`+testid+`"] option')].map((o) => o.value)`, &vals)
	slices.Sort(vals)
	return vals
}

// TestBrowserServiceFormCapabilities: the New service form offers only the
// targets whose capabilities include "services"; from a server that does
// not declare capabilities (the field absent) it offers every target. The
// targets' answer is rewritten in the page (fetch wrapped) to declare an
// environments-only target, as an ACI target does.
func TestBrowserServiceFormCapabilities(t *testing.T) {
	b := twoTargets(t)
	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")

	// As the server answers: both local targets run services.
	d.Click("nav-services")
	d.WaitHash("#/services")
	d.Click("service-create-open")
	d.Eventually("both targets offered", func() (bool, string) {
		v := d.optionValues("service-create-target")
		return slices.Equal(v, []string{"edge", "local"}), strings.Join(v, ",")
	})

	// edge declares environments only.
	var ok bool
	d.Eval(`(() => {
		const orig = window.fetch;
		window.fetch = async (input, init) => {
			const res = await orig(input, init);
			if (!String(input).endsWith('/api/v1/targets')) return res;
			const body = await res.json();
			for (const t of body.targets) t.capabilities = t.name === 'edge' ? ['environments', 'logs'] : ['services', 'environments', 'logs'];
			return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
		};
		return true;
	})()`, &ok)
	d.Click("nav-overview")
	d.WaitHash("#/overview")
	d.Click("nav-services")
	d.WaitHash("#/services")
	d.Click("service-create-open")
	d.Eventually("only local offered", func() (bool, string) {
		v := d.optionValues("service-create-target")
		return slices.Equal(v, []string{"local"}), strings.Join(v, ",")
	})
	// The list's filter still shows every target: edge's services are listed.
	if v := d.optionValues("services-target"); !slices.Equal(v, []string{"", "edge", "local"}) {
		t.Errorf("the target filter offers %v", v)
	}
	d.check()
}

// TestBrowserLeaveAbortsReads: a page's read still running when the page is
// left is aborted (its AbortSignal), and says nothing: no toast, no console
// error. The services list's read is held in the page until aborted.
func TestBrowserLeaveAbortsReads(t *testing.T) {
	b := twoTargets(t)
	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")

	var ok bool
	d.Eval(`(() => {
		window.__held = 0;
		window.__aborted = 0;
		const orig = window.fetch;
		window.fetch = (input, init) => {
			if (!String(input).startsWith('/api/v1/services?')) return orig(input, init);
			window.__held++;
			return new Promise((resolve, reject) => {
				if (!init || !init.signal) return; // held for good: the test sees no abort
				init.signal.addEventListener('abort', () => {
					window.__aborted++;
					reject(new DOMException('left', 'AbortError'));
				});
			});
		};
		return true;
	})()`, &ok)
	d.Click("nav-services")
	d.WaitHash("#/services")
	d.Eventually("the services read is held", func() (bool, string) {
		var n int
		d.Eval(`window.__held`, &n)
		return n >= 1, ""
	})
	d.Click("nav-audit")
	d.WaitHash("#/audit")
	d.Eventually("the held read is aborted", func() (bool, string) {
		var held, aborted int
		d.Eval(`window.__held`, &held)
		d.Eval(`window.__aborted`, &aborted)
		return held >= 1 && aborted == held, fmt.Sprintf("%d held, %d aborted", held, aborted)
	})
	d.WaitVisible("audit-row")
	if d.Exists(`[data-testid="toast"].error:not(.hidden)`) {
		t.Errorf("an aborted read toasted: %q", d.Text("toast"))
	}
	d.check()
}
