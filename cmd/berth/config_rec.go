package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/recommend"
)

// recommendConfig is berth.yaml's `recommend:` (issue 11); the BERTH_RECOMMEND_*
// variables and AI_ENGINE_URL override it.
type recommendConfig struct {
	Interval string `json:"interval"` // default 15m; "off" never refreshes on its own
	Window   string `json:"window"`   // default 7d
	// MinSamples below which a rightsize is "not enough data" (default 100).
	MinSamples int `json:"minSamples"`
	// TargetUtilization is the CPU usage/request ratio scale aims at (default 0.7).
	TargetUtilization float64 `json:"targetUtilization"`
	Dormancy          string  `json:"dormancy"` // default 30d
	// EngineURL is the external AI engine (the seed's AI_ENGINE_URL);
	// EngineTimeout bounds each exchange (default 10s).
	EngineURL     string `json:"engineURL"`
	EngineTimeout string `json:"engineTimeout"`
}

// settings parses the section over the environment into core's config.
func (rc recommendConfig) settings(getenv func(string) string, d durations) (core.RecommendConfig, error) {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&rc.Interval, "BERTH_RECOMMEND_INTERVAL")
	set(&rc.Window, "BERTH_RECOMMEND_WINDOW")
	set(&rc.Dormancy, "BERTH_RECOMMEND_DORMANCY")
	set(&rc.EngineURL, "AI_ENGINE_URL")
	set(&rc.EngineTimeout, "BERTH_RECOMMEND_ENGINE_TIMEOUT")
	if v := getenv("BERTH_RECOMMEND_MIN_SAMPLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return core.RecommendConfig{}, fmt.Errorf("BERTH_RECOMMEND_MIN_SAMPLES: %q is not a positive whole number", v)
		}
		rc.MinSamples = n
	}
	if v := getenv("BERTH_RECOMMEND_TARGET_UTILIZATION"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return core.RecommendConfig{}, fmt.Errorf("BERTH_RECOMMEND_TARGET_UTILIZATION: %q is not a number", v)
		}
		rc.TargetUtilization = f
	}
	if rc.MinSamples < 0 {
		return core.RecommendConfig{}, fmt.Errorf("recommend.minSamples: %d is not a positive whole number", rc.MinSamples)
	}
	if u := rc.TargetUtilization; u != 0 && (u <= 0.05 || u > 1) {
		return core.RecommendConfig{}, fmt.Errorf("recommend.targetUtilization: %v is not a ratio in (0.05, 1]", u)
	}
	out := core.RecommendConfig{Engine: recommend.Config{MinSamples: rc.MinSamples, TargetUtilization: rc.TargetUtilization},
		Retention: recommend.Retention{Raw: d.metricsRaw, Minute: d.metricsMinute, Hour: d.metricsHour}}
	for _, f := range []struct {
		name, v string
		dst     *time.Duration
		def     time.Duration
	}{
		{"recommend.interval", rc.Interval, &out.Interval, 15 * time.Minute},
		{"recommend.window", rc.Window, &out.Engine.Window, 7 * 24 * time.Hour},
		{"recommend.dormancy", rc.Dormancy, &out.Engine.Dormancy, 30 * 24 * time.Hour},
	} {
		*f.dst = f.def
		if f.v == "off" && f.name == "recommend.interval" {
			*f.dst = -1
			continue
		}
		if f.v == "" {
			continue
		}
		v, err := metrics.ParseDuration(f.v)
		if err != nil || v <= 0 {
			return core.RecommendConfig{}, fmt.Errorf("%s: %q is not a duration (e.g. 15m, 6h, 7d)", f.name, f.v)
		}
		*f.dst = v
	}
	ext, err := rc.engine()
	if err != nil {
		return core.RecommendConfig{}, err
	}
	out.External = ext
	return out, nil
}

// engine is the external engine of engineURL (nil when unset).
func (rc recommendConfig) engine() (*core.ExternalEngine, error) {
	if rc.EngineURL == "" {
		return nil, nil
	}
	u, err := url.Parse(rc.EngineURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("recommend.engineURL (AI_ENGINE_URL): not an http(s) URL")
	}
	ext := &core.ExternalEngine{URL: rc.EngineURL, Timeout: 10 * time.Second}
	if rc.EngineTimeout != "" {
		t, err := time.ParseDuration(rc.EngineTimeout)
		if err != nil || t <= 0 {
			return nil, fmt.Errorf("recommend.engineTimeout: %q is not a duration", rc.EngineTimeout)
		}
		ext.Timeout = t
	}
	return ext, nil
}
