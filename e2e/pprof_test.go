package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestPprofAndMemoryLimit: /debug/pprof/ answers 404 unless enabled; once
// enabled it serves admins only (a viewer gets 403, no credential 401); the
// memory limit of berth.yaml reaches the Go runtime, as berth's own
// /metrics reports it (go_gc_gomemlimit_bytes), and a bad one stops berth
// with the field named.
func TestPprofAndMemoryLimit(t *testing.T) {
	off := StartBerth(t, "", "")
	if code, _ := off.DoRaw(off.Token(), "GET", "/debug/pprof/", nil); code != 404 {
		t.Errorf("pprof off: %d, want 404", code)
	}
	off.Stop()

	b := startBerthWith(t, "pprof: true\nmemoryLimit: 300MiB\n")
	code, body := b.DoRaw(b.Token(), "GET", "/debug/pprof/heap?debug=1", nil)
	if code != 200 || !strings.Contains(string(body), "heap profile") {
		t.Errorf("admin heap profile: %d %.100s", code, body)
	}
	if code, body := b.DoRaw(b.Token(), "GET", "/debug/pprof/", nil); code != 200 || !strings.Contains(string(body), "goroutine") {
		t.Errorf("admin index: %d %.100s", code, body)
	}
	b.MustDo(201, "POST", "/api/v1/users", map[string]any{"username": "looker", "password": "looker-password-1", "role": "viewer"})
	if code, _ := b.DoRaw(b.Login("looker", "looker-password-1"), "GET", "/debug/pprof/heap", nil); code != 403 {
		t.Errorf("viewer: %d, want 403", code)
	}
	if code, _ := b.DoRaw("", "GET", "/debug/pprof/heap", nil); code != 401 {
		t.Errorf("no credential: %d, want 401", code)
	}
	resp, err := http.Get(b.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var limit float64
	for _, line := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(line, "go_gc_gomemlimit_bytes "); ok {
			limit, _ = strconv.ParseFloat(v, 64)
		}
	}
	if limit != 300<<20 {
		t.Errorf("go_gc_gomemlimit_bytes = %v, want %d", limit, 300<<20)
	}

	_, errOut, err := runBerthCmd(t, []string{"BERTH_MEMORY_LIMIT=lots", "BERTH_ADMIN_PASSWORD=" + adminPassword}, "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(errOut, "memoryLimit") {
		t.Errorf("a bad memoryLimit: err %v, %s", err, errOut)
	}
}
