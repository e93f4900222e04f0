package local

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
)

func envState(t *testing.T, r *Runtime, env *berth.Environment) *berth.EnvironmentState {
	t.Helper()
	st, err := r.EnvironmentState(context.Background(), env)
	if err != nil {
		t.Fatalf("EnvironmentState: %v", err)
	}
	return st
}

func waitEnv(t *testing.T, r *Runtime, env *berth.Environment, want berth.EnvStatus) *berth.EnvironmentState {
	t.Helper()
	var st *berth.EnvironmentState
	testutil.Eventually(t, testutil.Process, "environment "+string(want), func() (bool, string) {
		st = envState(t, r, env)
		return st.Status == want, string(st.Status) + " " + st.Message
	})
	return st
}

func envPort(t *testing.T, st *berth.EnvironmentState) int {
	t.Helper()
	u, err := url.Parse(st.URL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("URL %q", st.URL)
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

func envPID(t *testing.T, r *Runtime, id string) int {
	t.Helper()
	res, err := r.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.ID == "env-"+id {
			return x.Details["pid"].(int)
		}
	}
	return 0
}

func TestEnvironmentLifecycle(t *testing.T) {
	t.Setenv("BERTH_SECRET_KEY", "must-not-leak")
	r := newRuntime(t, func(c *Config) {
		c.Templates = map[string]Template{"default": {
			Command: []string{testBinary(t), "-unused=$WORKSPACE"},
			Env:     map[string]string{"BERTH_LOCAL_HELPER": "server", "MY_HOME": "$HOME/x", "KEEP": "$OTHER"},
		}}
	})
	ctx := context.Background()
	env := &berth.Environment{
		ID: "env-abc123", Name: "dev", GitUserName: "Ada", GitUserEmail: "ada@example.com",
		Env:     map[string]string{"BERTH_ACTIVITY_URL": "http://127.0.0.1:1/activity"},
		Secrets: berth.EnvSecrets{GithubToken: "ghp_secret", CodeServerPassword: "pw"},
	}
	st, err := r.ApplyEnvironment(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != berth.EnvStarting && st.Status != berth.EnvRunning {
		t.Fatalf("first state %+v", st)
	}
	st = waitEnv(t, r, env, berth.EnvRunning)
	port := envPort(t, st)
	dir := r.envDir(env.ID)
	checks := map[string]string{
		"GITHUB_TOKEN":         "ghp_secret",
		"PASSWORD":             "pw",
		"GIT_AUTHOR_NAME":      "Ada",
		"GIT_COMMITTER_EMAIL":  "ada@example.com",
		"GIT_USER_EMAIL":       "ada@example.com",
		"BERTH_ACTIVITY_URL":   "http://127.0.0.1:1/activity",
		"BERTH_ENVIRONMENT_ID": env.ID,
		"WORKSPACE":            filepath.Join(dir, "workspace"),
		"HOME":                 filepath.Join(dir, "home"),
		"MY_HOME":              filepath.Join(dir, "home") + "/x",
		"KEEP":                 "$OTHER",
		"PORT":                 strconv.Itoa(port),
		"BERTH_SECRET_KEY":     "",
	}
	for k, v := range checks {
		if got := mustGet(t, port, "/env?k="+k); got != v {
			t.Errorf("$%s = %q, want %q", k, got, v)
		}
	}

	pid := envPID(t, r, env.ID)
	if st, err := r.ApplyEnvironment(ctx, env); err != nil || st.Status != berth.EnvRunning {
		t.Fatalf("apply again: %+v, %v", st, err)
	}
	if got := envPID(t, r, env.ID); got != pid {
		t.Fatalf("apply again restarted: pid %d -> %d", pid, got)
	}

	marker := filepath.Join(dir, "workspace", "notes.txt")
	if err := os.WriteFile(marker, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.StopEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if st := envState(t, r, env); st.Status != berth.EnvStopped {
		t.Fatalf("after stop: %+v", st)
	}
	waitGone(t, pid)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("workspace file lost on stop: %v", err)
	}

	if err := r.StartEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	st = waitEnv(t, r, env, berth.EnvRunning)
	if envPort(t, st) != port {
		t.Errorf("port changed across restart: %d -> %d", port, envPort(t, st))
	}
	mustGet(t, envPort(t, st), "/healthz")

	stopped := *env
	stopped.Stopped = true
	if st, err := r.ApplyEnvironment(ctx, &stopped); err != nil || st.Status != berth.EnvStopped {
		t.Fatalf("apply stopped: %+v, %v", st, err)
	}
	if err := r.StartEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	waitEnv(t, r, env, berth.EnvRunning)
	pid = envPID(t, r, env.ID)

	if err := r.DeleteEnvironment(ctx, env, true); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "workspace" {
		t.Fatalf("after delete keepVolume: %v", entries)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("workspace lost with keepVolume: %v", err)
	}
	if err := r.DeleteEnvironment(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir after delete: %v", err)
	}
	if _, err := r.EnvironmentState(ctx, env); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("state after delete: %v", err)
	}
	if err := r.StopEnvironment(ctx, env); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("stop after delete: %v", err)
	}
}

func TestEnvironmentErrors(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, func(c *Config) {
		c.Templates = map[string]Template{
			"broken":  {Command: []string{"/nonexistent/ide"}},
			"crasher": {Command: []string{"/bin/sh", "-c", "exit 2"}},
		}
	})
	ctx := context.Background()
	if _, err := r.ApplyEnvironment(ctx, &berth.Environment{ID: "e1", Template: "nope"}); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("unknown template: %v", err)
	}
	if _, err := r.ApplyEnvironment(ctx, &berth.Environment{ID: "../x"}); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("bad id: %v", err)
	}
	for _, tmpl := range []string{"broken", "crasher"} {
		env := &berth.Environment{ID: "e-" + tmpl, Template: tmpl}
		if _, err := r.ApplyEnvironment(ctx, env); err != nil {
			t.Fatal(err)
		}
		st := waitEnv(t, r, env, berth.EnvError)
		if st.Message == "" {
			t.Fatalf("%s: ERROR without a reason", tmpl)
		}
	}
}

func TestDefaultTemplate(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, func(c *Config) { c.BerthBinary = "/opt/berth" })
	tmpl, err := r.template("", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("code-server"); err == nil {
		if !slices.Contains(tmpl.Command, "none") {
			t.Fatalf("code-server without password: %q", tmpl.Command)
		}
		return
	}
	want := []string{"/opt/berth", "workspace", "--addr", "127.0.0.1:$PORT", "--dir", "$WORKSPACE"}
	if !slices.Equal(tmpl.Command, want) {
		t.Fatalf("default command %q, want %q", tmpl.Command, want)
	}
}
