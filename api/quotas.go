package api

import "github.com/berthhq/berth"

// QuotaSet is GET /api/v1/quotas: {"defaults","roles","users"}.
type QuotaSet = berth.QuotaSet

// QuotaLimits is the body of PUT /api/v1/quotas/defaults, /roles/{role}
// and /users/{id} (a field left out is not set at that level).
type QuotaLimits = berth.QuotaLimits

// QuotaStatus is GET /api/v1/quotas/me and /quotas/users/{id}:
// {"limits","used"}.
type QuotaStatus = berth.QuotaStatus

// UsageReport is GET /api/v1/usage (format=json):
// {"usage":[…],"total","currency","from","to","groupBy"}.
type UsageReport = berth.UsageReport

// UsageRow is one group of a UsageReport.
type UsageRow = berth.UsageRow

// PinRequest is the body of POST /api/v1/environments/{id}/pin: a pinned
// environment is exempt from dormancy and its ttl.
type PinRequest struct {
	Pinned *bool `json:"pinned"`
}
