package local

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// environment is one dev environment: a directory and, while it runs, a
// supervised process.
type environment struct {
	rt   *Runtime
	id   string
	dir  string // berth's: logs, port
	wdir string // the workload's: workspace, home

	mu   sync.Mutex
	port int
	// socket is the Unix socket the workspace listens on when its template
	// uses $SOCKET (code-server); "" when it listens on 127.0.0.1:$PORT.
	socket string
	sup    *supervisor
	log    *logFile
}

func (r *Runtime) envDir(id string) string {
	return filepath.Join(r.cfg.DataDir, "environments", id)
}

func (r *Runtime) envWorkDir(id string) string {
	return filepath.Join(r.cfg.WorkloadDir, "environments", id)
}

func (r *Runtime) newEnvironment(id string) *environment {
	return &environment{rt: r, id: id, dir: r.envDir(id), wdir: r.envWorkDir(id)}
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

// CheckEnvironment refuses an environment whose template the target does
// not have (or has without a command), before core stores anything.
func (r *Runtime) CheckEnvironment(env *berth.Environment) error {
	tmpl, err := r.template(env.Template, env.Secrets.CodeServerPassword != "")
	if err != nil {
		return err
	}
	if len(tmpl.Command) == 0 {
		return berth.Invalid("template", "template %q has no command", env.Template)
	}
	return nil
}

// defaultCommand runs code-server when installed, else berth's own
// workspace server, so that environments work on a bare machine.
func (r *Runtime) defaultCommand(password bool) []string {
	if cs, err := exec.LookPath("code-server"); err == nil {
		auth := "none"
		if password {
			auth = "password" // code-server reads $PASSWORD
		}
		// code-server cannot check berth's proxy secret, so it listens on a
		// Unix socket in the environment's 0700 directory: only berth (and
		// root) can reach it, through the authenticated proxy.
		return []string{cs, "--socket", "$SOCKET", "--auth", auth, "--disable-telemetry", "$WORKSPACE"}
	}
	return []string{r.cfg.BerthBinary, "workspace", "--addr", "127.0.0.1:$PORT", "--dir", "$WORKSPACE"}
}

// ApplyEnvironment ensures the environment runs (or is stopped when
// env.Stopped) without restarting a running one.
func (r *Runtime) ApplyEnvironment(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	ctx, span := tracing.Start(ctx, "local.ApplyEnvironment", attribute.String("berth.environment", env.ID))
	defer span.End()
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
	id, err := r.identityOf(ctx, env.UserID)
	if err != nil {
		return nil, berth.Wrap(err, berth.EENVIRONMENT, "start environment %s", env.ID)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, r.errClosed()
	}
	e, ok := r.envs[env.ID]
	if !ok {
		e = r.newEnvironment(env.ID)
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
		if err := e.startLocked(env, tmpl, id); err != nil {
			return nil, berth.Wrap(err, berth.EENVIRONMENT, "start environment %s", env.ID)
		}
	} else {
		e.sup.repairPidFile() // a pid file removed from outside (drift.go)
	}
	return e.stateLocked(), nil
}

func (e *environment) startLocked(env *berth.Environment, tmpl Template, id identity) error {
	ws, home, logs := filepath.Join(e.wdir, "workspace"), filepath.Join(e.wdir, "home"), filepath.Join(e.dir, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		return fmt.Errorf("create dir: %w", err)
	}
	if err := workloadTop(e.wdir, id); err != nil {
		return err
	}
	if e.wdir != e.dir {
		// A workspace from before workloads had their own root moves there.
		old := filepath.Join(e.dir, "workspace")
		if _, err := os.Lstat(old); err == nil {
			if _, err := os.Lstat(ws); os.IsNotExist(err) {
				if err := os.Rename(old, ws); err != nil {
					return fmt.Errorf("move workspace to %s: %w", ws, err)
				}
			}
		}
	}
	// Kept across stop/start; given to the uid when it is first assigned.
	for _, d := range []string{ws, home} {
		if err := ownedDir(d, id); err != nil {
			return err
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
	// A template that names $SOCKET listens there, in a directory only the
	// environment's uid (and berth, root) can enter, and the proxy dials it;
	// else on 127.0.0.1:$PORT. It is in the workload's own tree: an
	// isolated uid cannot reach berth's data dir.
	run := filepath.Join(e.wdir, "run")
	if err := ownedDir(run, id); err != nil {
		return err
	}
	sock := filepath.Join(run, "ide.sock")
	e.socket = ""
	for _, a := range tmpl.Command {
		if strings.Contains(a, "$SOCKET") || strings.Contains(a, "${SOCKET}") {
			e.socket = sock
		}
	}
	probe := tcpProbe(port, e.rt.cfg.ProbeInterval)
	if e.socket != "" {
		_ = os.Remove(sock) // a stale socket of a previous run refuses to bind
		probe = unixProbe(sock, e.rt.cfg.ProbeInterval)
	}
	vars := map[string]string{"PORT": strconv.Itoa(port), "WORKSPACE": ws, "HOME": home, "SOCKET": sock}
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
	e.sup = newSupervisor(e.rt, "env-"+e.id, argv, ws, processEnv(m), e.log, probe)
	e.sup.pidName = "env." + e.id
	e.sup.id = id
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
	ctx, span := tracing.Start(ctx, "local.StartEnvironment", attribute.String("berth.environment", env.ID))
	defer span.End()
	e := *env
	e.Stopped = false
	_, err := r.ApplyEnvironment(ctx, &e)
	return err
}

// StopEnvironment stops the process and keeps the directory.
func (r *Runtime) StopEnvironment(ctx context.Context, env *berth.Environment) error {
	ctx, span := tracing.Start(ctx, "local.StopEnvironment", attribute.String("berth.environment", env.ID))
	defer span.End()
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
		e = r.newEnvironment(env.ID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stateLocked(), nil
}

// DeleteEnvironment stops the environment and removes its directory; with
// keepVolume the workspace directory stays.
func (r *Runtime) DeleteEnvironment(ctx context.Context, env *berth.Environment, keepVolume bool) error {
	ctx, span := tracing.Start(ctx, "local.DeleteEnvironment", attribute.String("berth.environment", env.ID))
	defer span.End()
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
	for _, dir := range []string{r.envWorkDir(env.ID), r.envDir(env.ID)} {
		var err error
		if keepVolume {
			err = removeAllBut(dir, "workspace")
		} else {
			err = os.RemoveAll(dir)
		}
		if err != nil {
			return berth.Wrap(err, berth.EENVIRONMENT, "delete environment %s", env.ID)
		}
	}
	return nil
}

func unixProbe(path string, interval time.Duration) func(context.Context) bool {
	return func(ctx context.Context) bool {
		d := net.Dialer{Timeout: probeTimeout(interval)}
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
}

// EnvironmentUpstream answers where the running environment listens, for
// berth's proxy: its Unix socket or its loopback port.
func (r *Runtime) EnvironmentUpstream(ctx context.Context, env *berth.Environment) (berth.Upstream, error) {
	e, err := r.lookupEnv(env.ID)
	if err != nil {
		return berth.Upstream{}, err
	}
	if e == nil {
		return berth.Upstream{}, berth.Errorf(berth.EUNAVAILABLE, "environment %s is not running", env.ID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sup == nil {
		return berth.Upstream{}, berth.Errorf(berth.EUNAVAILABLE, "environment %s is not running", env.ID)
	}
	if e.socket != "" {
		return berth.Upstream{Network: "unix", Address: e.socket}, nil
	}
	return berth.Upstream{Network: "tcp", Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.port))}, nil
}
