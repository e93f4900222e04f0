package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/aci"
	"github.com/berthhq/berth/kube"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
	"golang.org/x/sync/errgroup"
)

// targets are the runtimes of the enabled targets and what goes with them.
type targets struct {
	runtimes    []berth.Runtime
	locals      []*local.Runtime
	usage       map[string]metrics.Source // by target; local targets measure themselves
	orphanGrace map[string]time.Duration  // targets whose orphans core removes
}

// buildTargets makes a runtime per enabled target of berth.yaml (and the
// ACI targets of Dev8's AZURE_* variables when berth.yaml names none). ACI
// orphan cleanups run in loops.
func buildTargets(ctx context.Context, b *base, leading func() bool, loops *errgroup.Group) (*targets, error) {
	ts := &targets{usage: map[string]metrics.Source{}, orphanGrace: map[string]time.Duration{}}
	var aciCfgs []aci.Config
	for _, t := range b.cfg.Targets {
		var err error
		switch {
		case t.Disabled:
		case t.Type == "kubernetes":
			err = ts.addKube(ctx, b, t)
		case t.Type == "local":
			err = ts.addLocal(b, t)
		case t.Type == "aci":
			var c aci.Config
			c, err = t.aciConfig(b.getenv)
			aciCfgs = append(aciCfgs, c)
		}
		if err != nil {
			ts.closeLocals(b.logger)
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
	}
	if len(aciCfgs) == 0 {
		var err error
		if aciCfgs, err = aci.ConfigsFromEnv(b.getenv); err != nil {
			ts.closeLocals(b.logger)
			return nil, fmt.Errorf("azure targets: %w", err)
		}
	}
	for _, c := range aciCfgs {
		if err := ts.addACI(ctx, b, c, leading, loops); err != nil {
			ts.closeLocals(b.logger)
			return nil, fmt.Errorf("target %s: %w", c.Name, err)
		}
	}
	return ts, nil
}

// images are the templates' images (aci and kubernetes targets).
func (t targetConfig) images() map[string]string {
	out := map[string]string{}
	for name, tpl := range t.Templates {
		if tpl.Image != "" {
			out[name] = tpl.Image
		}
	}
	return out
}

// addKube starts a kubernetes target's informers (reads wait for their
// sync, so a down cluster does not stop berth) and its Prometheus source.
func (ts *targets) addKube(ctx context.Context, b *base, t targetConfig) error {
	rt, err := kube.New(t.kubeTarget.Config(kube.Config{Target: t.Name, Region: t.Region, WorkspaceImage: t.Image,
		Templates: t.images(), WorkspacePath: t.WorkspacePath, IDEPort: t.IDEPort, AgentBaseURL: b.cfg.PublicURL}))
	if err != nil {
		return err
	}
	rt.Start(ctx)
	ts.runtimes = append(ts.runtimes, rt)
	if u := cmp.Or(t.PrometheusURL, b.cfg.PrometheusURL); u != "" {
		src, err := metrics.NewPromSource(t.Name, metrics.PromConfig{URL: u, Pods: metrics.PodsKubernetes,
			EnvNamespace: rt.EnvNamespace()})
		if err != nil {
			return err
		}
		ts.usage[t.Name] = src
	}
	if t.CleanupOrphans {
		ts.orphanGrace[t.Name] = t.orphanGrace // parsed at load
	}
	return nil
}

// addLocal makes a local target; its workloads' directories default to
// <workload root>/<name>, the root passed through (0711), never listed.
func (ts *targets) addLocal(b *base, t targetConfig) error {
	tmpl := map[string]local.Template{}
	for name, tc := range t.Templates {
		tmpl[name] = local.Template{Command: tc.Command, Env: tc.Env}
	}
	cfg, err := t.localTarget.Config(local.Config{Name: t.Name, DataDir: filepath.Join(b.dataDir, "targets", t.Name),
		Templates: tmpl, Logger: b.logger.With("target", t.Name), UIDs: b.st})
	if err != nil {
		return err
	}
	if cfg.WorkloadDir == "" {
		if err := os.MkdirAll(b.workloadRoot, 0o711); err != nil { // #nosec G301 -- the workload root is passed through (0711) by the isolated uids, never listed
			return fmt.Errorf("create workload dir: %w", err)
		}
		if err := os.Chmod(b.workloadRoot, 0o711); err != nil { // #nosec G302 -- a directory: 0711, passed through by the isolated uids, never listed
			return fmt.Errorf("create workload dir: %w", err)
		}
		cfg.WorkloadDir = filepath.Join(b.workloadRoot, t.Name)
	}
	rt, err := local.New(cfg)
	if err != nil {
		return err
	}
	ts.locals = append(ts.locals, rt)
	ts.runtimes = append(ts.runtimes, rt)
	if b.st.Kind() == store.Postgres {
		// The local runtime runs processes on this host from the shared
		// desired state: every replica with it runs the same services.
		b.logger.Warn("a local target on a shared PostgreSQL store: every berth replica that has it runs its services on its own host; "+
			"with several replicas, give local targets to one of them only (disabled: true on the others)", "target", t.Name)
	}
	return nil
}

// aciConfig is the entry's aci.Config; name and templates of the entry win.
func (t targetConfig) aciConfig(getenv func(string) string) (aci.Config, error) {
	tc := t.TargetConfig
	tc.Name = t.Name
	if images := t.images(); len(images) > 0 {
		if tc.Templates == nil {
			tc.Templates = map[string]string{}
		}
		for name, image := range images {
			tc.Templates[name] = image
		}
	}
	return tc.Config(getenv)
}

// addACI makes an ACI target and runs its orphan cleanup (which returns at
// once unless cleanupOrphans is on).
func (ts *targets) addACI(ctx context.Context, b *base, c aci.Config, leading func() bool, loops *errgroup.Group) error {
	c.Logger = b.logger.With("target", c.Name)
	c.Known = func(ctx context.Context, id string) (bool, error) {
		_, err := b.st.GetEnvironment(ctx, id)
		if berth.IsCode(err, berth.ENOTFOUND) {
			return false, nil
		}
		return err == nil, err
	}
	if c.InstallationID == "" {
		// Stable across restarts and shared by replicas (they share the key).
		c.InstallationID = hex.EncodeToString(secret.DeriveKey(b.master, "installation")[:6])
	}
	c.AgentBaseURL = cmp.Or(c.AgentBaseURL, b.public)
	rt, err := aci.New(c)
	if err != nil {
		return err
	}
	ts.runtimes = append(ts.runtimes, rt)
	loops.Go(func() error { rt.RunCleanup(ctx, 5*time.Minute, leading); return nil })
	return nil
}

// closeLocals stops the local targets' processes (for up to 30 s).
func (ts *targets) closeLocals(logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rt := range ts.locals {
		if err := rt.Close(ctx); err != nil {
			logger.Error("stop local runtime", "err", err)
		}
	}
	ts.locals = nil
}
