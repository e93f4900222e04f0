package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/internal/promtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubelet stands for the kubelets' cAdvisor endpoint, which kwok nodes do
// not have: it exports, under cAdvisor's names and labels, CPU counters
// growing at a set rate and working sets for the pods it is told of.
type kubelet struct {
	mu    sync.Mutex
	start time.Time
	pods  map[[3]string]float64 // namespace, pod, container → cores
}

var (
	cpuDesc = prometheus.NewDesc("container_cpu_usage_seconds_total", "", []string{"namespace", "pod", "container"}, nil)
	memDesc = prometheus.NewDesc("container_memory_working_set_bytes", "", []string{"namespace", "pod", "container"}, nil)
)

func (k *kubelet) Describe(ch chan<- *prometheus.Desc) { ch <- cpuDesc; ch <- memDesc }

func (k *kubelet) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	defer k.mu.Unlock()
	elapsed := time.Since(k.start).Seconds()
	for key, cores := range k.pods {
		ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.CounterValue, cores*elapsed, key[0], key[1], key[2])
		ch <- prometheus.MustNewConstMetric(memDesc, prometheus.GaugeValue, cores*1e9, key[0], key[1], key[2])
	}
}

func (k *kubelet) set(ns, pod, container string, cores float64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pods[[3]string{ns, pod, container}] = cores
}

// TestKubernetesMetrics: with prometheusURL, a Kubernetes target's services
// and environments are measured through a real Prometheus: CPU cores and
// working set per pod of the real cluster, the pause container and another
// Deployment's pods (web-api) left out.
func TestKubernetesMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)

	k := &kubelet{start: time.Now(), pods: map[[3]string]float64{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(k)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	promURL := promtest.Start(t, strings.TrimPrefix(srv.URL, "http://"))

	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: local\n    type: local\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    prometheusURL: %s\n",
		cluster.Kubeconfig, ns, promURL), "BERTH_METRICS_INTERVAL=1s")
	for _, name := range []string{"web", "web-api"} {
		b.MustDo(201, "PUT", "/api/v1/services/"+name+"?target=kind", map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.27", "replicas": 2})
	}
	var pods []string
	Eventually(t, 60*time.Second, "web's two pods running", func() (bool, string) {
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "berth.dev/id=web"})
		if err != nil {
			return false, err.Error()
		}
		pods = nil
		for _, p := range l.Items {
			if p.Status.Phase == "Running" {
				pods = append(pods, p.Name)
			}
		}
		return len(pods) == 2, fmt.Sprint(pods)
	})
	want := map[string]float64{pods[0]: 0.5, pods[1]: 0.25}
	for pod, cores := range want {
		k.set(ns, pod, "web", cores)
		k.set(ns, pod, "POD", 4) // the pause container: never counted
	}
	apiPods, _ := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "berth.dev/id=web-api"})
	for _, p := range apiPods.Items {
		k.set(ns, p.Name, "web-api", 2) // web's pod regex must not take these in
	}

	// The sampler's CPU is a rate over a minute of scrapes: wait until the
	// window holds enough of them for the rate to settle near the truth.
	Eventually(t, 120*time.Second, "web's pods measured through Prometheus", func() (bool, string) {
		m := getJSON[api.ServiceMetrics](b, "/api/v1/services/web/metrics?target=kind&range=5m")
		got := map[string]map[string]float64{}
		var series []berth.MetricSeries
		if m.History != nil {
			series = m.History.Series
		}
		for _, s := range series {
			if s.Kind != "replica" || len(s.Points) == 0 {
				continue
			}
			if got[s.Replica] == nil {
				got[s.Replica] = map[string]float64{}
			}
			got[s.Replica][s.Metric] = s.Points[len(s.Points)-1].Value
		}
		if len(got) != 2 {
			return false, fmt.Sprint(got)
		}
		for pod, cores := range want {
			if got[pod] == nil || math.Abs(got[pod]["cpu"]-cores) > cores*0.2 || got[pod]["memory"] != cores*1e9 {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
}
