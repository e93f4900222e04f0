package local

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/berthhq/berth"
)

// environment is one dev environment: a directory and, while it runs, a
// supervised process.
type environment struct {
	rt  *Runtime
	id  string
	dir string

	mu   sync.Mutex
	port int
	sup  *supervisor
	log  *logFile
}

func (r *Runtime) envDir(id string) string {
	return filepath.Join(r.cfg.DataDir, "environments", id)
}

// template returns the named template, the built-in "default" unless the
// configuration overrides it.
func (r *Runtime) template(name string, password bool) (Template, error) {
	if name == "" {
		name = "default"
	}
	if t, ok := r.cfg.Templates[name]; ok {
		return t, nil
	}
	if name != "default" {
		return Template{}, berth.Invalid("template", "unknown template %q on target %q", name, r.cfg.Name)
	}
	return Template{Command: r.defaultCommand(password)}, nil
}

// defaultCommand runs code-server when installed, else berth's own
// workspace server, so that environments work on a bare machine.
func (r *Runtime) defaultCommand(password bool) []string {
	if cs, err := exec.LookPath("code-server"); err == nil {
		auth := "none"
		if password {
			auth = "password" // code-server reads $PASSWORD
		}
		return []string{cs, "--bind-addr", "127.0.0.1:$PORT", "--auth", auth, "--disable-telemetry", "$WORKSPACE"}
	}
	return []string{r.cfg.BerthBinary, "workspace", "--addr", "127.0.0.1:$PORT", "--dir", "$WORKSPACE"}
}

// ApplyEnvironment ensures the environment runs (or is stopped when
// env.Stopped) without restarting a running one.
func (r *Runtime) ApplyEnvironment(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	if err := validateID("id", env.ID); err != nil {
		return nil, err
	}
	tmpl, err := r.template(env.Template, env.Secrets.CodeServerPassword != "")
	if err != nil {
		return nil, err
	}
	if len(tmpl.Command) == 0 {
		return nil, berth.Invalid("template", "template %q has no command", env.Template)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, r.errClosed()
	}
	e, ok := r.envs[env.ID]
	if !ok {
		e = &environment{rt: r, id: env.ID, dir: r.envDir(env.ID)}
		r.envs[env.ID] = e
	}
	r.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if env.Stopped {
		e.stopLocked()
		return e.stateLocked(), nil
	}
	if e.sup == nil {
		if err := e.startLocked(env, tmpl); err != nil {
			return nil, berth.Wrap(err, berth.EENVIRONMENT, "start environment %s", env.ID)
		}
	}
	return e.stateLocked(), nil
}

func (e *environment) startLocked(env *berth.Environment, tmpl Template) error {
	ws, home, logs := filepath.Join(e.dir, "workspace"), filepath.Join(e.dir, "home"), filepath.Join(e.dir, "logs")
	for _, d := range []string{ws, home, logs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create dir: %w", err)
		}
	}
	port, err := e.allocPort()
	if err != nil {
		return err
	}
	if e.log == nil {
		if e.log, err = openLog(filepath.Join(logs, "env.log"), e.rt.cfg.MaxLogBytes); err != nil {
			return err
		}
	}
	vars := map[string]string{"PORT": strconv.Itoa(port), "WORKSPACE": ws, "HOME": home}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string {
			if v, ok := vars[k]; ok {
				return v
			}
			return "$" + k // not ours: left for the command to interpret
		})
	}
	argv := make([]string, len(tmpl.Command))
	for i, a := range tmpl.Command {
		argv[i] = expand(a)
	}
	m := map[string]string{}
	for k, v := range tmpl.Env {
		m[k] = expand(v)
	}
	maps.Copy(m, env.Secrets.EnvVars())
	if env.GitUserName != "" {
		for _, k := range []string{"GIT_USER_NAME", "GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"} {
			m[k] = env.GitUserName
		}
	}
	if env.GitUserEmail != "" {
		for _, k := range []string{"GIT_USER_EMAIL", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"} {
			m[k] = env.GitUserEmail
		}
	}
	maps.Copy(m, env.Env)
	m["HOME"], m["WORKSPACE"], m["PORT"], m["BERTH_ENVIRONMENT_ID"] = home, ws, strconv.Itoa(port), env.ID
	e.sup = newSupervisor(e.rt, "env-"+e.id, argv, ws, processEnv(m), e.log, tcpProbe(port, e.rt.cfg.ProbeInterval))
	e.sup.pidName = "env." + e.id
	e.sup.start()
	return nil
}

