package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
)

// recRow is the row of one recommendation in the page's list.
func recRow(id string) string { return tid("rec-row") + `[data-id="` + id + `"]` }

// TestBrowserRecommendations: with a one-minute window, two local services
// requesting far more than they use get rightsize proposals; the page lists
// them (filtered by kind), shows one's evidence with a chart painted by
// uPlot, applies it (the service gets a new revision with the proposed
// requests, read through the API, and the audit log has the apply) and
// rejects the other with a reason (REJECTED with that reason, read through
// the API); a viewer sees no apply button. No console error.
func TestBrowserRecommendations(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_METRICS_INTERVAL=1s", "BERTH_RECOMMEND_WINDOW=1m",
		"BERTH_RECOMMEND_MIN_SAMPLES=10", "BERTH_RECOMMEND_INTERVAL=off")
	tok := b.Token()
	for _, name := range []string{"big", "big2"} {
		if code, body := b.Do(tok, "PUT", "/api/v1/services/"+name, map[string]any{
			"command": []string{"sleep", "3600"}, "resources": map[string]string{"cpu": "2", "memory": "2Gi"},
		}); code != 201 && code != 200 {
			t.Fatalf("create %s: %d %v", name, code, body)
		}
	}
	// Wait for enough samples, then refresh until both are proposed.
	var list api.RecommendationList
	Eventually(t, 90*time.Second, "rightsize proposals for big and big2", func() (bool, string) {
		b.MustDo(200, "POST", "/api/v1/recommendations/refresh", nil)
		_, raw := b.DoRaw(tok, "GET", "/api/v1/recommendations?kind=rightsize&status=OPEN", nil)
		list = api.RecommendationList{}
		_ = json.Unmarshal(raw, &list)
		n := 0
		for _, r := range list.Recommendations {
			if r.Proposed.Resources != nil && r.Proposed.Resources.CPU != "" {
				n++
			}
		}
		return n == 2, string(raw)
	})
	ids := map[string]string{}
	for _, r := range list.Recommendations {
		ids[r.Subject.Name] = r.ID
	}

	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")
	d.Click("nav-recommendations")
	d.WaitHash("#/recommendations")
	d.WaitVisibleSel(recRow(ids["big"]))
	d.WaitVisibleSel(recRow(ids["big2"]))
	// Filtering by another kind empties the list.
	d.SetValueSel(tid("rec-filter-kind"), "scale")
	d.Eval(`document.querySelector('[data-testid="rec-filter-kind"]').dispatchEvent(new Event('change'))`, nil)
	d.WaitGone(recRow(ids["big"]))
	d.SetValueSel(tid("rec-filter-kind"), "rightsize")
	d.Eval(`document.querySelector('[data-testid="rec-filter-kind"]').dispatchEvent(new Event('change'))`, nil)
	d.WaitVisibleSel(recRow(ids["big"]))

	// Apply big's.
	d.ClickSel(recRow(ids["big"]) + " " + tid("rec-open"))
	d.WaitVisibleSel(tid("rec-detail") + `[data-id="` + ids["big"] + `"] ` + tid("rec-title"))
	d.WaitTextSel(tid("rec-evidence"), "CPU per replica")
	d.Eventually("the evidence chart is painted", func() (bool, string) {
		var painted int
		d.Eval(`(() => { const c = document.querySelector('[data-testid="rec-chart-cpu"] canvas');
			if (!c || !c.width) return 0; const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++; return n; })()`, &painted)
		return painted > 200, "painted pixels: " + strconv.Itoa(painted)
	})
	proposedCPU := d.TextSel(tid("rec-change-row") + `[data-field="resources.cpu"] td:nth-child(3)`)
	d.Click("rec-apply")
	d.confirmDialog(true)
	d.okToast("applied")
	d.WaitTextSel(tid("rec-detail-status"), "APPLIED")
	d.WaitTextSel(tid("rec-result"), "revision")

	// From outside the page: a new revision with the proposed requests, and the audit entry.
	svc := b.MustDo(200, "GET", "/api/v1/services/big", nil)
	if rev := num(svc, "service", "revision"); rev != 2 {
		t.Errorf("big is at revision %d after apply; want 2", rev)
	}
	if cpu := str(svc, "service", "spec", "resources", "cpu"); cpu != proposedCPU || cpu == "2" {
		t.Errorf("big requests cpu %q after apply; the page proposed %q", cpu, proposedCPU)
	}
	audit := b.MustDo(200, "GET", "/api/v1/logs?pageSize=50", nil)
	if raw, _ := json.Marshal(audit); !strings.Contains(string(raw), `"recommendation.apply"`) {
		t.Errorf("no recommendation.apply in the audit log: %s", raw)
	}

	// Reject big2's with a reason.
	d.ClickSel(recRow(ids["big2"]) + " " + tid("rec-open"))
	d.WaitVisibleSel(tid("rec-detail") + `[data-id="` + ids["big2"] + `"] ` + tid("rec-title"))
	d.SetValue("rec-reject-reason", "batch job peaks at night")
	d.Click("rec-reject")
	d.okToast("Rejected")
	d.WaitTextSel(tid("rec-detail-status"), "REJECTED")
	d.WaitTextSel(tid("rec-result"), "batch job peaks at night")
	got := b.MustDo(200, "GET", "/api/v1/recommendations/"+ids["big2"], nil)
	if st, why := str(got, "recommendation", "status"), str(got, "recommendation", "rejectReason"); st != "REJECTED" || why != "batch job peaks at night" {
		t.Errorf("big2's recommendation is %s (%q) after reject", st, why)
	}
	d.check()

	// A viewer reads, with no apply or reject.
	b.MustDo(201, "POST", "/api/v1/users", map[string]any{"username": "vera", "password": "viewer-password-1", "role": "viewer"})
	v := openDashboard(t, b)
	v.open("#/login")
	v.loginOK("vera", "viewer-password-1", "viewer")
	v.open("#/recommendations?status=any")
	v.WaitVisibleSel(recRow(ids["big"]))
	v.ClickSel(recRow(ids["big"]) + " " + tid("rec-open"))
	v.WaitTextSel(tid("rec-detail-status"), "APPLIED")
	if n := v.Count(tid("rec-apply") + ", " + tid("rec-reject") + ", " + tid("rec-refresh")); n != 0 {
		t.Errorf("a viewer sees %d apply/reject/refresh controls", n)
	}
	v.check()
}
