package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/promtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// usageKubelet exports cAdvisor's series for pods: CPU counters growing
// at a set rate and a set working set.
type usageKubelet struct {
	mu    sync.Mutex
	start time.Time
	pods  map[[3]string][2]float64 // namespace, pod, container → cores, bytes
}

func (k *usageKubelet) Describe(ch chan<- *prometheus.Desc) { ch <- cpuDesc; ch <- memDesc }

func (k *usageKubelet) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	defer k.mu.Unlock()
	elapsed := time.Since(k.start).Seconds()
	for key, u := range k.pods {
		ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.CounterValue, u[0]*elapsed, key[0], key[1], key[2])
		ch <- prometheus.MustNewConstMetric(memDesc, prometheus.GaugeValue, u[1], key[0], key[1], key[2])
	}
}

func (k *usageKubelet) set(ns, pod, container string, cores, bytes float64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pods[[3]string{ns, pod, container}] = [2]float64{cores, bytes}
}

// TestKubernetesRecommendations: on the real control plane with Prometheus
// feeding the history, a service berth created requesting cpu 2 / 2Gi and
// using 0.1 core / 150 MiB gets a rightsize to 100m / 176Mi, and apply
// changes its Deployment's container requests (checked with kubectl); a
// Deployment berth did not create gets one too, whose apply is 409 and
// carries the equivalent kubectl set resources command; one an autoscaler
// manages gets none.
func TestKubernetesRecommendations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)

	k := &usageKubelet{start: time.Now(), pods: map[[3]string][2]float64{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(k)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	promURL := promtest.Start(t, strings.TrimPrefix(srv.URL, "http://"))

	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: local\n    type: local\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    prometheusURL: %s\n",
		cluster.Kubeconfig, ns, promURL), "BERTH_METRICS_INTERVAL=1s", "BERTH_RECOMMEND_WINDOW=10m",
		"BERTH_RECOMMEND_MIN_SAMPLES=30", "BERTH_RECOMMEND_INTERVAL=off")
	b.MustDo(201, "PUT", "/api/v1/services/web?target=kind", map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.27",
		"replicas": 1, "resources": map[string]string{"cpu": "2", "memory": "2Gi"}})
	cluster.Kubectl(t, "-n", ns, "create", "deployment", "legacy", "--image=nginx:1.27")
	cluster.Kubectl(t, "-n", ns, "create", "deployment", "scaled", "--image=nginx:1.27")
	cluster.Kubectl(t, "-n", ns, "autoscale", "deployment", "scaled", "--min=1", "--max=3", "--cpu-percent=70")

	podOf := func(selector string) string {
		var pod string
		Eventually(t, 60*time.Second, "a running pod of "+selector, func() (bool, string) {
			l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return false, err.Error()
			}
			for _, p := range l.Items {
				if p.Status.Phase == "Running" {
					pod = p.Name
					return true, ""
				}
			}
			return false, fmt.Sprint(len(l.Items), " pods")
		})
		return pod
	}
	k.set(ns, podOf("berth.dev/id=web"), "web", 0.1, 150<<20)
	k.set(ns, podOf("app=legacy"), "nginx", 0.2, 300<<20)
	k.set(ns, podOf("app=scaled"), "nginx", 0.2, 300<<20)

	rightsize := func(service string) map[string]any {
		var rec map[string]any
		Eventually(t, 180*time.Second, "an applicable rightsize of "+service, func() (bool, string) {
			b.MustDo(200, "POST", "/api/v1/recommendations/refresh", nil)
			l := b.MustDo(200, "GET", "/api/v1/recommendations?kind=rightsize&status=OPEN&target=kind&service="+service, nil)
			recs := l["recommendations"].([]any)
			if len(recs) != 1 {
				return false, fmt.Sprint(l)
			}
			rec = recs[0].(map[string]any)
			ev := rec["evidence"].(map[string]any)
			return ev["notEnoughData"] != true, fmt.Sprintf("samples %v", ev["samples"])
		})
		return rec
	}
	web := rightsize("web")
	// The sampler's CPU is a rate over scrapes: allow its noise (p95), not the floor or rounding.
	cpu, mem := str(web, "proposed", "resources", "cpu"), str(web, "proposed", "resources", "memory")
	if mem != "176Mi" || !strings.HasSuffix(cpu, "m") {
		t.Fatalf("web's proposal cpu %s memory %s (150Mi × 1.15 = 172.5Mi → 176Mi): %v", cpu, mem, web["reason"])
	}
	applied := b.MustDo(200, "POST", "/api/v1/recommendations/"+str(web, "id")+"/apply", nil)["recommendation"].(map[string]any)
	if num(applied, "result", "revision") != 2 {
		t.Fatalf("applied: %v", applied)
	}
	Eventually(t, 30*time.Second, "web's Deployment requests", func() (bool, string) {
		got := cluster.Kubectl(t, "-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].resources.requests.cpu} {.spec.template.spec.containers[0].resources.requests.memory}")
		return got == cpu+" "+mem, got
	})

	legacy := rightsize("legacy")
	want := fmt.Sprintf("kubectl set resources deployment/legacy -n %s --requests=cpu=%s,memory=%s", ns,
		str(legacy, "proposed", "resources", "cpu"), str(legacy, "proposed", "resources", "memory"))
	if str(legacy, "command") != want {
		t.Fatalf("legacy's command %q, want %q", str(legacy, "command"), want)
	}
	code, body := b.Do(b.Token(), "POST", "/api/v1/recommendations/"+str(legacy, "id")+"/apply", nil)
	if code != 409 || !strings.Contains(str(body, "message"), want) {
		t.Fatalf("apply on a Deployment berth did not create: %d %v", code, body)
	}
	// An autoscaler manages "scaled": measured like legacy, never rightsized.
	if l := b.MustDo(200, "GET", "/api/v1/recommendations?target=kind&service=scaled", nil); num(l, "total") != 0 {
		t.Fatalf("recommendations for an HPA-managed Deployment: %v", l)
	}
	if got := cluster.Kubectl(t, "-n", ns, "get", "deploy", "legacy", "-o", "jsonpath={.spec.template.spec.containers[0].resources.requests}"); got != "" {
		t.Fatalf("legacy's requests changed: %s", got)
	}
}
