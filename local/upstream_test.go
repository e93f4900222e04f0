package local

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

// getVia sends GET path over the upstream's own network (tcp or unix).
func getVia(t *testing.T, up berth.Upstream, path string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, up.Network, up.Address)
	}}}
	resp, err := c.Get("http://workspace" + path)
	if err != nil {
		t.Fatalf("GET %s via %s %s: %v", path, up.Network, up.Address, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestEnvironmentUpstream: berth's proxy finds a workspace on its loopback
// port, or — for code-server, which cannot check the proxy's secret — on a
// Unix socket in the environment's 0700 directory, with no TCP port at all.
func TestEnvironmentUpstream(t *testing.T) {
	ctx := context.Background()
	// A fake code-server on PATH: the helper server, which listens where
	// --socket says.
	bin := t.TempDir()
	script := "#!/bin/sh\nBERTH_LOCAL_HELPER=server exec " + testBinary(t) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "code-server"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	r := newRuntime(t, func(c *Config) {
		c.Templates = map[string]Template{"port": {Command: []string{testBinary(t)}, Env: map[string]string{"BERTH_LOCAL_HELPER": "server"}}}
	})
	tcpEnv := &berth.Environment{ID: "env-tcp0000001", Template: "port"}
	sockEnv := &berth.Environment{ID: "env-sock000001"} // the default template: code-server
	for _, env := range []*berth.Environment{tcpEnv, sockEnv} {
		if _, err := r.ApplyEnvironment(ctx, env); err != nil {
			t.Fatalf("apply %s: %v", env.ID, err)
		}
		waitEnv(t, r, env, berth.EnvRunning)
	}

	up, err := r.EnvironmentUpstream(ctx, tcpEnv)
	if err != nil || up.Network != "tcp" || !strings.HasPrefix(up.Address, "127.0.0.1:") {
		t.Fatalf("upstream of a $PORT workspace: %+v %v", up, err)
	}
	if got := getVia(t, up, "/healthz"); got != "ok" {
		t.Errorf("GET /healthz on %s = %q", up.Address, got)
	}

	up, err = r.EnvironmentUpstream(ctx, sockEnv)
	wantSock := filepath.Join(r.envWorkDir(sockEnv.ID), "run", "ide.sock")
	if err != nil || up.Network != "unix" || up.Address != wantSock {
		t.Fatalf("upstream of code-server: %+v %v, want unix %s", up, err, wantSock)
	}
	if got := getVia(t, up, "/healthz"); got != "ok" {
		t.Errorf("GET /healthz on the socket = %q", got)
	}
	// Only berth (root) may enter the directories on the way to the socket.
	for _, d := range []string{r.envDir(sockEnv.ID), filepath.Dir(wantSock)} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v %v, want 0700", d, fi.Mode().Perm(), err)
		}
	}
	// code-server got no TCP address to listen on.
	pid := envPID(t, r, sockEnv.ID)
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if args := strings.Split(string(cmdline), "\x00"); !contains(args, "--socket") || contains(args, "--bind-addr") {
		t.Errorf("code-server's arguments: %q", args)
	}

	if err := r.StopEnvironment(ctx, sockEnv); err != nil {
		t.Fatal(err)
	}
	if _, err := r.EnvironmentUpstream(ctx, sockEnv); !berth.IsCode(err, berth.EUNAVAILABLE) {
		t.Errorf("upstream of a stopped environment: %v, want UNAVAILABLE", err)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
