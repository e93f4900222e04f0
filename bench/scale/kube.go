package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthhq/berth/bench/internal/kubebench"
	"github.com/berthhq/berth/bench/internal/stat"
	"github.com/berthhq/berth/internal/berthproc"
	"github.com/berthhq/berth/internal/kubetest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeRun is one berth started on the populated cluster.
type kubeRun struct {
	ready, listed  time.Duration // process start → /readyz 200; → the list's total complete
	berth, kubectl kubebench.ListResult
	rss, anon      float64 // after the list, MiB
	heap           float64 // Go heap in use (pprof), MiB
	top, profile   string
	// the CPU profile over the list's first seconds, and its top by cumulative time
	cpuProfile, cpuTop string
}

// kubePart populates the cluster once, then starts berth o.runs times on
// it (and the baseline, interleaved), each time timing start to ready and
// the list against kubectl's in the same run.
func kubePart(ctx context.Context, o options) error {
	kubeconfig, rc := o.kubeconfig, (*rest.Config)(nil)
	var err error
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
	want := o.namespaces * o.perNS
	if err := kubebench.AddNodes(ctx, client, o.namespaces*o.running/1000+1); err != nil {
		return err
	}
	var nss []string
	for i := range o.namespaces {
		nss = append(nss, fmt.Sprintf("scale-%d", i))
	}
	step("populating %d Deployments in %d namespaces (%d per namespace at one replica, the rest at 0)", want, o.namespaces, o.running)
	t0 := time.Now()
	if err := kubebench.Populate(ctx, client, nss, o.perNS, 64, func(i int) int32 {
		if i%o.perNS < o.running {
			return 1
		}
		return 0
	}); err != nil {
		return err
	}
	step("%d created after %.1fs", want, time.Since(t0).Seconds())
	// The running ones available; the controller manager (20 requests a
	// second) takes far longer to give the rest their ReplicaSets: each run
	// says how many exist, berth caches those too.
	if err := kubebench.WaitAvailable(ctx, client, nss[:1], o.perNS, 10*time.Minute); err != nil {
		return err
	}
	// The informers' caches are what berth holds: strip nothing but
	// what it strips itself. pprof for the heap profile.
	if err := os.Setenv("BERTH_PPROF", "true"); err != nil {
		return err
	}
	bins := []string{o.berth}
	if o.kubeBaseline != "" {
		bins = append(bins, o.kubeBaseline)
	}
	res := make([][]kubeRun, len(bins))
	for r := range o.runs {
		for b, bin := range bins {
			rs, err := client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				return err
			}
			step("kubernetes run %d/%d: %s (%d ReplicaSets on the cluster)", r+1, o.runs, bin, len(rs.Items))
			kr, err := benchKube(ctx, o, bin, kubeconfig, want, filepath.Join(o.out, fmt.Sprintf("kube-heap-%d-%d.pb.gz", b, r)))
			if err != nil {
				return err
			}
			step("  ready %.2fs (list complete %.2fs), list p50 %.2f ms p99 %.2f ms | kubectl p50 %.0f ms p99 %.0f ms, RSS %.0f MB (anon %.0f), heap %.1f MB",
				kr.ready.Seconds(), kr.listed.Seconds(), kr.berth.P50, kr.berth.P99, kr.kubectl.P50, kr.kubectl.P99, kr.rss, kr.anon, kr.heap)
			res[b] = append(res[b], kr)
		}
	}
	printKube(o, bins, res, want)
	return nil
}

// benchKube starts bin on the cluster and measures one run.
func benchKube(ctx context.Context, o options, bin, kubeconfig string, want int, profile string) (kubeRun, error) {
	var kr kubeRun
	dir, err := os.MkdirTemp("", "bench-scale-kube-")
	if err != nil {
		return kr, err
	}
	defer os.RemoveAll(dir)
	t0 := time.Now()
	s, err := kubebench.StartBerth(bin, dir, kubeconfig)
	if err != nil {
		return kr, err
	}
	defer s.Stop()
	if err := stat.Poll(2*time.Minute, 20*time.Millisecond, "berth /readyz", func() error {
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	}); err != nil {
		return kr, err
	}
	kr.ready = time.Since(t0)
	if err := stat.Poll(2*time.Minute, 20*time.Millisecond, "berth lists every Deployment", func() error {
		var l kubebench.ServiceList
		if err := s.Do("GET", "/api/v1/services?target=k&pageSize=200", nil, &l); err != nil {
			return err
		}
		if l.Total < want {
			return fmt.Errorf("total %d < %d", l.Total, want)
		}
		return nil
	}); err != nil {
		return kr, err
	}
	kr.listed = time.Since(t0)
	// Where a page's time goes: a CPU profile over the list's first
	// seconds (the sampler's ticks and the sync loop included).
	cpuDone := make(chan error, 1)
	kr.cpuProfile = strings.Replace(profile, "heap", "cpu", 1)
	go func() { cpuDone <- cpuProfile(s, o.cpuProfile, kr.cpuProfile) }()
	if kr.berth, err = kubebench.BerthList(s, o.listRequests); err != nil {
		return kr, err
	}
	if err := <-cpuDone; err != nil {
		return kr, err
	}
	if kr.cpuTop, _, err = pprofTopOf(ctx, kr.cpuProfile, "-cum"); err != nil {
		return kr, err
	}
	if kr.kubectl, err = kubebench.KubectlList(ctx, kubeconfig, dir, o.kubectlRuns, want); err != nil {
		return kr, err
	}
	kr.rss, kr.anon = stat.RSSMB(s.Pid()), berthproc.ProcStatusMB(s.Pid(), "RssAnon")
	kr.profile = profile
	if err := heapProfile(s, profile); err != nil {
		return kr, err
	}
	kr.top, kr.heap, err = pprofTop(ctx, profile)
	return kr, err
}

