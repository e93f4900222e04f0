// Command scale measures berth at scale (make bench-scale). It is not a
// test: the machine is shared and noisy, so it prints medians of several
// runs next to references measured in the same run, and the targets; it
// exits non-zero on errors, not on a missed target.
//
//   - Kubernetes, on the tests' control plane (internal/kubetest): 10,000
//     Deployments berth did not create in 100 namespaces, most at 0
//     replicas; berth's process start to /readyz ready (informers synced),
//     GET /api/v1/services p50/p99 against `kubectl get deploy -A -o json`,
//     berth's RSS.
//
//   - Local: 1,000 services and 1,000 environments running on the local
//     runtime; berth's RSS and where its heap goes (pprof), against a
//     baseline binary (-baseline, e.g. the previous commit's) in the same run.
//
//     go run ./bench/scale -berth bin/berth [-baseline /tmp/berth-before]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

type options struct {
	berth, baseline, out string
	kube, local          bool
	runs                 int
	// kubernetes
	kubeconfig, kubeBaseline   string
	namespaces, perNS, running int
	listRequests, kubectlRuns  int
	cpuProfile                 time.Duration
	// local
	localN, ticks int
	interval      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.berth, "berth", "bin/berth", "berth binary")
	flag.StringVar(&o.baseline, "baseline", "", "a previous berth binary measured beside it in the local runs (before/after)")
	flag.StringVar(&o.out, "out", "", "directory for the heap profiles (default: a temporary one, printed)")
	flag.BoolVar(&o.kube, "kube", true, "run the Kubernetes part")
	flag.BoolVar(&o.local, "local", true, "run the local part")
	flag.IntVar(&o.runs, "runs", 3, "runs per measurement (medians)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "a running cluster of internal/kubetest instead of a new one")
	flag.StringVar(&o.kubeBaseline, "kube-baseline", "", "a previous berth binary measured beside it in the Kubernetes runs")
	flag.IntVar(&o.namespaces, "namespaces", 100, "namespaces to populate")
	flag.IntVar(&o.perNS, "per-namespace", 100, "Deployments per namespace")
	flag.IntVar(&o.running, "running", 1, "Deployments per namespace at one replica (the rest at 0)")
	flag.IntVar(&o.listRequests, "list-requests", 400, "berth list requests per run (pages in turn)")
	flag.DurationVar(&o.cpuProfile, "cpu-profile", 10*time.Second, "how long berth's CPU is profiled while the list runs")
	flag.IntVar(&o.kubectlRuns, "kubectl-runs", 5, "kubectl get deploy -A runs per run")
	flag.IntVar(&o.localN, "local-n", 1000, "local services and as many environments")
	flag.IntVar(&o.ticks, "ticks", 4, "sampler ticks to measure RSS over once everything runs")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "berth's metrics sampler interval in the local runs")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

var begin = time.Now()

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	for _, b := range []string{o.berth, o.baseline, o.kubeBaseline} {
		if b == "" {
			continue
		}
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("berth binary: %w (make build)", err)
		}
	}
	if o.out == "" {
		d, err := os.MkdirTemp("", "bench-scale-")
		if err != nil {
			return err
		}
		o.out = d
	}
	fmt.Printf("berth bench-scale: %d runs per figure (medians), %d cores; profiles in %s\n", o.runs, runtime.NumCPU(), o.out)
	var errs []error
	if o.kube {
		if err := kubePart(ctx, o); err != nil {
			errs = append(errs, fmt.Errorf("kubernetes: %w", err))
		}
	}
	if o.local {
		if err := localPart(ctx, o); err != nil {
			errs = append(errs, fmt.Errorf("local: %w", err))
		}
	}
	step("done")
	return errors.Join(errs...)
}
