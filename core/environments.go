package core

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// newEnvID returns "env-" and 10 random lower-case alphanumerics.
func newEnvID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "env-" + string(b)
}

// CreateEnvironment validates the Dev8 request, stores the environment and
// starts it on its target.
func (c *Core) CreateEnvironment(ctx context.Context, req berth.CreateEnvironmentRequest) (*berth.Environment, error) {
	ctx, span := tracing.Start(ctx, "core.CreateEnvironment")
	defer span.End()
	if err := must(ctx); err != nil {
		return nil, err
	}
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	a := caller(ctx)
	owner := a.UserID
	if req.UserID != "" && req.UserID != a.UserID {
		if a.Role != berth.RoleAdmin {
			return nil, berth.Errorf(berth.EFORBIDDEN, "userId: only an admin may create an environment for another user")
		}
		owner = req.UserID
	}
	rt, err := c.resolveTarget(req.Target, req.CloudProvider, req.CloudRegion)
	if err != nil {
		return nil, err
	}
	info := rt.Info()
	if err := singleTenant(ctx, info, "create"); err != nil {
		return nil, err
	}
	region := req.CloudRegion
	if info.Region != "" {
		region = info.Region
	}
	now := c.now().UTC()
	env := &berth.Environment{
		ID: newEnvID(), UserID: owner, Name: req.Name, Status: berth.EnvCreating,
		CloudProvider: info.Provider, CloudRegion: region, Target: info.Name, Template: req.Template,
		CPUCores: req.CPUCores, MemoryGB: req.MemoryGB, StorageGB: req.StorageGB, BaseImage: req.BaseImage,
		GitUserName: req.GitUserName, GitUserEmail: req.GitUserEmail, Env: req.Env,
		AutoStopMinutes: req.AutoStopMinutes, Secrets: req.EnvSecrets,
		CreatedAt: now, UpdatedAt: now, LastAccessedAt: now,
	}
	if env.DeleteAt, err = deleteAt(req, now); err != nil {
		return nil, err
	}
	// What the runtime would refuse (an unknown template) is refused before
	// anything is stored: a create that fails leaves no record.
	if ck, ok := rt.(berth.EnvironmentChecker); ok {
		if err := ck.CheckEnvironment(env); err != nil {
			return nil, err
		}
	}
	if err := c.quotaWrite(ctx, owner, berth.EnvironmentUse(env), 0, "this environment", func(ctx context.Context) error {
		return c.store.CreateEnvironment(ctx, env)
	}); err != nil {
		return nil, fmt.Errorf("create environment %s: %w", env.ID, err)
	}
	c.environmentEvent(ctx, "environment.created", env)
	unlock := c.lock("env/" + env.ID)
	defer unlock()
	st, err := rt.ApplyEnvironment(ctx, c.runtimeEnv(env))
	if err != nil {
		return nil, c.failEnvironment(ctx, env, "create", err)
	}
	c.applyState(env, st)
	env.UpdatedAt = c.now().UTC()
	if err := c.store.UpdateEnvironment(ctx, env); err != nil {
		return nil, fmt.Errorf("create environment %s: %w", env.ID, err)
	}
	c.environmentEvent(ctx, "environment.updated", env)
	return env, nil
}

// runtimeEnv is the environment as handed to a runtime: the stored one plus
// where and how its workspace reports activity.
func (c *Core) runtimeEnv(env *berth.Environment) *berth.Environment {
	cp := *env
	cp.Env = maps.Clone(env.Env)
	if cp.Env == nil {
		cp.Env = map[string]string{}
	}
	if c.publicURL != "" && c.activity != nil {
		cp.Env["BERTH_ACTIVITY_URL"] = c.publicURL + "/api/v1/environments/" + env.ID + "/activity"
		cp.Env["BERTH_ACTIVITY_TOKEN"] = c.activity(env.ID)
	}
	if c.proxied(env.Target) && c.proxySecret != nil {
		cp.Env["BERTH_PROXY_SECRET"] = c.proxySecret(env.ID)
	}
	return &cp
}

