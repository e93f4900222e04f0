package berth

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// EQUOTA is the code of a refusal by quota (403): the message names the
// limit, what is in use and what the request needs.
const EQUOTA Code = "QUOTA_EXCEEDED"

// QuotaLimits are the limits of one level (defaults, a role, a user). A nil
// field is not set at that level: the next less specific level decides, and
// a field set at no level is unlimited.
type QuotaLimits struct {
	MaxEnvironments        *int     `json:"maxEnvironments,omitempty"`
	MaxRunningEnvironments *int     `json:"maxRunningEnvironments,omitempty"`
	CPUCores               *float64 `json:"cpuCores,omitempty"`
	MemoryGB               *float64 `json:"memoryGB,omitempty"`
	StorageGB              *float64 `json:"storageGB,omitempty"`
	MaxServices            *int     `json:"maxServices,omitempty"`
	MaxReplicasPerService  *int     `json:"maxReplicasPerService,omitempty"`
	ServiceCPUCores        *float64 `json:"serviceCpuCores,omitempty"`
	ServiceMemoryGB        *float64 `json:"serviceMemoryGB,omitempty"`
}

// QuotaSet is every configured level: GET /api/v1/quotas.
type QuotaSet struct {
	Defaults QuotaLimits            `json:"defaults"`
	Roles    map[string]QuotaLimits `json:"roles"`
	Users    map[string]QuotaLimits `json:"users"`
}

// Quota scopes, as stored.
const (
	QuotaDefaults = "defaults"
	QuotaRole     = "role"
	QuotaUser     = "user"
)

// QuotaUse is what a user holds, summed over their environments (stopped
// ones count storage only) and the services they own.
type QuotaUse struct {
	Environments        int     `json:"environments"`
	RunningEnvironments int     `json:"runningEnvironments"`
	CPUCores            float64 `json:"cpuCores"`
	MemoryGB            float64 `json:"memoryGB"`
	StorageGB           float64 `json:"storageGB"`
	Services            int     `json:"services"`
	ServiceCPUCores     float64 `json:"serviceCpuCores"`
	ServiceMemoryGB     float64 `json:"serviceMemoryGB"`
}

// Add returns u + v.
func (u QuotaUse) Add(v QuotaUse) QuotaUse {
	return QuotaUse{
		Environments: u.Environments + v.Environments, RunningEnvironments: u.RunningEnvironments + v.RunningEnvironments,
		CPUCores: u.CPUCores + v.CPUCores, MemoryGB: u.MemoryGB + v.MemoryGB, StorageGB: u.StorageGB + v.StorageGB,
		Services: u.Services + v.Services, ServiceCPUCores: u.ServiceCPUCores + v.ServiceCPUCores,
		ServiceMemoryGB: u.ServiceMemoryGB + v.ServiceMemoryGB,
	}
}

// Sub returns u - v.
func (u QuotaUse) Sub(v QuotaUse) QuotaUse {
	return u.Add(QuotaUse{
		Environments: -v.Environments, RunningEnvironments: -v.RunningEnvironments, CPUCores: -v.CPUCores,
		MemoryGB: -v.MemoryGB, StorageGB: -v.StorageGB, Services: -v.Services,
		ServiceCPUCores: -v.ServiceCPUCores, ServiceMemoryGB: -v.ServiceMemoryGB,
	})
}

// Services without resource requests count these per replica, for quotas
// and for metering alike (docs/quotas.md).
const (
	DefaultServiceCPUCores = 0.25
	DefaultServiceMemoryGB = 0.25
)

// EnvironmentUse is what one environment holds: storage always, cores and
// memory unless it is stopped (desired state).
func EnvironmentUse(e *Environment) QuotaUse {
	u := QuotaUse{Environments: 1, StorageGB: float64(e.StorageGB)}
	if !e.Stopped {
		u.RunningEnvironments, u.CPUCores, u.MemoryGB = 1, float64(e.CPUCores), float64(e.MemoryGB)
	}
	return u
}

