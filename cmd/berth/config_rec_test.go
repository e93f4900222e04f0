package main

import (
	"strings"
	"testing"
	"time"
)

// TestRecommendSettings: berth.yaml's recommend: section, the environment
// over it, the defaults, and bad values named by their field.
func TestRecommendSettings(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		yaml    recommendConfig
		env     func(string) string
		wantErr string
	}{
		{name: "defaults", env: env()},
		{name: "env over yaml", yaml: recommendConfig{Interval: "1h", Window: "3d", MinSamples: 50},
			env: env("BERTH_RECOMMEND_WINDOW", "6h", "BERTH_RECOMMEND_MIN_SAMPLES", "20", "BERTH_RECOMMEND_TARGET_UTILIZATION", "0.6",
				"BERTH_RECOMMEND_DORMANCY", "14d", "AI_ENGINE_URL", "https://engine.example.test/advise")},
		{name: "off", yaml: recommendConfig{Interval: "off"}, env: env()},
		{name: "bad window", env: env("BERTH_RECOMMEND_WINDOW", "a week"), wantErr: "recommend.window"},
		{name: "bad samples", env: env("BERTH_RECOMMEND_MIN_SAMPLES", "-3"), wantErr: "BERTH_RECOMMEND_MIN_SAMPLES"},
		{name: "bad utilization", yaml: recommendConfig{TargetUtilization: 1.5}, env: env(), wantErr: "recommend.targetUtilization"},
		{name: "bad engine URL", env: env("AI_ENGINE_URL", "file:///etc/passwd"), wantErr: "AI_ENGINE_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.yaml.settings(tc.env, durations{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error naming %s, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tc.name {
			case "defaults":
				if got.Interval != 15*time.Minute || got.Engine.Window != 7*24*time.Hour || got.Engine.Dormancy != 30*24*time.Hour || got.External != nil {
					t.Fatalf("defaults: %+v", got)
				}
			case "env over yaml":
				if got.Interval != time.Hour || got.Engine.Window != 6*time.Hour || got.Engine.MinSamples != 20 ||
					got.Engine.TargetUtilization != 0.6 || got.Engine.Dormancy != 14*24*time.Hour ||
					got.External == nil || got.External.URL != "https://engine.example.test/advise" || got.External.Timeout != 10*time.Second {
					t.Fatalf("env over yaml: %+v %+v", got, got.External)
				}
			case "off":
				if got.Interval >= 0 {
					t.Fatalf("off: interval %s", got.Interval)
				}
			}
		})
	}
}