func (c *Core) applyState(env *berth.Environment, st *berth.EnvironmentState) {
	if st == nil {
		return
	}
	env.Status, env.Message = st.Status, st.Message
	if u := c.stateURL(env, st); u != "" {
		env.VSCodeURL = u
	}
	if st.PublicIP != "" || st.ContainerGroupID != "" {
		// A container group's IP is released on stop and may change on
		// start: what the runtime reports replaces it, none included.
		env.ACIPublicIP = st.PublicIP
	}
	if st.ContainerGroupID != "" {
		env.ACIContainerGroupID = st.ContainerGroupID
	}
	if st.FileShareName != "" {
		env.AzureFileShareName = st.FileShareName
	}
}

func (c *Core) failEnvironment(ctx context.Context, env *berth.Environment, op string, err error) error {
	env.Status, env.Message, env.UpdatedAt = berth.EnvError, berth.ErrorMessage(err), c.now().UTC()
	if uerr := c.store.UpdateEnvironment(ctx, env); uerr != nil {
		c.log.Error("record environment error", "environment", env.ID, "err", uerr)
	}
	c.environmentEvent(ctx, "environment.error", env)
	return berth.Wrap(err, berth.EENVIRONMENT, "%s environment %s", op, env.ID)
}

// visible loads an environment the caller may see: another user's
// environment is NOT_FOUND, never FORBIDDEN.
func (c *Core) visible(ctx context.Context, id string) (*berth.Environment, error) {
	env, err := c.store.GetEnvironment(ctx, id)
	if err != nil {
		if berth.IsCode(err, berth.ENOTFOUND) {
			return nil, berth.NotFound("environment", id)
		}
		return nil, fmt.Errorf("get environment %s: %w", id, err)
	}
	if !mayEnvironment(caller(ctx), env) {
		return nil, berth.NotFound("environment", id)
	}
	return env, nil
}

// GetEnvironment returns an environment with its live status.
func (c *Core) GetEnvironment(ctx context.Context, id string) (*berth.Environment, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	env, err := c.visible(ctx, id)
	if err != nil {
		return nil, err
	}
	if rt, ok := c.runtimes[env.Target]; ok && env.Status != berth.EnvDeleting {
		if st, err := rt.EnvironmentState(ctx, env); err == nil {
			c.applyState(env, st)
		}
	}
	return env, nil
}

// ListEnvironments returns the caller's environments (an admin sees all, or
// one user's with userID).
func (c *Core) ListEnvironments(ctx context.Context, userID string, offset, limit int) ([]*berth.Environment, int, error) {
	if err := must(ctx); err != nil {
		return nil, 0, err
	}
	a := caller(ctx)
	f := berth.EnvironmentFilter{UserID: a.UserID, Offset: offset, Limit: limit}
	if a.Role == berth.RoleAdmin {
		f.UserID = userID
	}
	envs, total, err := c.store.ListEnvironments(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("list environments: %w", err)
	}
	return envs, total, nil
}

// envOp runs one lifecycle change under the environment's lock.
func (c *Core) envOp(ctx context.Context, id, op string, transient berth.EnvStatus, fn func(env *berth.Environment, rt berth.Runtime) error) (*berth.Environment, error) {
	if _, err := c.visible(ctx, id); err != nil {
		return nil, err
	}
	unlock := c.lock("env/" + id)
	defer unlock()
	env, err := c.store.GetEnvironment(ctx, id)
	if err != nil {
		return nil, err
	}
	rt, ok := c.runtimes[env.Target]
	if !ok {
		return nil, berth.Errorf(berth.EUNAVAILABLE, "target %q of environment %s is not configured", env.Target, id)
	}
	if err := singleTenant(ctx, rt.Info(), op); err != nil {
		return nil, err
	}
	before := berth.EnvironmentUse(env)
	if op == "start" {
		// Desired state first, under the quota: a start the quota refuses
		// changes nothing and reaches no runtime.
		env.Stopped, env.StoppedAt, env.DormantSince = false, nil, nil
	}
	env.Status, env.UpdatedAt = transient, c.now().UTC()
	if err := c.quotaWrite(ctx, env.UserID, berth.EnvironmentUse(env).Sub(before), 0, "this environment", func(ctx context.Context) error {
		return c.store.UpdateEnvironment(ctx, env)
	}); err != nil {
		return nil, fmt.Errorf("%s environment %s: %w", op, id, err)
	}
	c.environmentEvent(ctx, "environment.updated", env)
	if err := fn(env, rt); err != nil {
		return nil, c.failEnvironment(ctx, env, op, err)
	}
	if op != "delete" { // DeleteEnvironment publishes once the record is gone
		c.environmentEvent(ctx, "environment.updated", env)
	}
	return env, nil
}

