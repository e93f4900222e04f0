package kube

import (
	"context"

	"github.com/berthhq/berth"
)

// Environments on Kubernetes (a StatefulSet of one with a PVC) are not
// built yet: every call says so.

func (r *Runtime) ApplyEnvironment(context.Context, *berth.Environment) (*berth.EnvironmentState, error) {
	return nil, berth.NotSupported(r.cfg.Target, "environments")
}
func (r *Runtime) StartEnvironment(context.Context, *berth.Environment) error {
	return berth.NotSupported(r.cfg.Target, "environments")
}
func (r *Runtime) StopEnvironment(context.Context, *berth.Environment) error {
	return berth.NotSupported(r.cfg.Target, "environments")
}
func (r *Runtime) DeleteEnvironment(context.Context, *berth.Environment, bool) error {
	return berth.NotSupported(r.cfg.Target, "environments")
}
func (r *Runtime) EnvironmentState(context.Context, *berth.Environment) (*berth.EnvironmentState, error) {
	return nil, berth.NotSupported(r.cfg.Target, "environments")
}
