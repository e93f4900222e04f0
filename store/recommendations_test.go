package store_test

import (
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
)

func rightsizeRec(name, cpu, mem string) *berth.Recommendation {
	return &berth.Recommendation{Kind: berth.RecRightsize, Source: berth.RecSourceBerth, Target: "local",
		Subject: berth.RecSubject{Type: berth.RecSubjectService, Name: name}, Title: "rightsize " + name, Confidence: "high",
		Current:  berth.RecState{Resources: &berth.Resources{CPU: "2", Memory: "2Gi"}},
		Proposed: berth.RecState{Resources: &berth.Resources{CPU: cpu, Memory: mem}},
		Evidence: berth.Evidence{Window: "7d", Samples: 500}, MonthlySaving: berth.Saving{Amount: 40, Currency: "USD"}}
}

// TestRecommendationLifecycle: one OPEN per subject and kind, updated in
// place; a rejection suppresses the same proposal for a week unless it
// moves more than 20%; transitions only from the expected status.
func TestRecommendationLifecycle(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		t0 := base.UTC().Truncate(time.Microsecond)
		first := rightsizeRec("web", "100m", "128Mi")
		saved, err := s.SaveRecommendation(ctx, first, t0)
		must(t, err)
		equal(t, "first saved", saved, true)
		equal(t, "status", first.Status, berth.RecOpen)

		// The same subject and kind again: the OPEN one is updated.
		again := rightsizeRec("web", "110m", "130Mi")
		saved, err = s.SaveRecommendation(ctx, again, t0.Add(time.Minute))
		must(t, err)
		equal(t, "update saved", saved, true)
		equal(t, "same id", again.ID, first.ID)
		equal(t, "createdAt kept", again.CreatedAt, first.CreatedAt)
		got, err := s.GetRecommendation(ctx, first.ID)
		must(t, err)
		equal(t, "stored proposal", got.Proposed.Resources.CPU, "110m")
		_, total, err := s.ListRecommendations(ctx, berth.RecommendationFilter{Service: "web"})
		must(t, err)
		equal(t, "one recommendation for web", total, 1)

		// Reject it.
		got.Status, got.RejectedBy, got.RejectReason, got.UpdatedAt = berth.RecRejected, "alice", "batch job peaks", t0.Add(2*time.Minute)
		must(t, s.TransitionRecommendation(ctx, got, berth.RecOpen))
		// Rejecting (or applying) again conflicts and changes nothing.
		got.Status = berth.RecApplied
		wantCode(t, s.TransitionRecommendation(ctx, got, berth.RecOpen), berth.ECONFLICT)
		stored, err := s.GetRecommendation(ctx, first.ID)
		must(t, err)
		equal(t, "still rejected", stored.Status, berth.RecRejected)
		equal(t, "reason kept", stored.RejectReason, "batch job peaks")

		tests := []struct {
			name      string
			cpu, mem  string
			at        time.Duration
			wantSaved bool
		}{
			{"same proposal a day later is suppressed", "110m", "130Mi", 24 * time.Hour, false},
			{"a move of 15% is suppressed", "126m", "130Mi", 25 * time.Hour, false},
			{"a move of 30% is raised again", "160m", "130Mi", 26 * time.Hour, true},
		}
		for _, tc := range tests {
			rec := rightsizeRec("web", tc.cpu, tc.mem)
			saved, err := s.SaveRecommendation(ctx, rec, t0.Add(tc.at))
			must(t, err)
			equal(t, tc.name, saved, tc.wantSaved)
		}

		// Another subject: rejected, then the same proposal after 7 days is raised.
		api := rightsizeRec("api", "50m", "100Mi")
		_, err = s.SaveRecommendation(ctx, api, t0)
		must(t, err)
		api.Status, api.UpdatedAt = berth.RecRejected, t0
		must(t, s.TransitionRecommendation(ctx, api, berth.RecOpen))
		saved, err = s.SaveRecommendation(ctx, rightsizeRec("api", "50m", "100Mi"), t0.Add(6*24*time.Hour))
		must(t, err)
		equal(t, "suppressed within 7 days", saved, false)
		later := rightsizeRec("api", "50m", "100Mi")
		saved, err = s.SaveRecommendation(ctx, later, t0.Add(7*24*time.Hour+time.Minute))
		must(t, err)
		equal(t, "raised after 7 days", saved, true)
		if later.ID == api.ID {
			t.Fatal("a new recommendation must get a new id")
		}

		// Expiry: OPEN → EXPIRED; then a new OPEN one may be raised.
		later.Status, later.UpdatedAt = berth.RecExpired, t0.Add(8*24*time.Hour)
		must(t, s.TransitionRecommendation(ctx, later, berth.RecOpen))
		fresh := rightsizeRec("api", "50m", "100Mi")
		saved, err = s.SaveRecommendation(ctx, fresh, t0.Add(8*24*time.Hour))
		must(t, err)
		equal(t, "raised after expiry", saved, true)

		_, err = s.GetRecommendation(ctx, "rec-missing")
		wantCode(t, err, berth.ENOTFOUND)
	})
}

