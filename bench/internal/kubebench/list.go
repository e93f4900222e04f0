package kubebench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/berthhq/berth/bench/internal/stat"
	"github.com/berthhq/berth/internal/berthproc"
)

// ListResult is one side of the list comparison, in milliseconds.
type ListResult struct {
	P50, P99 float64
	Total    int           // berth: the list's total
	All      time.Duration // berth: median time to read every page in turn
}

// BerthList times GET /api/v1/services?target=k&pageSize=200 over
// every page in turn, n requests in all, one at a time.
func BerthList(s *berthproc.Server, n int) (ListResult, error) {
	var first ServiceList
	if err := s.Do("GET", "/api/v1/services?target=k&pageSize=200", nil, &first); err != nil {
		return ListResult{}, fmt.Errorf("list services: %w", err)
	}
	pages := max(1, (first.Total+199)/200)
	var lat []time.Duration
	var sweeps []float64
	var sweep time.Duration
	for i := range n {
		page := i%pages + 1
		path := fmt.Sprintf("/api/v1/services?target=k&pageSize=200&page=%d", page)
		t0 := time.Now()
		var l ServiceList
		if err := s.Do("GET", path, nil, &l); err != nil {
			return ListResult{}, err
		}
		d := time.Since(t0)
		if page < pages && len(l.Services) != 200 {
			return ListResult{}, fmt.Errorf("GET %s: %d services on a full page (total %d)", path, len(l.Services), l.Total)
		}
		lat = append(lat, d)
		sweep += d
		if page == pages {
			sweeps = append(sweeps, stat.Ms(sweep))
			sweep = 0
		}
	}
	return ListResult{P50: stat.Pct(lat, .5), P99: stat.Pct(lat, .99), Total: first.Total,
		All: time.Duration(stat.Median(sweeps) * float64(time.Millisecond))}, nil
}

// KubectlList times `kubectl get deploy -A -o json`, n runs, and
// checks that every run saw at least want Deployments.
func KubectlList(ctx context.Context, kubeconfig, home string, n, want int) (ListResult, error) {
	var lat []time.Duration
	for range n {
		cmd := Kubectl(ctx, kubeconfig, home, "get", "deploy", "-A", "-o", "json")
		t0 := time.Now()
		out, err := cmd.Output()
		d := time.Since(t0)
		if err != nil {
			return ListResult{}, fmt.Errorf("kubectl get deploy -A: %w: %s", err, stderrOf(err))
		}
		var l struct{ Items []json.RawMessage }
		if err := json.Unmarshal(out, &l); err != nil {
			return ListResult{}, fmt.Errorf("kubectl get deploy -A: %w", err)
		}
		if len(l.Items) < want {
			return ListResult{}, fmt.Errorf("kubectl get deploy -A: %d deployments, want at least %d", len(l.Items), want)
		}
		lat = append(lat, d)
	}
	return ListResult{P50: stat.Pct(lat, .5), P99: stat.Pct(lat, .99)}, nil
}

// kubectl is Debian's kubectl against the bench cluster; home keeps its
// discovery cache apart from the user's.
func Kubectl(ctx context.Context, kubeconfig, home string, args ...string) *exec.Cmd {
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