// StartEnvironment starts a stopped environment.
func (c *Core) StartEnvironment(ctx context.Context, id string) (*berth.Environment, error) {
	ctx, span := tracing.Start(ctx, "core.StartEnvironment", attribute.String("berth.environment", id))
	defer span.End()
	if err := must(ctx); err != nil {
		return nil, err
	}
	return c.envOp(ctx, id, "start", berth.EnvStarting, func(env *berth.Environment, rt berth.Runtime) error {
		env.Stopped = false
		if err := rt.StartEnvironment(ctx, c.runtimeEnv(env)); err != nil {
			return err
		}
		env.LastAccessedAt = c.now().UTC() // a fresh start is not idle
		return c.refreshEnv(ctx, env, rt)
	})
}

// StopEnvironment stops an environment, keeping its workspace.
func (c *Core) StopEnvironment(ctx context.Context, id string) (*berth.Environment, error) {
	ctx, span := tracing.Start(ctx, "core.StopEnvironment", attribute.String("berth.environment", id))
	defer span.End()
	if err := must(ctx); err != nil {
		return nil, err
	}
	return c.envOp(ctx, id, "stop", berth.EnvStopping, func(env *berth.Environment, rt berth.Runtime) error {
		if !env.Stopped {
			at := c.now().UTC()
			env.StoppedAt = &at
		}
		env.Stopped = true
		if err := rt.StopEnvironment(ctx, c.runtimeEnv(env)); err != nil {
			return err
		}
		return c.refreshEnv(ctx, env, rt)
	})
}

func (c *Core) refreshEnv(ctx context.Context, env *berth.Environment, rt berth.Runtime) error {
	if st, err := rt.EnvironmentState(ctx, env); err == nil {
		c.applyState(env, st)
	}
	env.UpdatedAt = c.now().UTC()
	return c.store.UpdateEnvironment(ctx, env)
}

// DeleteEnvironment removes the environment's workload (and its storage
// unless keepVolume), then its record.
func (c *Core) DeleteEnvironment(ctx context.Context, id string, keepVolume bool) (*berth.Environment, error) {
	ctx, span := tracing.Start(ctx, "core.DeleteEnvironment", attribute.String("berth.environment", id))
	defer span.End()
	if err := must(ctx); err != nil {
		return nil, err
	}
	env, err := c.envOp(ctx, id, "delete", berth.EnvDeleting, func(env *berth.Environment, rt berth.Runtime) error {
		return rt.DeleteEnvironment(ctx, env, keepVolume)
	})
	if err != nil {
		return nil, err
	}
	if err := c.store.DeleteEnvironment(ctx, id); err != nil {
		return nil, fmt.Errorf("delete environment %s: %w", id, err)
	}
	c.environmentEvent(ctx, "environment.deleted", env)
	return env, nil
}

