package web

import (
	"io/fs"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// import x from "./x.js", import "./x.js", export { y } from "../y.js", import("./z.js")
	importRe  = regexp.MustCompile(`(?m)(?:^|[;\s])(?:import|export)\s+(?:[\w*{}\s,$]+\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)`)
	attrRe    = regexp.MustCompile(`\b(?:src|href)\s*=\s*["']([^"']*)["']`)
	assetLit  = regexp.MustCompile(`['"](/assets/[^'"]+)['"]`)
	scriptRe  = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	handlerRe = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
)

func readAll(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Static(), p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["index.html"]; !ok {
		t.Fatal("index.html is not embedded")
	}
	return files
}

// TestReferencesExist: every file index.html names and every module a
// module imports is embedded, imports are relative (no bare specifiers, no
// other hosts: the CSP allows neither), and every module is reachable from
// the page (no dead files).
func TestReferencesExist(t *testing.T) {
	files := readAll(t)
	reached := map[string]bool{}
	var queue []string
	ref := func(from, target string) {
		t.Helper()
		var p string
		switch {
		case strings.HasPrefix(target, "/assets/"):
			p = strings.TrimPrefix(target, "/")
		case strings.HasPrefix(target, "./"), strings.HasPrefix(target, "../"):
			p = path.Join(path.Dir(from), target)
		default:
			t.Errorf("%s: reference %q is neither /assets/… nor relative", from, target)
			return
		}
		if _, ok := files[p]; !ok {
			t.Errorf("%s references %q: %s is not embedded", from, target, p)
			return
		}
		if !reached[p] {
			reached[p] = true
			if strings.HasSuffix(p, ".js") {
				queue = append(queue, p)
			}
		}
	}
	html := files["index.html"]
	n := 0
	for _, m := range attrRe.FindAllStringSubmatch(html, -1) {
		target := m[1]
		if strings.HasPrefix(target, "/api/") { // a link to the API itself
			continue
		}
		ref("index.html", target)
		n++
	}
	if n < 3 || !reached["assets/app.js"] || !reached["assets/app.css"] {
		t.Fatalf("index.html references %d files; want app.js, app.css and the icon", n)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		src := files[p]
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			ref(p, m[1]+m[2])
		}
		for _, m := range assetLit.FindAllStringSubmatch(src, -1) {
			ref(p, m[1])
		}
	}
	for p := range files {
		if vendorMeta(p) {
			continue // a vendored library's licence, declarations and sums: TestVendoredUPlot
		}
		if p != "index.html" && !reached[p] {
			t.Errorf("%s is embedded but nothing references it", p)
		}
	}
}

// TestImportPattern: the import parser finds what it must (so that
// TestReferencesExist checks something).
func TestImportPattern(t *testing.T) {
	src := "import a from './a.js';\nimport { b, c } from \"../b.js\";\nimport './side.js';\nexport { d } from './d.js';\nconst x = import('./lazy.js');\n"
	var got []string
	for _, m := range importRe.FindAllStringSubmatch(src, -1) {
		got = append(got, m[1]+m[2])
	}
	want := []string{"./a.js", "../b.js", "./side.js", "./d.js", "./lazy.js"}
	if !slices.Equal(got, want) {
		t.Fatalf("imports %q, want %q", got, want)
	}
}

// TestNothingTheCSPBlocks: no HTML parsing of strings (innerHTML and its
// kin), no eval, no inline script or style, no inline event handlers.
func TestNothingTheCSPBlocks(t *testing.T) {
	forbidden := []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "style=", "<style", "javascript:", "setAttribute('style'", `setAttribute("style"`}
	for p, src := range readAll(t) {
		for _, f := range forbidden {
			if i := strings.Index(src, f); i >= 0 {
				t.Errorf("%s:%d contains %q", p, strings.Count(src[:i], "\n")+1, f)
			}
		}
		if !strings.HasSuffix(p, ".html") {
			continue
		}
		for _, m := range scriptRe.FindAllStringSubmatch(src, -1) {
			if strings.TrimSpace(m[2]) != "" || !strings.Contains(m[1], "src=") {
				t.Errorf("%s: inline script %q", p, m[0])
			}
		}
		if m := handlerRe.FindString(src); m != "" {
			t.Errorf("%s: inline event handler in %q", p, m)
		}
	}
}

func TestHandler(t *testing.T) {
	h := Handler()
	index, _ := fs.ReadFile(Static(), "index.html")
	tests := []struct {
		method, path string
		code         int
		ctype        string
		body         string // a substring
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<title>berth</title>"},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "<title>berth</title>"},
		{"GET", "/assets/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"GET", "/assets/app.css", 200, "text/css; charset=utf-8", ":root"},
		{"GET", "/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"HEAD", "/assets/app.css", 200, "text/css; charset=utf-8", ""},
		{"GET", "/assets/nope.js", 404, "application/json", `"NOT_FOUND"`},
		{"GET", "/assets/", 404, "application/json", `"NOT_FOUND"`},
		{"GET", "/web.go", 404, "application/json", `"NOT_FOUND"`},
		{"POST", "/", 405, "application/json", `"INVALID_REQUEST"`},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			res := rec.Result()
			if res.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.code)
			}
			if ct := res.Header.Get("Content-Type"); ct != tc.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("body lacks %q: %.200s", tc.body, rec.Body.String())
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered a body of %d bytes", rec.Body.Len())
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			if tc.code == 200 {
				if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
					t.Errorf("Cache-Control %q", cc)
				}
				if res.Header.Get("ETag") == "" {
					t.Error("no ETag")
				}
			}
		})
	}
	if !strings.Contains(ContentSecurityPolicy, "script-src 'self';") || strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Errorf("CSP %q", ContentSecurityPolicy)
	}

	// Revalidation: the ETag answers 304 with no body; a changed one 200.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	etag := rec.Header().Get("ETag")
	if rec.Body.String() != string(index) {
		t.Fatal("/ is not index.html")
	}
	for _, tc := range []struct {
		inm  string
		code int
	}{{etag, 304}, {`"other"`, 200}, {"*", 304}} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("If-None-Match", tc.inm)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("If-None-Match %s: status %d, want %d", tc.inm, rec.Code, tc.code)
		}
		if tc.code == 304 && rec.Body.Len() != 0 {
			t.Errorf("304 with a body")
		}
	}
	// Different files, different tags.
	rec2 := httptest.NewRecorder()
	h.ServeHTTP(rec2, httptest.NewRequest("GET", "/assets/app.js", nil))
	if rec2.Header().Get("ETag") == etag {
		t.Error("app.js and index.html share an ETag")
	}
}
