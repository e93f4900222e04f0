package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type throttledRuntime struct {
	berth.Runtime
	n int64
}

func (r throttledRuntime) Info() berth.TargetInfo { return berth.TargetInfo{Name: "aci-x"} }
func (r throttledRuntime) Throttles() int64       { return r.n }

// TestStatusCollector: leadership, reachability (probed once per TTL, not
// per scrape), WebSocket counts and throttles come out under the names the
// alert rules use; a follower exports no per-service series.
func TestStatusCollector(t *testing.T) {
	now := time.Unix(1000, 0)
	probes, leading := 0, true
	c := NewStatusCollector(StatusConfig{Version: "v9", Leading: func() bool { return leading },
		Probe: func(context.Context) []TargetProbe {
			probes++
			return []TargetProbe{{Name: "local"}, {Name: "k8s", Err: errors.New("connection refused")}}
		},
		ProbeTTL:  time.Minute,
		WSClients: func() int { return 7 }, WSDropped: func() int64 { return 3 },
		Runtimes: []berth.Runtime{throttledRuntime{n: 5}}, Now: func() time.Time { return now }})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := `
# HELP berth_leader 1 when this replica is the leader (runs the background loops), else 0.
# TYPE berth_leader gauge
berth_leader 1
# HELP berth_target_throttled_total Requests the target's cloud API answered 429 Too Many Requests, retries included.
# TYPE berth_target_throttled_total counter
berth_target_throttled_total{target="aci-x"} 5
# HELP berth_target_up 1 when the target answered its last ping, else 0.
# TYPE berth_target_up gauge
berth_target_up{target="k8s"} 0
berth_target_up{target="local"} 1
# HELP berth_ws_clients Open WebSocket connections.
# TYPE berth_ws_clients gauge
berth_ws_clients 7
# HELP berth_ws_clients_dropped_total WebSocket clients dropped for being slow or not answering pings.
# TYPE berth_ws_clients_dropped_total counter
berth_ws_clients_dropped_total 3
`
	names := []string{"berth_leader", "berth_target_throttled_total", "berth_target_up", "berth_ws_clients", "berth_ws_clients_dropped_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil || probes != 1 {
		t.Fatalf("second scrape within the TTL: %v, %d probes, want 1", err, probes)
	}
	now = now.Add(2 * time.Minute)
	leading = false
	if _, err := reg.Gather(); err != nil || probes != 2 {
		t.Fatalf("after the TTL: %v, %d probes, want 2", err, probes)
	}
	if n := testutil.CollectAndCount(c, "berth_leader"); n != 1 {
		t.Errorf("berth_leader series on a follower: %d", n)
	}
}
