package client

import (
	"context"
	"io"
	"net/url"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// GetQuotas returns every quota level (admin).
func (c *Client) GetQuotas(ctx context.Context) (*api.QuotaSet, error) {
	var out api.QuotaSet
	if err := c.do(ctx, "GET", "/api/v1/quotas", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// QuotaOf returns the limits and use of a user ("" = the caller).
func (c *Client) QuotaOf(ctx context.Context, userID string) (*api.QuotaStatus, error) {
	path := "/api/v1/quotas/me"
	if userID != "" {
		path = "/api/v1/quotas/users/" + esc(userID)
	}
	var out api.QuotaStatus
	if err := c.do(ctx, "GET", path, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func quotaPath(scope, key string) string {
	switch scope {
	case berth.QuotaRole:
		return "/api/v1/quotas/roles/" + esc(key)
	case berth.QuotaUser:
		return "/api/v1/quotas/users/" + esc(key)
	}
	return "/api/v1/quotas/defaults"
}

// SetQuota replaces the limits of a level (admin): scope defaults, role or user.
func (c *Client) SetQuota(ctx context.Context, scope, key string, l api.QuotaLimits) (*api.QuotaLimits, error) {
	var out api.QuotaLimits
	if err := c.do(ctx, "PUT", quotaPath(scope, key), nil, l, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteQuota removes a role's or user's limits (admin).
func (c *Client) DeleteQuota(ctx context.Context, scope, key string) (*Ack, error) {
	return c.ack(ctx, "DELETE", quotaPath(scope, key), nil, nil)
}

// UsageQuery selects GET /api/v1/usage.
type UsageQuery struct {
	From, To time.Time // zero: the server's defaults
	GroupBy  string
	UserID   string
}

func (q UsageQuery) values(format string) url.Values {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339))
	}
	for k, s := range map[string]string{"groupBy": q.GroupBy, "userId": q.UserID, "format": format} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// Usage returns the usage report.
func (c *Client) Usage(ctx context.Context, q UsageQuery) (*api.UsageReport, error) {
	var out api.UsageReport
	if err := c.do(ctx, "GET", "/api/v1/usage", q.values(""), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UsageCSV returns the usage report as the server writes it in CSV.
func (c *Client) UsageCSV(ctx context.Context, q UsageQuery) ([]byte, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/usage", q.values("csv"), nil, "text/csv")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
