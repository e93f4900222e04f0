package e2e

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
)

// hogSpec runs node holding mib MiB of touched memory and using busyMs of
// CPU time every 100 ms (counted in CPU time, so a busy machine does not
// change it), requesting far more (cpu 2, memory 2Gi).
func hogSpec(mib, busyMs int) map[string]any {
	return map[string]any{
		"command": []string{"node", "-e", fmt.Sprintf(`
const keep = Buffer.alloc(%d * 1024 * 1024, 1);
const spin = ms => { const c = process.cpuUsage(); for (;;) { const d = process.cpuUsage(c); if ((d.user + d.system) / 1000 >= ms) break; } };
setInterval(() => spin(%d), 100);
setInterval(() => keep[Math.floor(Math.random() * keep.length)]++, 1000);`, mib, busyMs)},
		"resources": map[string]string{"cpu": "2", "memory": "2Gi"},
	}
}

// procUsage measures pid from /proc over span: cores used and resident bytes.
func procUsage(t *testing.T, pid int, span time.Duration) (cores float64, rss int64) {
	t.Helper()
	ticks := func() float64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		return u + s
	}
	t0, c0 := time.Now(), ticks()
	time.Sleep(span) // a measurement over a span of time, not a wait for a condition
	c1, t1 := ticks(), time.Now()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	return (c1 - c0) / 100 / t1.Sub(t0).Seconds(), pages * int64(os.Getpagesize())
}

func within30(got, want float64) bool { return math.Abs(got-want) <= 0.3*want }

func openRec(t *testing.T, b *Berth, service string) map[string]any {
	t.Helper()
	var rec map[string]any
	Eventually(t, 120*time.Second, "an applicable rightsize of "+service, func() (bool, string) {
		b.MustDo(200, "POST", "/api/v1/recommendations/refresh", nil)
		l := b.MustDo(200, "GET", "/api/v1/recommendations?kind=rightsize&status=OPEN&service="+service, nil)
		recs := l["recommendations"].([]any)
		if len(recs) != 1 {
			return false, fmt.Sprint(l)
		}
		rec = recs[0].(map[string]any)
		ev := rec["evidence"].(map[string]any)
		return ev["notEnoughData"] != true, fmt.Sprintf("samples %v, missing %v", ev["samples"], ev["missingSamples"])
	})
	return rec
}

// TestRecommendationsLocal: through the real binary with a short window,
// a local service requesting cpu 2 / 2Gi and using ~0.1 core and ~150 MiB
// gets a rightsize within 30% of what /proc shows; apply makes a new
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

	rec := openRec(t, b, "hog")
	pids := processesOf("hog")
	if len(pids) != 1 {
		t.Fatalf("hog processes: %v", pids)
	}
	cores, rss := procUsage(t, pids[0], 10*time.Second)
	prop := rec["proposed"].(map[string]any)["resources"].(map[string]any)
	cpuM, err := berth.ParseCPU("cpu", prop["cpu"].(string))
	if err != nil {
		t.Fatal(err)
	}
	memB, err := berth.ParseMemory("memory", prop["memory"].(string))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("/proc: %.3f cores, %d MiB; proposed %s, %s (%s)", cores, rss>>20, prop["cpu"], prop["memory"], rec["reason"])
	if !within30(float64(cpuM)/1000, cores) {
		t.Errorf("proposed cpu %dm is not within 30%% of the %.3f cores /proc shows", cpuM, cores)
	}
	if !within30(float64(memB), float64(rss)) {
		t.Errorf("proposed memory %s is not within 30%% of the %d MiB /proc shows", prop["memory"], rss>>20)
	}
	if amt := rec["monthlySaving"].(map[string]any)["amount"].(float64); amt <= 0 {
		t.Errorf("saving of an over-provisioned service: %v", amt)
	}
	id := str(rec, "id")

	if code, body := b.Do(viewer, "POST", "/api/v1/recommendations/"+id+"/apply", nil); code != 403 {
		t.Fatalf("viewer apply: %d %v", code, body)
	}
	applied := b.MustDo(200, "POST", "/api/v1/recommendations/"+id+"/apply", nil)["recommendation"].(map[string]any)
	if str(applied, "status") != "APPLIED" || num(applied, "result", "revision") != 2 {
		t.Fatalf("applied: %v", applied)
	}
	svc := b.MustDo(200, "GET", "/api/v1/services/hog", nil)["service"].(map[string]any)
	if num(svc, "revision") != 2 || str(svc, "spec", "resources", "cpu") != prop["cpu"] || str(svc, "spec", "resources", "memory") != prop["memory"] {
		t.Fatalf("service after apply: revision %d resources %v", num(svc, "revision"), svc["spec"])
	}
	revs := b.MustDo(200, "GET", "/api/v1/services/hog/revisions", nil)["revisions"].([]any)
	if str(revs[0].(map[string]any), "spec", "resources", "memory") != prop["memory"] {
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
	b.MustDo(200, "POST", "/api/v1/recommendations/"+str(calm, "id")+"/reject", map[string]string{"reason": "month-end batch"})
	res := b.MustDo(200, "POST", "/api/v1/recommendations/refresh", nil)
	if num(res, "suppressed") < 1 {
		t.Fatalf("refresh after reject: %v", res)
	}
	if l := b.MustDo(200, "GET", "/api/v1/recommendations?service=calm&status=OPEN", nil); num(l, "total") != 0 {
		t.Fatalf("rejected recommendation raised again: %v", l)
	}
	got := b.MustDo(200, "GET", "/api/v1/recommendations/"+str(calm, "id"), nil)["recommendation"].(map[string]any)
	if str(got, "status") != "REJECTED" || str(got, "rejectReason") != "month-end batch" || str(got, "rejectedBy") != "admin" {
		t.Fatalf("rejected: %v", got)
	}
	ov := b.MustDo(200, "GET", "/api/v1/overview", nil)
	if num(ov, "recommendations", "byStatus", "APPLIED") != 1 || num(ov, "recommendations", "byStatus", "REJECTED") != 1 {
		t.Fatalf("overview recommendations: %v", ov["recommendations"])
	}
}
