package e2e

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// hogSpec runs node holding mib MiB of touched memory and using busyMs of
// CPU time per 100 ms of wall time (it keeps count and catches up on what a
// busy machine delayed), requesting far more (cpu 2, memory 2Gi).
func hogSpec(mib, busyMs int) map[string]any {
	return map[string]any{
		"command": []string{"node", "-e", fmt.Sprintf(`
const keep = Buffer.alloc(%d * 1024 * 1024, 1);
const t0 = Date.now(), c0 = process.cpuUsage();
const used = () => { const d = process.cpuUsage(c0); return (d.user + d.system) / 1e6; };
setInterval(() => { const want = %d / 100 * (Date.now() - t0) / 1000; while (used() < want) {} }, 50);
setInterval(() => keep[Math.floor(Math.random() * keep.length)]++, 1000);`, mib, busyMs)},
		"resources": map[string]string{"cpu": "2", "memory": "2Gi"},
	}
}

// procWatch samples a process from /proc every second, as berth's sampler
// does: per-second CPU rates and resident bytes.
type procWatch struct {
	mu    sync.Mutex
	rates []float64
	rss   []int64
}

func watchProc(t *testing.T, pid int) *procWatch {
	w := &procWatch{}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	read := func() (float64, int64, bool) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, 0, false
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		pages, _ := strconv.ParseInt(f[21], 10, 64)
		return (u + st) / 100, pages * int64(os.Getpagesize()), true
	}
	go func() {
		c0, _, _ := read()
		t0 := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c1, rss, ok := read()
				if !ok {
					return
				}
				t1 := time.Now()
				w.mu.Lock()
				w.rates = append(w.rates, (c1-c0)/t1.Sub(t0).Seconds())
				w.rss = append(w.rss, rss)
				w.mu.Unlock()
				c0, t0 = c1, t1
			}
		}
	}()
	return w
}

// usage is the p95 of the per-second CPU rates and the peak resident bytes.
func (w *procWatch) usage() (cores float64, rss int64, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := slices.Clone(w.rates)
	slices.Sort(r)
	if len(r) == 0 {
		return 0, 0, 0
	}
	return r[int(math.Ceil(0.95*float64(len(r))))-1], slices.Max(w.rss), len(r)
}

func within30(got, want float64) bool { return math.Abs(got-want) <= 0.3*want }

func openRec(t *testing.T, b *Berth, service string) *berth.Recommendation {
	t.Helper()
	var rec *berth.Recommendation
	Eventually(t, 120*time.Second, "an applicable rightsize of "+service, func() (bool, string) {
		b.MustDo(200, "POST", "/api/v1/recommendations/refresh", nil)
		l := getJSON[api.RecommendationList](b, "/api/v1/recommendations?kind=rightsize&status=OPEN&service="+service)
		if len(l.Recommendations) != 1 {
			return false, fmt.Sprint(l.Total)
		}
		rec = l.Recommendations[0]
		return !rec.Evidence.NotEnoughData, fmt.Sprintf("samples %d, missing %d", rec.Evidence.Samples, rec.Evidence.MissingSamples)
	})
	return rec
}