// RecordActivity feeds idle auto-stop from a workspace's report. The caller
// is the workspace itself (WorkspaceActor, from its activity token) or a
// user who may see the environment; anyone else finds no such environment.
func (c *Core) RecordActivity(ctx context.Context, id string, act berth.Activity) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.Snapshot.ActiveIDEConnections < 0 || act.Snapshot.ActiveSSHConnections < 0 {
		return berth.Invalid("snapshot", "connection counts must not be negative")
	}
	env, err := c.store.GetEnvironment(ctx, id)
	if err != nil {
		if berth.IsCode(err, berth.ENOTFOUND) {
			return berth.NotFound("environment", id)
		}
		return err
	}
	if a != WorkspaceActor(id) && !mayEnvironment(a, env) {
		return berth.NotFound("environment", id)
	}
	now := c.now().UTC()
	at := time.Time{}
	for _, t := range []*time.Time{act.Snapshot.LastIDEActivity, act.Snapshot.LastSSHActivity} {
		if t != nil && t.After(at) {
			at = *t
		}
	}
	if act.Snapshot.ActiveIDEConnections > 0 || act.Snapshot.ActiveSSHConnections > 0 {
		at = now // open connections are activity now
	}
	if at.IsZero() {
		return nil // a report without any activity does not refresh lastAccessedAt
	}
	if at.After(now) {
		at = now // a workspace's clock may run ahead: never move into the future
	}
	return c.store.TouchEnvironment(ctx, id, at.UTC())
}

// syncEnvironment stores the observed status when it changed.
func (c *Core) syncEnvironment(ctx context.Context, stored *berth.Environment) {
	rt, ok := c.runtimes[stored.Target]
	if !ok || stored.Status == berth.EnvDeleting {
		return
	}
	st, err := rt.EnvironmentState(ctx, stored)
	if err != nil || st == nil {
		return
	}
	if reason, failing := c.failingReason(reconcileKey{env: stored.ID}); failing {
		cp := *st
		cp.Status, cp.Message = berth.EnvError, reason // the loop cannot repair it (repair.go)
		st = &cp
	}
	if st.Status == stored.Status && st.Message == stored.Message && (c.stateURL(stored, st) == "" || c.stateURL(stored, st) == stored.VSCodeURL) &&
		(st.ContainerGroupID == "" || st.PublicIP == stored.ACIPublicIP) {
		return
	}
	unlock := c.lock("env/" + stored.ID)
	defer unlock()
	cur, err := c.store.GetEnvironment(ctx, stored.ID)
	if err != nil || cur.Status == berth.EnvDeleting {
		return
	}
	c.applyState(cur, st)
	cur.UpdatedAt = c.now().UTC()
	if err := c.store.UpdateEnvironment(ctx, cur); err != nil {
		c.log.Error("sync environment", "environment", cur.ID, "err", err)
		return
	}
	c.environmentEvent(ctx, "environment.status", cur)
}

// autoStop stops running environments idle for longer than their
// autoStopMinutes, and audits it as berth's own action.
func (c *Core) autoStop(ctx context.Context, envs []*berth.Environment) {
	now := c.now().UTC()
	for _, env := range envs {
		if env.AutoStopMinutes <= 0 || env.Stopped || env.Status != berth.EnvRunning {
			continue
		}
		idle := now.Sub(env.LastAccessedAt)
		if idle < time.Duration(env.AutoStopMinutes)*time.Minute {
			continue
		}
		start := c.now()
		sysCtx := berth.WithActor(ctx, berth.System)
		_, err := c.StopEnvironment(sysCtx, env.ID)
		e := &berth.AuditEntry{
			Timestamp: now, UserID: berth.System.UserID, Username: berth.System.Username,
			Action: "environment.autostop", Type: "stop", ResourceType: "environment", Resource: env.ID,
			Target: env.Target, Status: berth.AuditCompleted, DurationMs: c.now().Sub(start).Milliseconds(),
			Details: map[string]any{"idleMinutes": int(idle.Minutes()), "autoStopMinutes": env.AutoStopMinutes},
		}
		if err != nil {
			e.Status, e.Error = berth.AuditFailed, berth.ErrorMessage(err)
		}
		c.audit(ctx, e)
	}
}

// audit appends an entry written by core itself.
func (c *Core) audit(ctx context.Context, e *berth.AuditEntry) {
	if err := c.store.AppendAudit(ctx, e); err != nil {
		c.log.Error("append audit entry", "action", e.Action, "err", err)
		return
	}
	if c.onAudit != nil {
		c.onAudit(e)
	}
	c.publish(ctx, AuditEvent(e))
}
