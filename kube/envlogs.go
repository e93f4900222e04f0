package kube

import (
	"context"

	"github.com/berthhq/berth"
)

var _ berth.EnvironmentLogger = (*Runtime)(nil)

// EnvironmentLogs reads the workspace pod's log: the environment's
// Deployment is read as services are (ServiceLogs), container "workspace".
func (r *Runtime) EnvironmentLogs(ctx context.Context, env *berth.Environment, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	e, err := r.envRef(env)
	if err != nil {
		return err
	}
	if err := r.waitSynced(ctx); err != nil {
		return err
	}
	d, err := r.deploys[r.listerIndex(e.ns)].Deployments(e.ns).Get(e.name)
	if err != nil {
		return berth.Errorf(berth.ENOTFOUND, "logs of environment %s: deployment %s not found on target %s", e.id, e, r.cfg.Target)
	}
	if !e.owns(d) {
		return berth.Errorf(berth.ECONFLICT, "logs of environment %s: deployment %s is not berth's for this environment", e.id, e)
	}
	if opts.Container == "" {
		opts.Container = workspaceContainer
	}
	err = r.ServiceLogs(ctx, berth.ServiceRef{Target: r.cfg.Target, Namespace: e.ns, Name: e.name}, opts, fn)
	return berth.Wrap(err, berth.EENVIRONMENT, "logs of environment %s", e.id)
}