// TestRecommendationsLocal: through the real binary with a short window,
// a local service requesting cpu 2 / 2Gi and using ~0.1 core and ~150 MiB
// gets a rightsize within 30% of what /proc shows (the test samples /proc
// itself every second: p95 of the CPU rates, peak resident memory); apply makes a new
// revision with those requests (and audits both entries); a viewer's apply
// is 403, a stale one 409; a rejected one is not raised again on refresh.
func TestRecommendationsLocal(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_METRICS_INTERVAL=1s", "BERTH_RECOMMEND_WINDOW=10m",
		"BERTH_RECOMMEND_MIN_SAMPLES=30", "BERTH_RECOMMEND_INTERVAL=off")
	b.MustDo(201, "PUT", "/api/v1/services/hog", hogSpec(150, 10))
	b.MustDo(201, "PUT", "/api/v1/services/calm", hogSpec(120, 4))
	b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "vera", "password": "viewer-password-1", "role": "viewer"})
	viewer := b.Login("vera", "viewer-password-1")

	// Before enough samples: listed as not enough data, with what is missing.
	b.MustDo(200, "POST", "/api/v1/recommendations/refresh", nil)
	early := b.MustDo(200, "GET", "/api/v1/recommendations?service=hog", nil)
	if recs := early["recommendations"].([]any); len(recs) == 1 {
		ev := recs[0].(map[string]any)["evidence"].(map[string]any)
		if ev["notEnoughData"] != true || num(ev, "missingSamples") < 1 {
			t.Fatalf("early recommendation is not 'not enough data': %v", ev)
		}
	}

	var pids []int
	Eventually(t, 30*time.Second, "hog's process", func() (bool, string) {
		pids = processesOf("hog")
		return len(pids) == 1, fmt.Sprint(pids)
	})
	watch := watchProc(t, pids[0])
	rec := openRec(t, b, "hog")
	cores, rss, n := watch.usage()
	t.Logf("/proc over %d seconds: p95 %.3f cores, peak %d MiB", n, cores, rss>>20)
	prop := rec.Proposed.Resources
	cpuM, err := berth.ParseCPU("cpu", prop.CPU)
	if err != nil {
		t.Fatal(err)
	}
	memB, err := berth.ParseMemory("memory", prop.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("proposed %s, %s (%s)", prop.CPU, prop.Memory, rec.Reason)
	if !within30(float64(cpuM)/1000, cores) {
		t.Errorf("proposed cpu %dm is not within 30%% of the %.3f cores /proc shows", cpuM, cores)
	}
	if !within30(float64(memB), float64(rss)) {
		t.Errorf("proposed memory %s is not within 30%% of the %d MiB /proc shows", prop.Memory, rss>>20)
	}
	if amt := rec.MonthlySaving.Amount; amt <= 0 {
		t.Errorf("saving of an over-provisioned service: %v", amt)
	}
	id := rec.ID

	if code, body := b.Do(viewer, "POST", "/api/v1/recommendations/"+id+"/apply", nil); code != 403 {
		t.Fatalf("viewer apply: %d %v", code, body)
	}
	applied := b.MustDo(200, "POST", "/api/v1/recommendations/"+id+"/apply", nil)["recommendation"].(map[string]any)
	if str(applied, "status") != "APPLIED" || num(applied, "result", "revision") != 2 {
		t.Fatalf("applied: %v", applied)
	}
	svc := b.MustDo(200, "GET", "/api/v1/services/hog", nil)["service"].(map[string]any)
	if num(svc, "revision") != 2 || str(svc, "spec", "resources", "cpu") != prop.CPU || str(svc, "spec", "resources", "memory") != prop.Memory {
		t.Fatalf("service after apply: revision %d resources %v", num(svc, "revision"), svc["spec"])
	}
	revs := b.MustDo(200, "GET", "/api/v1/services/hog/revisions", nil)["revisions"].([]any)
	if str(revs[0].(map[string]any), "spec", "resources", "memory") != prop.Memory {
		t.Fatalf("newest revision: %v", revs[0])
	}
	// The new revision runs: a new process replaced the old one.
	Eventually(t, 30*time.Second, "hog's new revision running", func() (bool, string) {
		now := processesOf("hog")
		return len(now) == 1 && now[0] != pids[0], fmt.Sprint(now)
	})
	audit := b.MustDo(200, "GET", "/api/v1/logs?pageSize=20", nil)
	var actions []string
	for _, e := range audit["logs"].([]any) {
		actions = append(actions, str(e.(map[string]any), "action"))
	}
	if !strings.Contains(strings.Join(actions, " "), "recommendation.apply") || !strings.Contains(strings.Join(actions, " "), "service.apply") {
		t.Fatalf("audit entries: %v", actions)
	}
	if code, body := b.Do(b.Token(), "POST", "/api/v1/recommendations/"+id+"/apply", nil); code != 409 {
		t.Fatalf("stale apply: %d %v", code, body)
	}

	// Reject calm's; a refresh does not raise it again.
	calm := openRec(t, b, "calm")
	b.MustDo(200, "POST", "/api/v1/recommendations/"+calm.ID+"/reject", api.RejectRecommendationRequest{Reason: "month-end batch"})
	res := b.MustDo(200, "POST", "/api/v1/recommendations/refresh", nil)
	if num(res, "suppressed") < 1 {
		t.Fatalf("refresh after reject: %v", res)
	}
	if l := b.MustDo(200, "GET", "/api/v1/recommendations?service=calm&status=OPEN", nil); num(l, "total") != 0 {
		t.Fatalf("rejected recommendation raised again: %v", l)
	}
	got := getJSON[api.RecommendationBody](b, "/api/v1/recommendations/"+calm.ID)
	if r := got.Recommendation; r.Status != berth.RecRejected || r.RejectReason != "month-end batch" || r.RejectedBy != "admin" {
		t.Fatalf("rejected: %+v", r)
	}
	ov := b.MustDo(200, "GET", "/api/v1/overview", nil)
	if num(ov, "recommendations", "byStatus", "APPLIED") != 1 || num(ov, "recommendations", "byStatus", "REJECTED") != 1 {
		t.Fatalf("overview recommendations: %v", ov["recommendations"])
	}
}
