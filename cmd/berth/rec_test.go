package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

func cannedRec() *berth.Recommendation {
	one := 1
	return &berth.Recommendation{ID: "rec-1", Kind: berth.RecRightsize, Source: berth.RecSourceBerth, Target: "local",
		Subject: berth.RecSubject{Type: berth.RecSubjectService, Name: "web"}, Status: berth.RecOpen, Title: "Rightsize web",
		Reason:     "Over 7d a replica used little.",
		Current:    berth.RecState{Resources: &berth.Resources{CPU: "2", Memory: "2Gi"}, Replicas: &one, Revision: 1},
		Proposed:   berth.RecState{Resources: &berth.Resources{CPU: "120m", Memory: "224Mi"}, Replicas: &one},
		Evidence:   berth.Evidence{Window: "7d", Resolution: "1h", Samples: 40320, CPU: &berth.UsageStats{P50: 0.09, P95: 0.111, Max: 0.2}},
		Confidence: "high", MonthlySaving: berth.Saving{Amount: 51.42, Currency: "USD"}, CreatedAt: ago(time.Hour), UpdatedAt: ago(time.Hour)}
}

// TestRecCommands: berth rec ls sends its filters and prints the
// proposal in the spec's terms; get shows the evidence; apply sends
// keepVolume only when given; reject sends the reason.
func TestRecCommands(t *testing.T) {
	f := newFakeAPI(t)
	rec := cannedRec()
	f.on("GET /api/v1/recommendations", ok(200, api.RecommendationList{Recommendations: []*berth.Recommendation{rec}, Page: api.Page{Total: 1, Page: 1, PageSize: 20}}))
	f.on("GET /api/v1/recommendations/rec-1", ok(200, api.RecommendationBody{Recommendation: rec}))
	applied := *rec
	applied.Status, applied.AppliedBy, applied.Result = berth.RecApplied, "admin", map[string]any{"revision": 2}
	f.on("POST /api/v1/recommendations/rec-1/apply", ok(200, api.ApplyRecommendationResponse{Message: "Recommendation applied", Recommendation: &applied}))
	rejected := *rec
	rejected.Status = berth.RecRejected
	f.on("POST /api/v1/recommendations/rec-1/reject", ok(200, api.RecommendationBody{Recommendation: &rejected}))

	r := runCLI(t, f, nil, "", "rec", "ls", "--kind", "rightsize", "--service", "web")
	mustSucceed(t, r)
	for _, want := range []string{"rec-1", "cpu 2→120m memory 2Gi→224Mi", "51.42 USD", "service/web (local)"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("rec ls lacks %q:\n%s", want, r.stdout)
		}
	}
	reqs := f.requests()
	if last := reqs[len(reqs)-1]; !strings.Contains(last, "kind=rightsize") || !strings.Contains(last, "service=web") || !strings.Contains(last, "status=OPEN") {
		t.Fatalf("rec ls request: %s", last)
	}
	r = runCLI(t, f, nil, "", "rec", "get", "rec-1")
	mustSucceed(t, r)
	if !strings.Contains(r.stdout, "p95 0.111 cores") || !strings.Contains(r.stdout, "Over 7d a replica used little.") {
		t.Fatalf("rec get:\n%s", r.stdout)
	}
	r = runCLI(t, f, nil, "", "rec", "apply", "rec-1")
	mustSucceed(t, r)
	if !strings.Contains(r.stdout, "APPLIED") || !strings.Contains(r.stdout, "revision=2") || strings.TrimSpace(string(f.lastBody("POST /api/v1/recommendations/rec-1/apply"))) != "{}" {
		t.Fatalf("rec apply:\n%s body %s", r.stdout, f.lastBody("POST /api/v1/recommendations/rec-1/apply"))
	}
	mustSucceed(t, runCLI(t, f, nil, "", "rec", "apply", "rec-1", "--keep-volume"))
	if got := string(f.lastBody("POST /api/v1/recommendations/rec-1/apply")); !strings.Contains(got, `"keepVolume":true`) {
		t.Fatalf("apply --keep-volume body: %s", got)
	}
	mustSucceed(t, runCLI(t, f, nil, "", "rec", "reject", "rec-1", "--reason", "peaks at month end"))
	var body api.RejectRecommendationRequest
	if err := json.Unmarshal(f.lastBody("POST /api/v1/recommendations/rec-1/reject"), &body); err != nil || body.Reason != "peaks at month end" {
		t.Fatalf("reject body: %+v %v", body, err)
	}
}
