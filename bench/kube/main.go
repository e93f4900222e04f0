// Command kube benchmarks berth's kubernetes target against kubectl on a
// real control plane (internal/kubetest: etcd, apiserver, controllers,
// scheduler, kwok fake nodes) with 1,000 Deployments berth did not create
// (make bench-kube). It is not a test: the machine is shared and noisy, so
// it prints medians of several runs next to kubectl measured in the same
// run, and the targets. It exits non-zero on errors, not on a missed target.
//
//	go run ./bench/kube -berth bin/berth
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/berthhq/berth/bench/internal/kubebench"
	"github.com/berthhq/berth/bench/internal/stat"
	"github.com/berthhq/berth/internal/berthproc"
	"github.com/berthhq/berth/internal/kubetest"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

type options struct {
	kubeconfig                    string
	berth                         string
	namespaces, perNS             int
	listRequests, kubectlRuns     int
	createRuns, services, workers int
}

func main() {
	var o options
	flag.StringVar(&o.berth, "berth", "bin/berth", "berth binary")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "a running cluster of internal/kubetest (make cluster) instead of a new one")
	flag.IntVar(&o.namespaces, "namespaces", 10, "namespaces to populate")
	flag.IntVar(&o.perNS, "per-namespace", 100, "Deployments per populated namespace")
	flag.IntVar(&o.listRequests, "list-requests", 400, "berth list requests (pages in turn)")
	flag.IntVar(&o.kubectlRuns, "kubectl-runs", 15, "kubectl get deploy -A runs")
	flag.IntVar(&o.createRuns, "runs", 3, "create-to-ready runs per side")
	flag.IntVar(&o.services, "services", 100, "services per create run")
	// kubectl apply -f sends one object after the other: so does berth's side.
	flag.IntVar(&o.workers, "workers", 1, "concurrent PUTs in a create run")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-kube:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute) // a cold cluster build takes long
	defer cancel()
	if _, err := os.Stat(o.berth); err != nil {
		return fmt.Errorf("berth binary: %w (make build)", err)
	}
	dir, err := os.MkdirTemp("", "bench-kube-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	kubeconfig, rc := o.kubeconfig, (*rest.Config)(nil)
	if kubeconfig == "" {
		step("starting the cluster (builds the binaries when not cached)")
		cluster, err := kubetest.Start(ctx, os.Stderr)
		if err != nil {
			return err
		}
		defer cluster.Stop()
		kubeconfig, rc = cluster.Kubeconfig, cluster.Config
	} else if rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		return fmt.Errorf("read %s: %w", kubeconfig, err)
	}
	client, err := kubebench.FastClient(rc)
	if err != nil {
		return err
	}
	pods := o.namespaces*o.perNS + 2*o.createRuns*o.services
	if err := kubebench.AddNodes(ctx, client, pods/1000+1); err != nil {
		return err
	}

	// 1. The cluster as berth finds it: Deployments it did not create.
	var popNS []string
	for i := range o.namespaces {
		popNS = append(popNS, fmt.Sprintf("pop-%d", i))
	}
	step("populating %d Deployments in %d namespaces", o.namespaces*o.perNS, o.namespaces)
	t0 := time.Now()
	if err := kubebench.Populate(ctx, client, popNS, o.perNS, 32, func(int) int32 { return 1 }); err != nil {
		return err
	}
	if err := kubebench.WaitAvailable(ctx, client, popNS, o.namespaces*o.perNS, 8*time.Minute); err != nil {
		return err
	}
	step("all %d available after %.1fs", o.namespaces*o.perNS, time.Since(t0).Seconds())

	// 2. berth with one target on the whole cluster.
	s, err := kubebench.StartBerth(o.berth, dir, kubeconfig)
	if err != nil {
		return err
	}
	defer s.Stop()
	home := dir // kubectl's discovery cache
	want := o.namespaces * o.perNS
	var failures []error
	// Wait for the informers: the first list answers once they are synced.
	var l kubebench.ServiceList
	if err := stat.Poll(60*time.Second, 500*time.Millisecond, "berth lists the cluster's Deployments", func() error {
		if err := s.Do("GET", "/api/v1/services?target=k&pageSize=200", nil, &l); err != nil {
			return err
		}
		if l.Total < want {
			return fmt.Errorf("total %d < %d", l.Total, want)
		}
		return nil
	}); err != nil {
		failures = append(failures, fmt.Errorf("GET /api/v1/services?target=k answers total %d, want ≥ %d: "+
			"the list does not include the Deployments berth did not create (%v)", l.Total, want, err))
		fmt.Fprintf(os.Stderr, "\n*** FAIL: %v\n*** the list figures below are not comparable to kubectl's\n\n", failures[0])
	}

	// 3. A page of the list against kubectl's whole list, same run.
	step("list: %d berth requests, %d kubectl runs", o.listRequests, o.kubectlRuns)
	bl, err := kubebench.BerthList(s, o.listRequests)
	if err != nil {
		return err
	}
	kl, err := kubebench.KubectlList(ctx, kubeconfig, home, o.kubectlRuns, want)
	if err != nil {
		return err
	}
	rssList := stat.RSSMB(s.Pid())

	// 4. Create to ready, berth and kubectl in turn, fresh namespaces.
	// Beside each tool's own time: when client-go first saw all of them
	// available, so the tool's share (requests, detection) shows.
	var bc, kc, bcl, kcl []float64
	for r := range o.createRuns {
		step("create run %d: berth", r+1)
		d, seen, err := benchBerthCreate(ctx, s, client, fmt.Sprintf("berth-%d", r), o.services, o.workers)
		if err != nil {
			return err
		}
		bc, bcl = append(bc, d.Seconds()), append(bcl, seen.Seconds())
		step("create run %d: kubectl", r+1)
		d, seen, err = benchKubectlCreate(ctx, kubeconfig, home, client, fmt.Sprintf("kubectl-%d", r), o.services)
		if err != nil {
			return err
		}
		kc, kcl = append(kc, d.Seconds()), append(kcl, seen.Seconds())
		step("create run %d: berth %.2fs (cluster ready at %.2fs), kubectl %.2fs (cluster ready at %.2fs)", r+1, bc[r], bcl[r], kc[r], kcl[r])
	}
	// 5. Memory with the informers full: every Deployment, ReplicaSet and Pod.
	rssCreate := stat.RSSMB(s.Pid())
	// The binary's mapped pages count too: anon is what the heap holds.
	anon, file := berthproc.ProcStatusMB(s.Pid(), "RssAnon"), berthproc.ProcStatusMB(s.Pid(), "RssFile")

	ratio50, ratio99 := kl.P50/bl.P50, kl.P99/bl.P99
	cr := stat.Median(bc) / stat.Median(kc)
	rss := max(rssList, rssCreate)
	rows := []stat.Row{
		{"list p50 (berth page of 200 | kubectl -A)", f2(bl.P50) + " ms", f2(kl.P50) + " ms", fmt.Sprintf("%.1fx faster", ratio50), "≥ 10x", stat.Verdict(ratio50 >= 10 && bl.Total >= want)},
		{"list p99", f2(bl.P99) + " ms", f2(kl.P99) + " ms", fmt.Sprintf("%.1fx faster", ratio99), "≥ 10x", stat.Verdict(ratio99 >= 10 && bl.Total >= want)},
		{"list every page in turn (info)", f2(stat.Ms(bl.All)) + " ms", f2(kl.P50) + " ms", fmt.Sprintf("%.1fx faster", kl.P50/stat.Ms(bl.All)), "-", "-"},
		{fmt.Sprintf("create %d → ready (median of %d)", o.services, o.createRuns), fmt.Sprintf("%.2f s", stat.Median(bc)), fmt.Sprintf("%.2f s", stat.Median(kc)), fmt.Sprintf("%.2fx", cr), "≤ 1.3x", stat.Verdict(cr <= 1.3)},
		{"  cluster ready (client-go, info)", fmt.Sprintf("%.2f s", stat.Median(bcl)), fmt.Sprintf("%.2f s", stat.Median(kcl)), fmt.Sprintf("%.2fx", stat.Median(bcl)/stat.Median(kcl)), "-", "-"},
		{"berth RSS after list | after creates", fmt.Sprintf("%.0f | %.0f MB", rssList, rssCreate), fmt.Sprintf("(anon %.0f + file %.0f)", anon, file), "-", "< 150 MB", stat.Verdict(rss < 150)},
	}
	fmt.Printf("\nberth bench-kube: %d Deployments berth did not create in %d namespaces (list total %d), %d cores, %s\n",
		want, o.namespaces, bl.Total, runtime.NumCPU(), stat.Loadavg())
	fmt.Printf("list: %d berth requests over every page, %d kubectl runs; create: %d runs per side, %d PUTs at a time; runs berth %s | kubectl %s\n\n",
		o.listRequests, o.kubectlRuns, o.createRuns, o.workers, secs(bc), secs(kc))
	stat.PrintTable("kubectl", rows)
	step("done")
	return errors.Join(failures...)
}

func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

func secs(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2fs", x)
	}
	return s
}
