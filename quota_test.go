package berth_test

import (
	"testing"

	"github.com/berthhq/berth"
)

func ip(v int) *int         { return &v }
func fp(v float64) *float64 { return &v }

// TestQuotaResolve: per field, a user's level wins over the role's, which
// wins over the defaults; a field set nowhere is unlimited (nil).
func TestQuotaResolve(t *testing.T) {
	qs := &berth.QuotaSet{
		Defaults: berth.QuotaLimits{MaxEnvironments: ip(2), CPUCores: fp(4), MemoryGB: fp(8)},
		Roles:    map[string]berth.QuotaLimits{"operator": {CPUCores: fp(8), StorageGB: fp(100)}},
		Users:    map[string]berth.QuotaLimits{"u-ada": {CPUCores: fp(16), MaxEnvironments: ip(0)}},
	}
	for _, tc := range []struct {
		name           string
		role           berth.Role
		user           string
		maxEnvs        *int
		cpu, mem, stor *float64
	}{
		{"defaults only", berth.RoleViewer, "u-bob", ip(2), fp(4), fp(8), nil},
		{"role over defaults", berth.RoleOperator, "u-bob", ip(2), fp(8), fp(8), fp(100)},
		{"user over role", berth.RoleOperator, "u-ada", ip(0), fp(16), fp(8), fp(100)},
		{"user over defaults without a role level", berth.RoleAdmin, "u-ada", ip(0), fp(16), fp(8), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := qs.Resolve(tc.role, tc.user)
			eqi := func(name string, a, b *int) {
				if (a == nil) != (b == nil) || (a != nil && *a != *b) {
					t.Errorf("%s: got %v, want %v", name, deref(a), deref(b))
				}
			}
			eqf := func(name string, a, b *float64) {
				if (a == nil) != (b == nil) || (a != nil && *a != *b) {
					t.Errorf("%s: got %v, want %v", name, derefF(a), derefF(b))
				}
			}
			eqi("maxEnvironments", l.MaxEnvironments, tc.maxEnvs)
			eqf("cpuCores", l.CPUCores, tc.cpu)
			eqf("memoryGB", l.MemoryGB, tc.mem)
			eqf("storageGB", l.StorageGB, tc.stor)
			if l.MaxServices != nil {
				t.Errorf("maxServices set nowhere: got %d, want unlimited", *l.MaxServices)
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func derefF(p *float64) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// TestQuotaCheck: the arithmetic and the message of a refusal; only what
// a request raises is checked, so a lowered quota still lets a user shrink.
func TestQuotaCheck(t *testing.T) {
	l := berth.QuotaLimits{CPUCores: fp(8), MaxEnvironments: ip(3), StorageGB: fp(50), MaxReplicasPerService: ip(3),
		ServiceCPUCores: fp(1), MaxRunningEnvironments: ip(1)}
	env := func(cpu, mem, sto int, stopped bool) berth.QuotaUse {
		return berth.EnvironmentUse(&berth.Environment{CPUCores: cpu, MemoryGB: mem, StorageGB: sto, Stopped: stopped})
	}
	for _, tc := range []struct {
		name     string
		used     berth.QuotaUse
		need     berth.QuotaUse
		replicas int
		want     string // "" = allowed
	}{
		{"fits exactly", env(4, 1, 10, true), env(4, 1, 10, false), 0, ""},
		{"running count over", env(2, 1, 10, false).Add(env(4, 1, 10, true)), env(4, 1, 10, false), 0,
			"maxRunningEnvironments: 1 of 1 in use, this environment needs 1"},
		{"cores named with use and need", env(3, 1, 10, true).Add(berth.QuotaUse{CPUCores: 6}), env(4, 1, 10, true).Add(berth.QuotaUse{CPUCores: 4}), 0,
			"cpuCores: 6 of 8 in use, this environment needs 4"},
		{"a stopped environment counts storage only", env(4, 4, 45, true), env(1, 1, 10, true), 0,
			"storageGB: 45 of 50 in use, this environment needs 10"},
		{"count limit", env(1, 1, 10, true).Add(env(1, 1, 10, true)).Add(env(1, 1, 10, true)), env(1, 1, 10, true), 0,
			"maxEnvironments: 3 of 3 in use, this environment needs 1"},
		{"over the limit already but shrinking", berth.QuotaUse{CPUCores: 12}, berth.QuotaUse{CPUCores: -4}, 0, ""},
		{"replicas per service", berth.QuotaUse{}, berth.QuotaUse{ServiceCPUCores: 0.5}, 4,
			"maxReplicasPerService: 3 allowed, service web asks for 4"},
		{"service default requests", berth.QuotaUse{ServiceCPUCores: 0.75},
			berth.ServiceUse(&berth.Service{Replicas: 2}), 2,
			"serviceCpuCores: 0.75 of 1 in use, service web needs 0.5"},
		{"service requests parsed", berth.QuotaUse{},
			berth.ServiceUse(&berth.Service{Replicas: 3, Spec: berth.ServiceSpec{Resources: berth.Resources{CPU: "250m"}}}), 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			what := "this environment"
			if tc.replicas > 0 || tc.need.ServiceCPUCores != 0 {
				what = "service web"
			}
			err := l.Check(tc.used, tc.need, tc.replicas, what)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if berth.ErrorCode(err) != berth.EQUOTA || berth.ErrorMessage(err) != tc.want {
				t.Fatalf("got %v (%s), want QUOTA_EXCEEDED %q", err, berth.ErrorCode(err), tc.want)
			}
		})
	}
}

// TestQuotaNeedsUse: the owner's use is summed only when a limit is set on
// something the request raises, and where it is not, Check answers the
// same whatever the owner holds (so skipping the sum changes no answer).
func TestQuotaNeedsUse(t *testing.T) {
	svc := berth.QuotaUse{Services: 1, ServiceCPUCores: 0.5, ServiceMemoryGB: 0.5}
	env := berth.QuotaUse{Environments: 1, RunningEnvironments: 1, CPUCores: 2, MemoryGB: 4, StorageGB: 10}
	huge := berth.QuotaUse{Environments: 99, RunningEnvironments: 99, CPUCores: 99, MemoryGB: 99, StorageGB: 999,
		Services: 99, ServiceCPUCores: 99, ServiceMemoryGB: 99}
	for _, tc := range []struct {
		name   string
		limits berth.QuotaLimits
		need   berth.QuotaUse
		want   bool
	}{
		{"no limits", berth.QuotaLimits{}, svc, false},
		{"only a per-service replica limit", berth.QuotaLimits{MaxReplicasPerService: ip(3)}, svc, false},
		{"environment limits, a service", berth.QuotaLimits{CPUCores: fp(4), MaxEnvironments: ip(2)}, svc, false},
		{"service limits, an environment", berth.QuotaLimits{MaxServices: ip(5), ServiceCPUCores: fp(2)}, env, false},
		{"maxServices, a service", berth.QuotaLimits{MaxServices: ip(5)}, svc, true},
		{"service cpu, a service", berth.QuotaLimits{ServiceCPUCores: fp(2)}, svc, true},
		{"storage, an environment", berth.QuotaLimits{StorageGB: fp(20)}, env, true},
		{"a limit, a request raising nothing", berth.QuotaLimits{MaxServices: ip(0), CPUCores: fp(0)}, berth.QuotaUse{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.limits.NeedsUse(tc.need); got != tc.want {
				t.Fatalf("NeedsUse = %v, want %v", got, tc.want)
			}
			if tc.want {
				return
			}
			a := tc.limits.Check(berth.QuotaUse{}, tc.need, 1, "x")
			b := tc.limits.Check(huge, tc.need, 1, "x")
			if (a == nil) != (b == nil) {
				t.Fatalf("Check depends on use although NeedsUse is false: %v vs %v", a, b)
			}
		})
	}
}
