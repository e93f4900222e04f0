package berth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

// base implements Runtime only; the types below add optional interfaces.
type baseRuntime struct{ berth.Runtime }

type logsRuntime struct{ baseRuntime }

func (logsRuntime) ServiceLogs(context.Context, berth.ServiceRef, berth.LogOptions, func(berth.LogLine) error) error {
	return nil
}

type envOnlyRuntime struct {
	baseRuntime
	berth.NoServices
}

func (envOnlyRuntime) EnvironmentLogs(context.Context, *berth.Environment, berth.LogOptions, func(berth.LogLine) error) error {
	return nil
}

// TestCapabilities: capabilities come from the optional interfaces a runtime
// implements, what berth adds for it, and what it withholds (NoServices):
// a runtime without services offers nothing service-shaped, even when a log
// or usage source is configured for it.
func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rt    berth.Runtime
		extra []berth.Capability
		want  string
	}{
		{"minimum", baseRuntime{}, nil, "services,environments,scale,restart,rollback"},
		{"service logs", logsRuntime{}, nil, "services,environments,scale,restart,rollback,logs"},
		{"usage source", baseRuntime{}, []berth.Capability{berth.CapMetrics}, "services,environments,scale,restart,rollback,metrics"},
		{"no services", envOnlyRuntime{}, []berth.Capability{berth.CapLogs, berth.CapMetrics}, "environments,environmentLogs"},
	} {
		var got []string
		for _, c := range berth.Capabilities(tc.rt, tc.extra...) {
			got = append(got, string(c))
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
	info := berth.TargetInfo{Capabilities: berth.Capabilities(envOnlyRuntime{})}
	if info.Has(berth.CapServices) || !info.Has(berth.CapEnvironments) {
		t.Errorf("Has on %v", info.Capabilities)
	}
}