// allocPort reuses the environment's remembered port while it is free, so
// its URL stays the same across restarts.
func (e *environment) allocPort() (int, error) {
	path := filepath.Join(e.dir, "port")
	if b, err := os.ReadFile(path); err == nil { // #nosec G304 -- the port file berth keeps in the environment's directory
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && portFree(p) {
			e.port = p
			return p, nil
		}
	}
	p, err := freePort()
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(p)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("remember port: %w", err)
	}
	e.port = p
	return p, nil
}

func (e *environment) stopLocked() {
	if e.sup != nil {
		e.sup.halt()
		e.sup = nil
	}
}

func (e *environment) shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopLocked()
	if e.log != nil {
		e.log.close()
		e.log = nil
	}
}

func (e *environment) url() string {
	if e.port == 0 {
		if b, err := os.ReadFile(filepath.Join(e.dir, "port")); err == nil {
			e.port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	if e.port == 0 {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d/", e.port)
}

func (e *environment) stateLocked() *berth.EnvironmentState {
	st := &berth.EnvironmentState{URL: e.url()}
	if e.sup == nil {
		st.Status = berth.EnvStopped
		return st
	}
	snap := e.sup.snapshot()
	switch {
	case snap.Ready:
		st.Status = berth.EnvRunning
	case snap.failing():
		st.Status, st.Message = berth.EnvError, snap.reason()
	default:
		st.Status = berth.EnvStarting
	}
	return st
}

// StartEnvironment starts a stopped environment.
func (r *Runtime) StartEnvironment(ctx context.Context, env *berth.Environment) error {
	e := *env
	e.Stopped = false
	_, err := r.ApplyEnvironment(ctx, &e)
	return err
}

// StopEnvironment stops the process and keeps the directory.
func (r *Runtime) StopEnvironment(ctx context.Context, env *berth.Environment) error {
	e, err := r.lookupEnv(env.ID)
	if err != nil {
		return err
	}
	if e != nil {
		e.mu.Lock()
		e.stopLocked()
		e.mu.Unlock()
	}
	return nil
}

// lookupEnv returns the known environment, nil for one that only exists
// on disk (berth restarted), or NotFound.
func (r *Runtime) lookupEnv(id string) (*environment, error) {
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	r.mu.Lock()
	e, ok := r.envs[id]
	r.mu.Unlock()
	if ok {
		return e, nil
	}
	if _, err := os.Stat(r.envDir(id)); err == nil {
		return nil, nil
	}
	return nil, berth.NotFound("environment", id)
}

// EnvironmentState reports whether the environment runs and its URL.
func (r *Runtime) EnvironmentState(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	e, err := r.lookupEnv(env.ID)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = &environment{rt: r, id: env.ID, dir: r.envDir(env.ID)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stateLocked(), nil
}

// DeleteEnvironment stops the environment and removes its directory; with
// keepVolume the workspace directory stays.
func (r *Runtime) DeleteEnvironment(ctx context.Context, env *berth.Environment, keepVolume bool) error {
	if err := validateID("id", env.ID); err != nil {
		return err
	}
	r.mu.Lock()
	e, ok := r.envs[env.ID]
	delete(r.envs, env.ID)
	r.mu.Unlock()
	if ok {
		e.shutdown()
	}
	dir := r.envDir(env.ID)
	if !keepVolume {
		if err := os.RemoveAll(dir); err != nil {
			return berth.Wrap(err, berth.EENVIRONMENT, "delete environment %s", env.ID)
		}
		return nil
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return berth.Wrap(err, berth.EENVIRONMENT, "delete environment %s", env.ID)
	}
	for _, ent := range entries {
		if ent.Name() == "workspace" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, ent.Name())); err != nil {
			return berth.Wrap(err, berth.EENVIRONMENT, "delete environment %s", env.ID)
		}
	}
	return nil
}
