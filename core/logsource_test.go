package core

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

// loggerFunc is a log source (the real one, Loki, is tested in package loki
// through core and the API).
type loggerFunc func(ctx context.Context, ref berth.ServiceRef, opts berth.LogOptions, fn func(berth.LogLine) error) error

func (f loggerFunc) ServiceLogs(ctx context.Context, ref berth.ServiceRef, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	return f(ctx, ref, opts, fn)
}

func TestLogSources(t *testing.T) {
	t.Parallel()
	src := loggerFunc(func(context.Context, berth.ServiceRef, berth.LogOptions, func(berth.LogLine) error) error { return nil })
	rts := []berth.Runtime{
		infoOnly{info: berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}},
		infoOnly{info: berth.TargetInfo{Name: "prod", Provider: berth.ProviderKubernetes}},
	}
	if _, err := New(Config{Store: nilStore{}, Runtimes: rts, LogSources: map[string]berth.ServiceLogger{"staging": src}}); err == nil || !strings.Contains(err.Error(), `"staging"`) {
		t.Fatalf("log source of an unknown target: %v", err)
	}
	c, err := New(Config{Store: nilStore{}, Runtimes: rts, LogSources: map[string]berth.ServiceLogger{"prod": src}})
	if err != nil {
		t.Fatal(err)
	}
	// infoOnly runtimes have no logs of their own: only prod's source answers.
	for target, want := range map[string]bool{"prod": true, "local": false} {
		if _, ok := c.serviceLogger(target); ok != want {
			t.Errorf("%s: has logs %v, want %v", target, ok, want)
		}
	}
}
