package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/berthhq/berth/internal/berthproc"
	"os"
	"os/exec"
	"time"
)

// listResult is one side of the list comparison, in milliseconds.
type listResult struct {
	p50, p99 float64
	total    int           // berth: the list's total
	all      time.Duration // berth: median time to read every page in turn
}

// benchBerthList times GET /api/v1/services?target=k&pageSize=200 over
// every page in turn, n requests in all, one at a time.
func benchBerthList(s *berthproc.Server, n int) (listResult, error) {
	var first serviceList
	if err := s.Do("GET", "/api/v1/services?target=k&pageSize=200", nil, &first); err != nil {
		return listResult{}, fmt.Errorf("list services: %w", err)
	}
	pages := max(1, (first.Total+199)/200)
	var lat []time.Duration
	var sweeps []float64
	var sweep time.Duration
	for i := range n {
		page := i%pages + 1
		path := fmt.Sprintf("/api/v1/services?target=k&pageSize=200&page=%d", page)
		t0 := time.Now()
		var l serviceList
		if err := s.Do("GET", path, nil, &l); err != nil {
			return listResult{}, err
		}
		d := time.Since(t0)
		if page < pages && len(l.Services) != 200 {
			return listResult{}, fmt.Errorf("GET %s: %d services on a full page (total %d)", path, len(l.Services), l.Total)
		}
		lat = append(lat, d)
		sweep += d
		if page == pages {
			sweeps = append(sweeps, ms(sweep))
			sweep = 0
		}
	}
	return listResult{p50: pct(lat, .5), p99: pct(lat, .99), total: first.Total,
		all: time.Duration(median(sweeps) * float64(time.Millisecond))}, nil
}

// benchKubectlList times `kubectl get deploy -A -o json`, n runs, and
// checks that every run saw at least want Deployments.
func benchKubectlList(ctx context.Context, kubeconfig, home string, n, want int) (listResult, error) {
	var lat []time.Duration
	for range n {
		cmd := kubectl(ctx, kubeconfig, home, "get", "deploy", "-A", "-o", "json")
		t0 := time.Now()
		out, err := cmd.Output()
		d := time.Since(t0)
		if err != nil {
			return listResult{}, fmt.Errorf("kubectl get deploy -A: %w: %s", err, stderrOf(err))
		}
		var l struct{ Items []json.RawMessage }
		if err := json.Unmarshal(out, &l); err != nil {
			return listResult{}, fmt.Errorf("kubectl get deploy -A: %w", err)
		}
		if len(l.Items) < want {
			return listResult{}, fmt.Errorf("kubectl get deploy -A: %d deployments, want at least %d", len(l.Items), want)
		}
		lat = append(lat, d)
	}
	return listResult{p50: pct(lat, .5), p99: pct(lat, .99)}, nil
}

// kubectl is Debian's kubectl against the bench cluster; home keeps its
// discovery cache apart from the user's.
func kubectl(ctx context.Context, kubeconfig, home string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...) // #nosec G204 -- the benchmark's own kubectl commands
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	return cmd
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
