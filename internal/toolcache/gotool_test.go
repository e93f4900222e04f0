package toolcache

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestRequiredVersion(t *testing.T) {
	gomod := filepath.Join(t.TempDir(), "go.mod")
	content := "module m\n\ngo 1.26\n\nrequire example.com/a v1.2.3\n\nrequire (\n\texample.com/b v0.0.0-20261105234957-e22db6528018 // indirect\n\texample.com/ab v9.0.0\n)\n"
	if err := os.WriteFile(gomod, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"example.com/a", "v1.2.3"},
		{"example.com/b", "v0.0.0-20261105234957-e22db6528018"},
		{"example.com/ab", "v9.0.0"},
		{"example.com/c", ""},
	} {
		got, err := requiredVersion(gomod, tc.path)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("requiredVersion(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

// A cached binary is found where earlier berths put it (the cache outlives
// this code: a changed key would rebuild every tool cold), and nothing is
// built when it is there.
func TestEnsureFindsCachedBinary(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("BERTH_CACHE_DIR", cache)
	t.Setenv("PATH", "") // a build would fail with ErrNoGo
	for _, tc := range []struct {
		tool GoTool
		key  string
	}{
		{GoTool{Module: "jaeger", ModPath: "github.com/jaegertracing/jaeger", Pkg: "github.com/jaegertracing/jaeger/cmd/jaeger"}, "jaeger-"},
		{GoTool{Module: "gosec", ModPath: "github.com/securego/gosec/v2", Pkg: "github.com/securego/gosec/v2/cmd/gosec", ByGo: true}, "gosec-"},
	} {
		v, err := tc.tool.Version()
		if err != nil {
			t.Fatal(err)
		}
		key := tc.key + v
		if tc.tool.ByGo {
			key += "-" + runtime.Version()
		}
		want := filepath.Join(cache, key, tc.tool.Name())
		if _, err := tc.tool.Ensure(t.Context(), os.Stderr); err != ErrNoGo {
			t.Fatalf("%s not cached: Ensure = %v, want ErrNoGo (no go on PATH)", tc.tool.Name(), err)
		}
		if err := os.MkdirAll(filepath.Dir(want), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(want, []byte("#!/bin/true\n"), 0o700); err != nil { // #nosec G306 -- an executable stand-in
			t.Fatal(err)
		}
		if got, err := tc.tool.Ensure(t.Context(), os.Stderr); err != nil || got != want {
			t.Errorf("Ensure(%s) = %q, %v; want %q", tc.tool.Name(), got, err, want)
		}
	}
}
