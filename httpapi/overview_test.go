package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/wshub"
)

type overviewBody struct {
	Targets []struct {
		Name         string       `json:"name"`
		Services     statusCounts `json:"services"`
		Environments statusCounts `json:"environments"`
	} `json:"targets"`
	TopConsumers []ServiceUsage      `json:"topConsumers"`
	RecentAudit  []*berth.AuditEntry `json:"recentAudit"`
	Alerts       []Alert             `json:"alerts"`
}

// TestOverview against a real core and local runtime: counts by status per
// target, top consumers from a real sampler, audit and environments scoped
// to the caller, and a crash-looping service as a critical alert.
func TestOverview(t *testing.T) {
	t.Parallel()
	l, sampler := newSampledLive(t, true)
	l.call(t, l.ops, "PUT", "/api/v1/services/web", `{"command":["sleep","60"],"replicas":2}`, http.StatusCreated, nil)
	l.call(t, l.ops, "PUT", "/api/v1/services/crash", `{"command":["sh","-c","exit 3"]}`, http.StatusCreated, nil)
	l.call(t, l.ops, "POST", "/api/v1/environments", `{"name":"mine","cloudProvider":"LOCAL"}`, http.StatusCreated, nil)

	var ov overviewBody
	testutil.Eventually(t, testutil.Process, "a crash-loop alert", func() (bool, string) {
		l.call(t, l.admin, "GET", "/api/v1/overview", "", http.StatusOK, &ov)
		return len(ov.Alerts) > 0 && ov.Alerts[0].Kind == "crashloop", fmt.Sprintf("alerts %+v", ov.Alerts)
	})
	if a := ov.Alerts[0]; a.Resource != "crash" || a.Severity != "critical" || !strings.Contains(a.Message, "exit status 3") {
		t.Fatalf("alert %+v", a)
	}
	if len(ov.Targets) != 1 || ov.Targets[0].Services.Total != 2 || ov.Targets[0].Environments.Total != 1 {
		t.Fatalf("targets %+v", ov.Targets)
	}
	if len(ov.RecentAudit) != 3 {
		t.Fatalf("admin sees %d audit entries, want 3", len(ov.RecentAudit))
	}
	if _, err := sampler.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.call(t, l.viewer, "GET", "/api/v1/overview", "", http.StatusOK, &ov)
	if ov.Targets[0].Environments.Total != 0 || len(ov.RecentAudit) != 0 {
		t.Fatalf("viewer sees %d environments and %d audit entries of others", ov.Targets[0].Environments.Total, len(ov.RecentAudit))
	}
	if len(ov.TopConsumers) == 0 || ov.TopConsumers[0].Name == "" {
		t.Fatalf("top consumers %+v", ov.TopConsumers)
	}
	for _, u := range ov.TopConsumers {
		if u.Name == "web" && (u.Replicas != 2 || u.MemoryBytes <= 0) {
			t.Fatalf("web usage %+v", u)
		}
	}
}

// newSampledLive is newLive with a real sampler of its store and runtime;
// with usage set, the server reads live usage from it too.
func newSampledLive(t *testing.T, usage bool) (*live, *metrics.Sampler) {
	t.Helper()
	var sampler *metrics.Sampler
	l := newLive(t, wshub.Config{}, func(l *live, d *Deps) {
		var err error
		sampler, err = metrics.New(metrics.Config{Store: l.store, Runtimes: []berth.Runtime{l.rt}})
		if err != nil {
			t.Fatal(err)
		}
		d.Sampler = sampler
		if usage {
			d.Usage = SamplerUsage(sampler)
		}
	})
	return l, sampler
}

func TestStatus(t *testing.T) {
	t.Parallel()
	l, sampler := newSampledLive(t, false)
	var st api.Status
	l.call(t, l.viewer, "GET", "/api/v1/status", "", http.StatusOK, &st)
	if st.Version != "test" || st.Store.Kind != "sqlite" || !st.Store.Reachable || len(st.Targets) != 1 || !st.Targets[0].Reachable {
		t.Fatalf("status %+v", st)
	}
	if st.Sampler == nil || st.Sampler.Status != "waiting for the first sample" || st.Sampler.LagSeconds != nil ||
		st.Events.Bus != "local" || !st.Events.Enabled || st.Events.Clients == nil {
		t.Fatalf("sampler %+v events %+v", st.Sampler, st.Events)
	}
	if _, err := sampler.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = api.Status{}
	l.call(t, l.viewer, "GET", "/api/v1/status", "", http.StatusOK, &st)
	if st.Sampler == nil || st.Sampler.LagSeconds == nil || *st.Sampler.LagSeconds < 0 || *st.Sampler.LagSeconds > time.Minute.Seconds() {
		t.Fatalf("sampler %+v", st.Sampler)
	}
}
