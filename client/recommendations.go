package client

import (
	"context"
	"net/url"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// RecommendationQuery filters GET /api/v1/recommendations.
type RecommendationQuery struct {
	Status, Kind, Target, Service string
	ListOptions
}

// ListRecommendations answers one page of recommendations.
func (c *Client) ListRecommendations(ctx context.Context, q RecommendationQuery) (*api.RecommendationList, error) {
	v := q.values()
	for k, s := range map[string]string{"status": q.Status, "kind": q.Kind, "target": q.Target, "service": q.Service} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out api.RecommendationList
	if err := c.do(ctx, "GET", "/api/v1/recommendations", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRecommendation answers one recommendation.
func (c *Client) GetRecommendation(ctx context.Context, id string) (*berth.Recommendation, error) {
	var out api.RecommendationBody
	if err := c.do(ctx, "GET", "/api/v1/recommendations/"+esc(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Recommendation, nil
}

// ApplyRecommendation applies an OPEN recommendation.
func (c *Client) ApplyRecommendation(ctx context.Context, id string, req api.ApplyRecommendationRequest) (*api.ApplyRecommendationResponse, error) {
	var out api.ApplyRecommendationResponse
	if err := c.do(ctx, "POST", "/api/v1/recommendations/"+esc(id)+"/apply", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RejectRecommendation rejects an OPEN recommendation with a reason.
func (c *Client) RejectRecommendation(ctx context.Context, id, reason string) (*berth.Recommendation, error) {
	var out api.RecommendationBody
	if err := c.do(ctx, "POST", "/api/v1/recommendations/"+esc(id)+"/reject", nil, api.RejectRecommendationRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return out.Recommendation, nil
}

// RefreshRecommendations runs the engines now.
func (c *Client) RefreshRecommendations(ctx context.Context) (*api.RefreshResult, error) {
	var out api.RefreshResult
	if err := c.do(ctx, "POST", "/api/v1/recommendations/refresh", url.Values{}, struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