// TestListRecommendations: filters, paging, and environment
// recommendations hidden from other users.
func TestListRecommendations(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		t0 := base.UTC()
		for i, r := range []*berth.Recommendation{
			rightsizeRec("web", "100m", "128Mi"),
			rightsizeRec("api", "100m", "128Mi"),
			{Kind: berth.RecScale, Source: berth.RecSourceBerth, Target: "kube", Namespace: "apps", Title: "scale",
				Subject: berth.RecSubject{Type: berth.RecSubjectService, Name: "web"}, Proposed: berth.RecState{Replicas: intp(3)}},
			{Kind: berth.RecStopIdle, Source: berth.RecSourceBerth, Target: "local", Owner: "u-alice", Title: "stop",
				Subject: berth.RecSubject{Type: berth.RecSubjectEnvironment, Name: "alice-dev", ID: "env-a"}},
			{Kind: berth.RecDeleteDormant, Source: berth.RecSourceBerth, Target: "local", Owner: "u-bob", Title: "delete",
				Subject: berth.RecSubject{Type: berth.RecSubjectEnvironment, Name: "bob-dev", ID: "env-b"}},
		} {
			_, err := s.SaveRecommendation(ctx, r, t0.Add(time.Duration(i)*time.Second))
			must(t, err)
		}
		tests := []struct {
			name  string
			f     berth.RecommendationFilter
			total int
			first string
		}{
			{"everything, newest first", berth.RecommendationFilter{}, 5, "bob-dev"},
			{"kind", berth.RecommendationFilter{Kind: berth.RecRightsize}, 2, "api"},
			{"service web on every target", berth.RecommendationFilter{Service: "web"}, 2, "web"},
			{"target", berth.RecommendationFilter{Target: "kube"}, 1, "web"},
			{"status none rejected", berth.RecommendationFilter{Status: berth.RecRejected}, 0, ""},
			{"alice sees hers, not bob's", berth.RecommendationFilter{VisibleTo: "u-alice"}, 4, "alice-dev"},
			{"paging", berth.RecommendationFilter{Offset: 1, Limit: 2}, 5, "alice-dev"},
		}
		for _, tc := range tests {
			got, total, err := s.ListRecommendations(ctx, tc.f)
			must(t, err)
			equal(t, tc.name+": total", total, tc.total)
			if tc.first != "" {
				equal(t, tc.name+": first", got[0].Subject.Name, tc.first)
			}
			if tc.f.Limit > 0 {
				equal(t, tc.name+": page size", len(got), tc.f.Limit)
			}
		}
		all, _, err := s.ListRecommendations(ctx, berth.RecommendationFilter{Kind: berth.RecStopIdle})
		must(t, err)
		equal(t, "owner read back", all[0].Owner, "u-alice")
	})
}

// TestSummarizeRecommendations: counts by status and kind, the OPEN ones'
// saving, environment ones only for their owner.
func TestSummarizeRecommendations(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		t0 := base.UTC()
		web, api := rightsizeRec("web", "100m", "128Mi"), rightsizeRec("api", "100m", "128Mi")
		api.MonthlySaving.Amount = -2.5
		env := &berth.Recommendation{Kind: berth.RecStopIdle, Source: berth.RecSourceBerth, Target: "local", Owner: "u-alice", Title: "stop",
			Subject: berth.RecSubject{Type: berth.RecSubjectEnvironment, Name: "dev", ID: "env-a"}, MonthlySaving: berth.Saving{Amount: 10, Currency: "USD"}}
		gone := rightsizeRec("gone", "100m", "128Mi")
		for _, r := range []*berth.Recommendation{web, api, env, gone} {
			_, err := s.SaveRecommendation(ctx, r, t0)
			must(t, err)
		}
		gone.Status = berth.RecApplied
		must(t, s.TransitionRecommendation(ctx, gone, berth.RecOpen))
		all, err := s.SummarizeRecommendations(ctx, "")
		must(t, err)
		equal(t, "admin's summary", *all, berth.RecSummary{Open: 3, ByKind: map[string]int{"rightsize": 2, "stop-idle": 1},
			ByStatus: map[string]int{"OPEN": 3, "APPLIED": 1}, MonthlySaving: berth.Saving{Amount: 47.5, Currency: "USD"}})
		bob, err := s.SummarizeRecommendations(ctx, "u-bob")
		must(t, err)
		equal(t, "bob's summary", *bob, berth.RecSummary{Open: 2, ByKind: map[string]int{"rightsize": 2},
			ByStatus: map[string]int{"OPEN": 2, "APPLIED": 1}, MonthlySaving: berth.Saving{Amount: 37.5, Currency: "USD"}})
	})
}
