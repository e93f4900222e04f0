package client

import (
	"context"
	"net/url"

	"github.com/berthhq/berth/api"
)

// PredictionQuery selects predictions; empty fields are left out.
type PredictionQuery struct {
	Service     string // name, or namespace/name
	Target      string
	Namespace   string
	Environment string
	Metric      string // cpu | memory
	Horizon     string // "72h", "7d"
}

// Predictions reads GET /api/v1/predictions.
func (c *Client) Predictions(ctx context.Context, q PredictionQuery) (*api.PredictionList, error) {
	v := url.Values{}
	for k, s := range map[string]string{"service": q.Service, "target": q.Target, "namespace": q.Namespace,
		"environment": q.Environment, "metric": q.Metric, "horizon": q.Horizon} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out api.PredictionList
	if err := c.do(ctx, "GET", "/api/v1/predictions", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
