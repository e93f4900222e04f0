package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

// Pod naming schemes, for the pod regex of a workload. The regex must not
// match a similarly named workload's pods: web's must not match web-api's.
const (
	// PodsLocal: the local runtime's replicas are <service>-<index> and its
	// environments env-<id>.
	PodsLocal = "local"
	// PodsKubernetes: a Deployment's pods are <name>-<pod-template-hash>-<suffix>,
	// both from Kubernetes' safe alphabet (no vowels, so "api" is never a
	// hash), a StatefulSet's <name>-<ordinal>.
	PodsKubernetes = "kubernetes"
)

// safe is Kubernetes' rand.SafeEncodeString alphabet (pod-template-hash and
// the generated pod suffix).
const safe = "[bcdfghjklmnpqrstvwxz2456789]"

// PodRegex returns the PromQL regex (fully anchored by PromQL) of the pods
// of workload name under the naming scheme.
func PodRegex(scheme, name string) string {
	n := regexp.QuoteMeta(name)
	if scheme == PodsKubernetes {
		return n + "-(" + safe + "{1,10}-" + safe + "{5}|[0-9]+)"
	}
	return n + "-[0-9]+"
}

// PromConfig configures a Prometheus source.
type PromConfig struct {
	URL    string // PROMETHEUS_URL, e.g. http://127.0.0.1:9090
	Client *http.Client
	// Pods is PodsLocal (the default) or PodsKubernetes.
	Pods string
	// Namespace is the "namespace" label value of the target's series: for
	// PodsLocal the target name (what Collector exports), for Kubernetes the
	// service's namespace. Empty: those defaults.
	Namespace string
	// EnvNamespace is where a Kubernetes target runs environments: their
	// pods are the Deployment named after the environment id.
	EnvNamespace string
	// Window is the rate() window; at least four scrape intervals (default 1m).
	Window time.Duration
	Now    func() time.Time
}

// PromSource measures workloads through PromQL over cAdvisor's series
// (container_cpu_usage_seconds_total, container_memory_working_set_bytes,
// container_network_*_bytes_total), which the kubelet exports for pods and
// Collector for the local runtime.
type PromSource struct {
	cfg    PromConfig
	target string
	base   *url.URL
}

// NewPromSource returns a source for target's workloads.
func NewPromSource(target string, cfg PromConfig) (*PromSource, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus source for %s: URL %q is not http(s)://host[:port]", target, cfg.URL)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Pods == "" {
		cfg.Pods = PodsLocal
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &PromSource{cfg: cfg, target: target, base: u}, nil
}

// Queries returns the PromQL of each metric for the pods matching podRegex
// in namespace, summed by pod. The container filters drop the pod-level
// cgroup (container="") and the pause container, which would count a pod twice.
func (p *PromSource) Queries(namespace, podRegex string) map[string]string {
	sel := fmt.Sprintf(`namespace=%q,pod=~%q`, namespace, podRegex)
	ctr := sel + `,container!="",container!="POD"`
	w := promDuration(p.cfg.Window)
	return map[string]string{
		berth.MetricCPU:    fmt.Sprintf(`sum by (pod) (rate(container_cpu_usage_seconds_total{%s}[%s]))`, ctr, w),
		berth.MetricMemory: fmt.Sprintf(`sum by (pod) (container_memory_working_set_bytes{%s})`, ctr),
		// Network is per pod (the pause container's namespace): no container filter.
		berth.MetricNetRx: fmt.Sprintf(`sum by (pod) (rate(container_network_receive_bytes_total{%s}[%s]))`, sel, w),
		berth.MetricNetTx: fmt.Sprintf(`sum by (pod) (rate(container_network_transmit_bytes_total{%s}[%s]))`, sel, w),
	}
}

func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func (p *PromSource) namespace(ns string) string {
	switch {
	case p.cfg.Namespace != "":
		return p.cfg.Namespace
	case p.cfg.Pods == PodsLocal || ns == "":
		return p.target
	}
	return ns
}

// ServiceUsage runs the queries for svc's pods.
func (p *PromSource) ServiceUsage(ctx context.Context, svc *berth.Service) ([]Usage, error) {
	return p.measure(ctx, p.namespace(svc.Namespace), PodRegex(p.cfg.Pods, svc.Name))
}

// EnvironmentUsage runs the queries for env's pod (env-<id> locally).
func (p *PromSource) EnvironmentUsage(ctx context.Context, env *berth.Environment) (*Usage, error) {
	re, ns := regexp.QuoteMeta("env-"+env.ID), p.namespace("")
	if p.cfg.Pods == PodsKubernetes {
		re, ns = PodRegex(PodsKubernetes, env.ID), p.namespace(p.cfg.EnvNamespace)
	}
	us, err := p.measure(ctx, ns, re)
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, berth.Errorf(berth.ENOTFOUND, "prometheus has no series of environment %q", env.ID)
	}
	return &us[0], nil
}

func (p *PromSource) measure(ctx context.Context, namespace, podRegex string) ([]Usage, error) {
	at := p.cfg.Now()
	byPod := map[string]map[string]float64{}
	var order []string
	for _, metric := range []string{berth.MetricCPU, berth.MetricMemory, berth.MetricNetRx, berth.MetricNetTx} {
		q := p.Queries(namespace, podRegex)[metric]
		res, err := p.Query(ctx, q, at)
		if err != nil {
			return nil, fmt.Errorf("measure pods %s/%s: %w", namespace, podRegex, err)
		}
		for pod, v := range res {
			if byPod[pod] == nil {
				byPod[pod] = map[string]float64{}
				order = append(order, pod)
			}
			byPod[pod][metric] = v
		}
	}
	out := make([]Usage, 0, len(order))
	for _, pod := range order {
		out = append(out, Usage{Replica: pod, Values: byPod[pod]})
	}
	return out, nil
}

// Query runs an instant PromQL query and returns the value of each series
// by its "pod" label.
func (p *PromSource) Query(ctx context.Context, query string, at time.Time) (map[string]float64, error) {
	form := url.Values{"query": {query}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base.String()+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query prometheus: HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query prometheus: %s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query prometheus: result type %q, want vector", r.Data.ResultType)
	}
	out := make(map[string]float64, len(r.Data.Result))
	for _, s := range r.Data.Result {
		str, ok := s.Value[1].(string)
		if !ok {
			return nil, errors.New("query prometheus: sample value is not a string")
		}
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query prometheus: sample value %q: %w", str, err)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue // a rate over a lone sample; no figure rather than a false one
		}
		out[s.Metric["pod"]] = v
	}
	return out, nil
}
