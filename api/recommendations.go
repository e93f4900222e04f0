package api

import "github.com/berthhq/berth"

// RecommendationList is GET /api/v1/recommendations:
// {"recommendations":[…],"total","page","pageSize"}.
type RecommendationList struct {
	Recommendations []*berth.Recommendation `json:"recommendations"`
	Page
}

// RecommendationBody is GET /api/v1/recommendations/{id}: {"recommendation":…}.
type RecommendationBody struct {
	Recommendation *berth.Recommendation `json:"recommendation"`
}

// ApplyRecommendationRequest is the optional body of POST …/{id}/apply.
// KeepVolume chooses, for delete-dormant, to keep the environment's volume.
type ApplyRecommendationRequest struct {
	KeepVolume *bool `json:"keepVolume,omitempty"`
}

// ApplyRecommendationResponse is POST …/{id}/apply: the recommendation,
// APPLIED, whose result says what apply did (the new revision, …).
type ApplyRecommendationResponse struct {
	Message        string                `json:"message"`
	Recommendation *berth.Recommendation `json:"recommendation"`
}

// RejectRecommendationRequest is the body of POST …/{id}/reject.
type RejectRecommendationRequest struct {
	Reason string `json:"reason"`
}

// RefreshResult is POST /api/v1/recommendations/refresh: what one run of
// the engines did.
type RefreshResult = berth.RecRefresh
