package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berthhq/berth/web"
	"github.com/berthhq/berth/wshub"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// TestDashboardMounting: with a UI, browsers get the page at / and its
// files under /assets/; API clients, unknown routes and the rest of the API
// answer as they always did.
func TestDashboardMounting(t *testing.T) {
	t.Parallel()
	withUI := newLive(t, wshub.Config{}, func(_ *live, d *Deps) { d.UI = web.Handler() })
	withoutUI := newLive(t, wshub.Config{})

	tests := []struct {
		name         string
		srv          *live
		method, path string
		accept       string
		code         int
		ctype        string // prefix
		body         string // substring
		csp          bool   // the dashboard's security headers
	}{
		{"browser gets the page", withUI, "GET", "/", browserAccept, 200, "text/html", `<script type="module" src="/assets/app.js">`, true},
		{"plain text/html", withUI, "GET", "/", "text/html", 200, "text/html", "<title>berth</title>", true},
		{"HEAD of the page", withUI, "HEAD", "/", browserAccept, 200, "text/html", "", true},
		{"API client gets the JSON index", withUI, "GET", "/", "application/json", 200, "application/json", `"service":"berth"`, false},
		{"no Accept is an API client", withUI, "GET", "/", "", 200, "application/json", `"openapi":"/api/v1/openapi.json"`, false},
		{"curl's */* is an API client", withUI, "GET", "/", "*/*", 200, "application/json", `"service":"berth"`, false},
		{"stylesheet", withUI, "GET", "/assets/app.css", "text/css,*/*;q=0.1", 200, "text/css", ":root", true},
		{"module", withUI, "GET", "/assets/app.js", "*/*", 200, "text/javascript", "import", true},
		{"missing asset", withUI, "GET", "/assets/nope.js", "*/*", 404, "application/json", `"NOT_FOUND"`, true},
		{"asset by POST", withUI, "POST", "/assets/app.js", "*/*", 405, "application/json", `"error"`, false},
		{"unknown API route", withUI, "GET", "/api/v1/x", "application/json", 404, "application/json", `"NOT_FOUND"`, false},
		{"unknown route from a browser", withUI, "GET", "/elsewhere", browserAccept, 404, "application/json", `"NOT_FOUND"`, false},
		{"API route from a browser", withUI, "GET", "/health", browserAccept, 200, "application/json", `"status":"healthy"`, false},
		{"no UI: browser gets JSON", withoutUI, "GET", "/", browserAccept, 200, "application/json", `"service":"berth"`, false},
		{"no UI: no assets", withoutUI, "GET", "/assets/app.css", "*/*", 404, "application/json", "no web dashboard", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.srv.srv.URL+tc.path, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.code, b)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %s…", ct, tc.ctype)
			}
			if !strings.Contains(string(b), tc.body) {
				t.Errorf("body lacks %q: %.300s", tc.body, b)
			}
			if strings.HasPrefix(tc.ctype, "application/json") && len(b) > 0 && !json.Valid(b) {
				t.Errorf("invalid JSON: %.300s", b)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if tc.csp {
				if csp != web.ContentSecurityPolicy || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
					resp.Header.Get("Referrer-Policy") != "no-referrer" {
					t.Errorf("security headers: CSP %q, nosniff %q, referrer %q", csp,
						resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Referrer-Policy"))
				}
			} else if csp != "" && tc.srv == withoutUI {
				t.Errorf("CSP %q without a UI", csp)
			}
			if tc.path == "/" && resp.StatusCode == 200 && !strings.Contains(resp.Header.Get("Vary"), "Accept") {
				t.Errorf("/ answers by Accept but Vary is %q", resp.Header.Get("Vary"))
			}
			if tc.code == 200 && resp.Header.Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID: the request skipped the server's chain")
			}
		})
	}

	// Revalidation through the server: the ETag gets a 304.
	get := func(inm string) *http.Response {
		req, _ := http.NewRequest("GET", withUI.srv.URL+"/assets/app.js", nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	first := get("")
	if etag := first.Header.Get("ETag"); etag == "" || first.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, first.Header.Get("Cache-Control"))
	} else if again := get(etag); again.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match %s: status %d, want 304", etag, again.StatusCode)
	}

	// The assets count in the request metrics under their route.
	resp, err := http.Get(withUI.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(m), `route="/assets/{path...}"`) {
		t.Error("/metrics has no series for the assets route")
	}
}