// ServicePerReplica is what one replica of spec requests: its resource
// requests, or the documented defaults where it sets none.
func ServicePerReplica(spec ServiceSpec) (cpuCores, memoryGB float64) {
	cpuCores, memoryGB = DefaultServiceCPUCores, DefaultServiceMemoryGB
	if m, err := ParseCPU("resources.cpu", spec.Resources.CPU); err == nil && m > 0 {
		cpuCores = float64(m) / 1000
	}
	if b, err := ParseMemory("resources.memory", spec.Resources.Memory); err == nil && b > 0 {
		memoryGB = float64(b) / (1 << 30)
	}
	return cpuCores, memoryGB
}

// ServiceUse is what one service holds: its desired replicas times their
// requests (none when stopped).
func ServiceUse(s *Service) QuotaUse {
	u := QuotaUse{Services: 1}
	if s.Stopped {
		return u
	}
	cpu, mem := ServicePerReplica(s.Spec)
	u.ServiceCPUCores, u.ServiceMemoryGB = cpu*float64(s.Replicas), mem*float64(s.Replicas)
	return u
}

// Resolve returns the limits that apply to a user of a role: per field, the
// user's level wins over the role's, which wins over the defaults.
func (q *QuotaSet) Resolve(role Role, userID string) QuotaLimits {
	out := q.Defaults
	if r, ok := q.Roles[string(role)]; ok {
		out = out.Over(r)
	}
	if u, ok := q.Users[userID]; ok {
		out = out.Over(u)
	}
	return out
}

// Over returns l with every field that m sets replaced by m's.
func (l QuotaLimits) Over(m QuotaLimits) QuotaLimits {
	pi := func(a, b *int) *int {
		if b != nil {
			return b
		}
		return a
	}
	pf := func(a, b *float64) *float64 {
		if b != nil {
			return b
		}
		return a
	}
	return QuotaLimits{
		MaxEnvironments:        pi(l.MaxEnvironments, m.MaxEnvironments),
		MaxRunningEnvironments: pi(l.MaxRunningEnvironments, m.MaxRunningEnvironments),
		CPUCores:               pf(l.CPUCores, m.CPUCores),
		MemoryGB:               pf(l.MemoryGB, m.MemoryGB),
		StorageGB:              pf(l.StorageGB, m.StorageGB),
		MaxServices:            pi(l.MaxServices, m.MaxServices),
		MaxReplicasPerService:  pi(l.MaxReplicasPerService, m.MaxReplicasPerService),
		ServiceCPUCores:        pf(l.ServiceCPUCores, m.ServiceCPUCores),
		ServiceMemoryGB:        pf(l.ServiceMemoryGB, m.ServiceMemoryGB),
	}
}

