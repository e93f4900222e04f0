package metrics_test

import (
	"fmt"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/promtest"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestPrometheusEndToEnd: a real Prometheus scrapes the collector over a
// real local runtime; what berth reads back through PromQL matches what the
// local source measured over the same window.
func TestPrometheusEndToEnd(t *testing.T) {
	rt := newLocal(t)
	runService(t, nil, rt, "web", 2, 32, 20)
	runService(t, nil, rt, "web-api", 1, 8, 5)

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(nil, rt))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	promURL := promtest.Start(t, strings.TrimPrefix(srv.URL, "http://"))

	probe, err := metrics.NewPromSource("local", metrics.PromConfig{URL: promURL})
	if err != nil {
		t.Fatal(err)
	}
	// Series carry cAdvisor's labels: namespace = target, pod = replica, container = service.
	testutil.Eventually(t, testutil.Process, "three pods scraped", func() (bool, string) {
		got, err := probe.Query(ctx, `count by (pod) (container_cpu_usage_seconds_total{namespace="local"})`, time.Now())
		return err == nil && len(got) == 3, fmt.Sprintf("%v %v", got, err)
	})
	labels, err := probe.Query(ctx, `container_memory_working_set_bytes{namespace="local",pod="web-api-0",container="web-api"}`, time.Now())
	if err != nil || len(labels) != 1 {
		t.Fatalf("web-api-0 memory series with cAdvisor labels: %v %v", labels, err)
	}

	svc := &berth.Service{Name: "web", Target: "local"}
	ls, _ := metrics.NewLocalSource(rt)
	if _, err := ls.ServiceUsage(ctx, svc); err != nil { // the window's start
		t.Fatal(err)
	}
	start := time.Now()
	// A 10 s window: ten scrapes, each off the local sampler's ends by < 1 s.
	const window = 10 * time.Second
	testutil.Eventually(t, 2*window, "the window to pass", func() (bool, string) {
		return time.Since(start) >= window, time.Since(start).String() + " passed"
	})
	local, err := ls.ServiceUsage(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	ps, err := metrics.NewPromSource("local", metrics.PromConfig{URL: promURL, Window: end.Sub(start).Round(time.Second),
		Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	// Once a scrape after end is in, every scrape of the window is.
	testutil.Eventually(t, testutil.Process, "a scrape after the window", func() (bool, string) {
		got, err := probe.Query(ctx, `timestamp(container_cpu_usage_seconds_total{pod="web-0"})`, time.Now())
		return err == nil && got["web-0"] > float64(end.UnixMilli())/1000, fmt.Sprintf("last scrape %v (%v), window end %v", got["web-0"], err, end.Unix())
	})
	prom, err := ps.ServiceUsage(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	pods := func(us []metrics.Usage) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Replica)
		}
		slices.Sort(out)
		return out
	}
	// web's regex must not take in web-api-0.
	if got := pods(prom); !slices.Equal(got, []string{"web-0", "web-1"}) {
		t.Fatalf("pods of web through PromQL: %v", got)
	}
	if got := pods(local); !slices.Equal(got, []string{"web-0", "web-1"}) {
		t.Fatalf("pods of web locally: %v", got)
	}
	byPod := map[string]map[string]float64{}
	for _, u := range prom {
		byPod[u.Replica] = u.Values
	}
	for _, u := range local {
		p := byPod[u.Replica]
		// Memory: the helper touched its 32 MiB at start and allocates no
		// more, so both reads of /proc agree to a few pages; 5% covers GC
		// churn between the scrape and the local read.
		lm, pm := u.Values[berth.MetricMemory], p[berth.MetricMemory]
		if math.Abs(lm-pm) > 0.05*lm {
			t.Errorf("%s memory: local %.0f, prometheus %.0f", u.Replica, lm, pm)
		}
		// CPU: both are increases of the same tick counters (10 ms each) over
		// ~10 s, but Prometheus's window ends on scrapes up to 1 s off the local
		// reads and rate() extrapolates to the window's edges: at ~0.2 cores
		// that is up to 0.2·1s/10s = 0.02 cores at each end, plus scheduling
		// noise on a shared machine. Allow 0.05 cores + 25%.
		lc, pc := u.Values[berth.MetricCPU], p[berth.MetricCPU]
		if lc <= 0.05 || math.Abs(lc-pc) > 0.05+0.25*lc {
			t.Errorf("%s cpu: local %.3f cores, prometheus %.3f", u.Replica, lc, pc)
		}
		t.Logf("%s: local cpu %.3f mem %.0f; prometheus cpu %.3f mem %.0f", u.Replica, lc, lm, pc, pm)
		if _, ok := p[berth.MetricNetRx]; ok {
			t.Errorf("%s: network figures for a local process", u.Replica)
		}
	}
}