func printKube(o options, bins []string, res [][]kubeRun, want int) {
	med := func(b int, f func(kubeRun) float64) float64 {
		var xs []float64
		for _, x := range res[b] {
			xs = append(xs, f(x))
		}
		return stat.Median(xs)
	}
	ready := func(x kubeRun) float64 { return x.ready.Seconds() }
	listed := func(x kubeRun) float64 { return x.listed.Seconds() }
	// Ratios are per run (berth and kubectl measured together), then the median.
	r50 := func(x kubeRun) float64 { return x.kubectl.P50 / x.berth.P50 }
	r99 := func(x kubeRun) float64 { return x.kubectl.P99 / x.berth.P99 }
	rAll := func(x kubeRun) float64 { return x.kubectl.P50 / stat.Ms(x.berth.All) }
	rss := func(x kubeRun) float64 { return x.rss }
	heap := func(x kubeRun) float64 { return x.heap }
	fmt.Printf("\nkubernetes: %d Deployments berth did not create in %d namespaces (%d at one replica, the rest at 0), %d runs of a fresh berth; %s\n",
		want, o.namespaces, o.namespaces*o.running, o.runs, stat.Loadavg())
	fmt.Printf("list: %d berth requests over every page of 200 against %d runs of kubectl get deploy -A -o json per run\n\n", o.listRequests, o.kubectlRuns)
	for b, bin := range bins {
		if b > 0 {
			fmt.Printf("\nbaseline %s:\n", bin)
		}
		p := func(f func(kubeRun) float64) float64 { return med(b, f) }
		bp50 := p(func(x kubeRun) float64 { return x.berth.P50 })
		bp99 := p(func(x kubeRun) float64 { return x.berth.P99 })
		kp50 := p(func(x kubeRun) float64 { return x.kubectl.P50 })
		kp99 := p(func(x kubeRun) float64 { return x.kubectl.P99 })
		all := p(func(x kubeRun) float64 { return stat.Ms(x.berth.All) })
		stat.PrintTable("kubectl", []stat.Row{
			{"start → /readyz ready (informers synced)", fmt.Sprintf("%.2f s", p(ready)), "-", "-", "< 30 s", stat.Verdict(p(ready) < 30)},
			{"start → list total complete (info)", fmt.Sprintf("%.2f s", p(listed)), "-", "-", "-", "-"},
			{"list p50 (berth page of 200 | kubectl -A)", fmt.Sprintf("%.2f ms", bp50), fmt.Sprintf("%.0f ms", kp50), fmt.Sprintf("%.0fx faster", p(r50)), "≥ 50x", stat.Verdict(p(r50) >= 50)},
			{"list p99", fmt.Sprintf("%.2f ms", bp99), fmt.Sprintf("%.0f ms", kp99), fmt.Sprintf("%.0fx faster", p(r99)), "≥ 50x", stat.Verdict(p(r99) >= 50)},
			{"list every page in turn (info)", fmt.Sprintf("%.0f ms", all), fmt.Sprintf("%.0f ms", kp50), fmt.Sprintf("%.1fx faster", p(rAll)), "-", "-"},
			{"berth RSS after the list", fmt.Sprintf("%.0f MB", p(rss)), "-", "-", "< 300 MB", stat.Verdict(p(rss) < 300)},
			{"Go heap in use (pprof, info)", fmt.Sprintf("%.1f MB", p(heap)), "-", "-", "-", "-"},
		})
		last := res[b][len(res[b])-1]
		fmt.Printf("\nheap of %s, last run (%s):\n%s", bin, last.profile, last.top)
		fmt.Printf("\nCPU of %s over the list's first %s, last run (%s):\n%s", bin, o.cpuProfile, last.cpuProfile, last.cpuTop)
	}
}