// Validate checks limits sent by an admin: every set field ≥ 0 and finite.
func (l QuotaLimits) Validate() error {
	for _, f := range []struct {
		name string
		v    *int
	}{{"maxEnvironments", l.MaxEnvironments}, {"maxRunningEnvironments", l.MaxRunningEnvironments},
		{"maxServices", l.MaxServices}, {"maxReplicasPerService", l.MaxReplicasPerService}} {
		if f.v != nil && *f.v < 0 {
			return Invalid(f.name, "must be 0 or more, got %d", *f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"cpuCores", l.CPUCores}, {"memoryGB", l.MemoryGB}, {"storageGB", l.StorageGB},
		{"serviceCpuCores", l.ServiceCPUCores}, {"serviceMemoryGB", l.ServiceMemoryGB}} {
		if f.v != nil && (*f.v < 0 || math.IsNaN(*f.v) || math.IsInf(*f.v, 0) || *f.v > 1e9) {
			return Invalid(f.name, "must be a number between 0 and 1e9, got %v", *f.v)
		}
	}
	return nil
}

// Check says whether a request that needs need (what it adds to the use,
// the part it already holds excluded) fits limits on top of used. Only
// fields the request raises are checked, so a quota lowered below use
// blocks new use but lets a user shrink, stop and delete. what names the
// request for the message ("this environment", "service web").
// replicas is the replica count a service asks for (0: not a service).
func (l QuotaLimits) Check(used, need QuotaUse, replicas int, what string) error {
	if l.MaxReplicasPerService != nil && replicas > *l.MaxReplicasPerService {
		return &Error{Code: EQUOTA, Message: fmt.Sprintf("maxReplicasPerService: %d allowed, %s asks for %d",
			*l.MaxReplicasPerService, what, replicas)}
	}
	const eps = 1e-9
	for _, f := range l.fields(used, need) {
		if f.limit == nil || f.needs <= eps {
			continue
		}
		if f.used+f.needs > *f.limit+eps {
			return &Error{Code: EQUOTA, Message: fmt.Sprintf("%s: %s of %s in use, %s needs %s",
				f.name, qnum(f.used), qnum(*f.limit), what, qnum(f.needs))}
		}
	}
	return nil
}

// NeedsUse says whether Check of need depends on what the user holds: a
// limit is set on something need raises. Without one, summing the user's
// use (every environment and service it owns) can be skipped.
func (l QuotaLimits) NeedsUse(need QuotaUse) bool {
	for _, f := range l.fields(QuotaUse{}, need) {
		if f.limit != nil && f.needs > 1e-9 {
			return true
		}
	}
	return false
}

// quotaField is one limit Check compares, with what is used and needed of it.
type quotaField struct {
	name        string
	limit       *float64
	used, needs float64
}

func (l QuotaLimits) fields(used, need QuotaUse) []quotaField {
	fi := func(p *int) *float64 {
		if p == nil {
			return nil
		}
		f := float64(*p)
		return &f
	}
	return []quotaField{
		{"maxEnvironments", fi(l.MaxEnvironments), float64(used.Environments), float64(need.Environments)},
		{"maxRunningEnvironments", fi(l.MaxRunningEnvironments), float64(used.RunningEnvironments), float64(need.RunningEnvironments)},
		{"cpuCores", l.CPUCores, used.CPUCores, need.CPUCores},
		{"memoryGB", l.MemoryGB, used.MemoryGB, need.MemoryGB},
		{"storageGB", l.StorageGB, used.StorageGB, need.StorageGB},
		{"maxServices", fi(l.MaxServices), float64(used.Services), float64(need.Services)},
		{"serviceCpuCores", l.ServiceCPUCores, used.ServiceCPUCores, need.ServiceCPUCores},
		{"serviceMemoryGB", l.ServiceMemoryGB, used.ServiceMemoryGB, need.ServiceMemoryGB},
	}
}

// qnum prints a quantity without needless decimals (6, 0.25).
func qnum(f float64) string { return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64) }

// QuotaStatus is what applies to a user and what they hold
// (GET /api/v1/quotas/me).
type QuotaStatus struct {
	Limits QuotaLimits `json:"limits"`
	Used   QuotaUse    `json:"used"`
}

// QuotaStore keeps the quota levels and serialises quota-checked writes.
type QuotaStore interface {
	GetQuotas(ctx context.Context) (*QuotaSet, error)
	// PutQuota sets the limits of a scope (QuotaDefaults with key "",
	// QuotaRole with a role, QuotaUser with a user id).
	PutQuota(ctx context.Context, scope, key string, l QuotaLimits) error
	// DeleteQuota removes a role's or user's limits. ENOTFOUND if none.
	DeleteQuota(ctx context.Context, scope, key string) error
	// SerializeUser runs fn in one transaction that no other SerializeUser
	// of the same user (on any replica sharing the database) overlaps: the
	// store calls fn makes with the ctx it is given (reads included) are
	// part of that transaction, which commits when fn returns nil and rolls
	// back otherwise. It is how a quota check and the write it allows are
	// one atomic step.
	SerializeUser(ctx context.Context, userID string, fn func(ctx context.Context) error) error
}
