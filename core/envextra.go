package core

import (
	"context"

	"github.com/berthhq/berth"
)

// RestartEnvironment restarts an environment's workload in place when the
// runtime can, else by stopping and starting it.
func (c *Core) RestartEnvironment(ctx context.Context, id string) (*berth.Environment, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	return c.envOp(ctx, id, "restart", berth.EnvStarting, func(env *berth.Environment, rt berth.Runtime) error {
		if env.Stopped {
			return berth.Errorf(berth.ECONFLICT, "environment %s is stopped: start it instead", id)
		}
		renv := c.runtimeEnv(env)
		if r, ok := rt.(berth.EnvironmentRestarter); ok {
			if err := r.RestartEnvironment(ctx, renv); err != nil {
				return err
			}
		} else {
			if err := rt.StopEnvironment(ctx, renv); err != nil {
				return err
			}
			if err := rt.StartEnvironment(ctx, renv); err != nil {
				return err
			}
		}
		return c.refreshEnv(ctx, env, rt)
	})
}

// EnvironmentLogs streams the output of an environment's workload to fn.
func (c *Core) EnvironmentLogs(ctx context.Context, id string, opts berth.LogOptions, fn func(berth.LogLine) error) (*berth.Environment, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	env, err := c.visible(ctx, id)
	if err != nil {
		return nil, err
	}
	lg, ok := c.runtimes[env.Target].(berth.EnvironmentLogger)
	if !ok {
		return env, berth.NotSupported(env.Target, "environment logs")
	}
	return env, lg.EnvironmentLogs(ctx, env, opts, fn)
}
