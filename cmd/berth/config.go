package main

import (
	"cmp"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/aci"
	"github.com/berthhq/berth/kube"
	"github.com/berthhq/berth/local"
	"github.com/joho/godotenv"
	"sigs.k8s.io/yaml"
)

// serverConfig is berth.yaml; environment variables override it.
type serverConfig struct {
	Listen    string `json:"listen"`
	PublicURL string `json:"publicURL"`
	DataDir   string `json:"dataDir"`
	// WorkloadDir holds the directories local workloads reach, one
	// directory per local target (default: the data dir's path + "-workloads"),
	// because the data dir itself is berth's alone (0700).
	WorkloadDir    string   `json:"workloadDir"`
	DatabaseURL    string   `json:"databaseURL"`
	DefaultTarget  string   `json:"defaultTarget"`
	MaxReplicas    int      `json:"maxReplicas"`
	AllowedOrigins []string `json:"corsAllowedOrigins"`
	RateLimit      float64  `json:"rateLimit"` // requests per second per credential; 0 = default, <0 = off
	SessionTTL     string   `json:"sessionTTL"`
	LogLevel       string   `json:"logLevel"`
	SyncInterval   string   `json:"syncInterval"`
	// OrphanInterval is how often targets with cleanupOrphans are searched
	// for orphans (default 1m).
	OrphanInterval string `json:"orphanInterval"`
	// Metrics: sample interval and how long each resolution is kept.
	MetricsInterval        string `json:"metricsInterval"`
	MetricsRawRetention    string `json:"metricsRawRetention"`
	MetricsMinuteRetention string `json:"metricsMinuteRetention"`
	MetricsHourRetention   string `json:"metricsHourRetention"`
	WSMaxClients           int    `json:"wsMaxClients"` // WebSocket connection cap (default 1000)
	// WSMaxClientsPerUser caps one user's WebSocket connections (default 20).
	WSMaxClientsPerUser int `json:"wsMaxClientsPerUser"`
	// AuthFailureLimit is how many failed authentications a client address
	// may make per minute (a burst of as many) before it gets 429: 0 =
	// default 30, <0 = off. LoginFailureLimit is the same per username for
	// bad passwords (default 10).
	AuthFailureLimit  float64 `json:"authFailureLimit"`
	LoginFailureLimit float64 `json:"loginFailureLimit"`
	// TrustedProxies (addresses or CIDR prefixes) may name the client in
	// X-Forwarded-For; from anyone else the header is ignored.
	TrustedProxies []string `json:"trustedProxies"`
	// Connection bounds: time to read request headers (default 10s), a
	// request body (default 30s; WebSockets and log follows have no body)
	// and how long an idle keep-alive connection stays open (default 2m).
	HeaderTimeout string `json:"headerTimeout"`
	BodyTimeout   string `json:"bodyTimeout"`
	IdleTimeout   string `json:"idleTimeout"`
	// MetricsToken, when set, is the bearer token /metrics requires; unset,
	// /metrics is open and lists no environment (their ids are per user).
	MetricsToken string `json:"metricsToken"`
	LokiURL      string `json:"lokiURL"` // service logs from Loki instead of the runtimes
	// PrometheusURL measures the workloads of kubernetes targets through
	// PromQL over the kubelets' cAdvisor series (a target's own
	// prometheusURL wins).
	PrometheusURL string         `json:"prometheusURL"`
	Targets       []targetConfig `json:"targets"`
	// EnvDomain serves each local environment on its own host
	// {id}.<envDomain> (a wildcard DNS name pointing at berth) instead of
	// <publicURL>/env/{id}/: its own browser origin, which code-server needs.
	EnvDomain string `json:"envDomain"`
	// Recommend tunes the recommendations (config_rec.go).
	Recommend recommendConfig `json:"recommend"`
	// Dormancy (docs/quotas.md): stopped environments become dormant after
	// dormantAfter (default 30d); dormant ones are deleted deleteDormantAfter
	// later (default: never), their volume kept unless deleteDormantVolumes.
	DormantAfter         string `json:"dormantAfter"`
	DeleteDormantAfter   string `json:"deleteDormantAfter"`
	DeleteDormantVolumes bool   `json:"deleteDormantVolumes"`
	// Pprof serves Go's runtime profiles at /debug/pprof/ to admins
	// (env BERTH_PPROF=true; default off).
	Pprof bool `json:"pprof"`
	// MemoryLimit is the Go runtime's soft memory limit, in GOMEMLIMIT's
	// syntax (512MiB, 2GiB; env BERTH_MEMORY_LIMIT); GOMEMLIMIT wins.
	MemoryLimit string `json:"memoryLimit"`
	// ShutdownDelay is how long berth keeps serving after SIGTERM, with
	// /readyz answering 503, before it stops accepting connections and
	// drains (env BERTH_SHUTDOWN_DELAY; default 0). Behind a load balancer
	// (a Kubernetes Service, an ingress) it covers the time the balancer
	// takes to stop sending new requests, so a rolling update loses none.
	ShutdownDelay string `json:"shutdownDelay"`

	// d holds the durations above, parsed once by loadServerConfig with
	// their defaults applied.
	d durations
}

// durations are serverConfig's duration fields, parsed.
type durations struct {
	sessionTTL, sync, orphan, metrics, metricsRaw, metricsMinute, metricsHour, header, body, idle, shutdown time.Duration
}

// parseDurations fills cfg.d, each field's default where it is empty; an
// error names the field.
func (cfg *serverConfig) parseDurations() error {
	for _, d := range []struct {
		name, v string
		dst     *time.Duration
		def     time.Duration
	}{
		{"sessionTTL", cfg.SessionTTL, &cfg.d.sessionTTL, time.Hour},
		{"syncInterval", cfg.SyncInterval, &cfg.d.sync, 2 * time.Second},
		{"orphanInterval", cfg.OrphanInterval, &cfg.d.orphan, time.Minute},
		{"metricsInterval", cfg.MetricsInterval, &cfg.d.metrics, 15 * time.Second},
		{"metricsRawRetention", cfg.MetricsRawRetention, &cfg.d.metricsRaw, 0}, // 0: the sampler's defaults
		{"metricsMinuteRetention", cfg.MetricsMinuteRetention, &cfg.d.metricsMinute, 0},
		{"metricsHourRetention", cfg.MetricsHourRetention, &cfg.d.metricsHour, 0},
		{"headerTimeout", cfg.HeaderTimeout, &cfg.d.header, 10 * time.Second},
		{"bodyTimeout", cfg.BodyTimeout, &cfg.d.body, 30 * time.Second},
		{"idleTimeout", cfg.IdleTimeout, &cfg.d.idle, 2 * time.Minute},
		{"shutdownDelay", cfg.ShutdownDelay, &cfg.d.shutdown, 0},
	} {
		*d.dst = d.def
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration (e.g. 1h, 2s)", d.name, d.v)
		}
		*d.dst = v
	}
	return nil
}

// targetConfig is one entry of targets: in berth.yaml.
type targetConfig struct {
	Name      string                    `json:"name"`
	Type      string                    `json:"type"` // local, kubernetes or aci
	Disabled  bool                      `json:"disabled"`
	Templates map[string]templateConfig `json:"templates"`
	// CommandRoles may run arbitrary commands on the target (default: admin
	// on local targets, every role elsewhere); ServiceTemplates are what
	// the other roles run instead (DESIGN §2 Tenancy, README "Security").
	CommandRoles     []berth.Role                     `json:"commandRoles"`
	ServiceTemplates map[string]serviceTemplateConfig `json:"serviceTemplates"`
	// Prices is what the target's resources cost (default: the provider's
	// documented defaults, docs/prices.md); recommendations and usage use it.
	Prices *berth.Prices `json:"prices"`
	// PrometheusURL measures this kubernetes target's workloads (default:
	// the top-level prometheusURL); without one they have replica counts
	// and restarts but no CPU or memory.
	PrometheusURL string `json:"prometheusURL"`
	// LokiSelector maps a service to a LogQL stream selector when lokiURL is
	// set, e.g. {namespace="{namespace}", app="{name}"} (default per provider).
	LokiSelector string `json:"lokiSelector"`
	// Each adapter owns its fields and their mapping to its Config: those
	// of an aci target (subscriptionId, region, storageAccount…; name and
	// templates above win over the embedded ones), of a kubernetes target
	// (kubeconfig, namespaces, ingressHost…) and of a local one (uidRange,
	// workloadDir).
	aci.TargetConfig
	kubeTarget
	localTarget

	// orphanGrace is OrphanGrace parsed (kubernetes targets with
	// cleanupOrphans), at load.
	orphanGrace time.Duration
}

// The embedded adapter fields of a kubernetes and a local target (aliases:
// three fields named TargetConfig could not be embedded together).
type (
	kubeTarget  = kube.TargetConfig
	localTarget = local.TargetConfig
)

type templateConfig struct {
	Command []string          `json:"command"` // local targets
	Env     map[string]string `json:"env"`
	Image   string            `json:"image"` // aci and kubernetes targets
}

// serviceTemplateConfig is one entry of a target's serviceTemplates: what
// the service runs, its defaults, and (params) what its user may set.
type serviceTemplateConfig struct {
	Command     []string             `json:"command"`
	Image       string               `json:"image"`
	WorkingDir  string               `json:"workingDir"`
	Env         map[string]string    `json:"env"`
	Ports       []berth.Port         `json:"ports"`
	Replicas    *int                 `json:"replicas"`
	HealthCheck *berth.HealthCheck   `json:"healthCheck"`
	Resources   berth.Resources      `json:"resources"`
	Params      berth.TemplateParams `json:"params"`
}

// policies are the targets' policies for core (enabled targets only).
func (cfg *serverConfig) policies() map[string]berth.TargetPolicy {
	out := map[string]berth.TargetPolicy{}
	for _, t := range cfg.Targets {
		if t.Disabled || (t.CommandRoles == nil && len(t.ServiceTemplates) == 0) {
			continue
		}
		p := berth.TargetPolicy{CommandRoles: t.CommandRoles, ServiceTemplates: map[string]berth.ServiceTemplate{}}
		for name, st := range t.ServiceTemplates {
			p.ServiceTemplates[name] = berth.ServiceTemplate{Command: st.Command, Image: st.Image, WorkingDir: st.WorkingDir,
				Env: st.Env, Ports: st.Ports, Replicas: st.Replicas, HealthCheck: st.HealthCheck, Resources: st.Resources, Params: st.Params}
		}
		out[t.Name] = p
	}
	return out
}

// prices are the targets' price tables for core (those that set one).
func (cfg *serverConfig) prices() map[string]berth.Prices {
	out := map[string]berth.Prices{}
	for _, t := range cfg.Targets {
		if !t.Disabled && t.Prices != nil {
			out[t.Name] = *t.Prices
		}
	}
	return out
}

// layeredEnv reads the process environment first, then a .env file in the
// working directory (Dev8's habit), without changing the process environment.
func layeredEnv(getenv func(string) string, dotenvPath string) (func(string) string, error) {
	file := map[string]string{}
	if _, err := os.Stat(dotenvPath); err == nil {
		m, err := godotenv.Read(dotenvPath)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dotenvPath, err)
		}
		file = m
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}, nil
}

// loadServerConfig reads berth.yaml (when given or present) and applies the
// environment: BERTH_* names and Dev8's PORT, HOST, CORS_ALLOWED_ORIGINS.
func loadServerConfig(getenv func(string) string, path string) (*serverConfig, error) {
	cfg, err := readConfigFile(getenv, path)
	if err != nil {
		return nil, err
	}
	cfg.applyEnv(getenv)
	if err := cfg.applyEnvNumbers(getenv); err != nil {
		return nil, err
	}
	if err := cfg.parseDurations(); err != nil {
		return nil, err
	}
	if err := cfg.checkTargets(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readConfigFile reads berth.yaml: path, else BERTH_CONFIG_FILE, else
// ./berth.yaml when present (an empty configuration otherwise).
func readConfigFile(getenv func(string) string, path string) (*serverConfig, error) {
	cfg := &serverConfig{}
	explicit := path != ""
	if path == "" {
		path = getenv("BERTH_CONFIG_FILE")
		explicit = path != ""
	}
	if path == "" {
		path = "berth.yaml"
	}
	if b, err := os.ReadFile(path); err == nil { // #nosec G304 -- the operator names the configuration file
		if err := yaml.UnmarshalStrict(b, cfg); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	} else if explicit {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return cfg, nil
}

// applyEnv applies the environment's BERTH_* names and Dev8's PORT, HOST,
// CORS_ALLOWED_ORIGINS over berth.yaml.
func (cfg *serverConfig) applyEnv(getenv func(string) string) {
	set := func(dst *string, names ...string) {
		for _, n := range names {
			if v := getenv(n); v != "" {
				*dst = v
				return
			}
		}
	}
	set(&cfg.Listen, "BERTH_LISTEN", "BERTH_ADDR")
	if cfg.Listen == "" {
		host, port := getenv("HOST"), getenv("PORT")
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "8080"
		}
		cfg.Listen = host + ":" + port
	}
	set(&cfg.PublicURL, "BERTH_PUBLIC_URL", "AGENT_BASE_URL")
	set(&cfg.EnvDomain, "BERTH_ENV_DOMAIN")
	set(&cfg.DataDir, "BERTH_DATA_DIR")
	if cfg.DataDir == "" {
		cfg.DataDir = "./berth-data"
	}
	set(&cfg.WorkloadDir, "BERTH_WORKLOAD_DIR")
	set(&cfg.DatabaseURL, "BERTH_DATABASE_URL", "DATABASE_URL")
	set(&cfg.DefaultTarget, "BERTH_DEFAULT_TARGET")
	set(&cfg.SessionTTL, "BERTH_SESSION_TTL")
	set(&cfg.LogLevel, "BERTH_LOG_LEVEL")
	set(&cfg.SyncInterval, "BERTH_SYNC_INTERVAL")
	set(&cfg.OrphanInterval, "BERTH_ORPHAN_INTERVAL")
	set(&cfg.MetricsInterval, "BERTH_METRICS_INTERVAL")
	set(&cfg.LokiURL, "LOKI_URL")
	set(&cfg.PrometheusURL, "PROMETHEUS_URL")
	set(&cfg.MetricsRawRetention, "BERTH_METRICS_RAW_RETENTION")
	set(&cfg.MetricsMinuteRetention, "BERTH_METRICS_MINUTE_RETENTION")
	set(&cfg.MetricsHourRetention, "BERTH_METRICS_HOUR_RETENTION")
	set(&cfg.HeaderTimeout, "BERTH_HEADER_TIMEOUT")
	set(&cfg.BodyTimeout, "BERTH_BODY_TIMEOUT")
	set(&cfg.IdleTimeout, "BERTH_IDLE_TIMEOUT")
	set(&cfg.MetricsToken, "BERTH_METRICS_TOKEN")
	set(&cfg.MemoryLimit, "BERTH_MEMORY_LIMIT")
	set(&cfg.ShutdownDelay, "BERTH_SHUTDOWN_DELAY")
	if v := getenv("BERTH_PPROF"); v != "" {
		cfg.Pprof = v == "true" || v == "1"
	}
	if v := getenv("BERTH_TRUSTED_PROXIES"); v != "" {
		cfg.TrustedProxies = strings.Split(v, ",")
	}
	if v := getenv("CORS_ALLOWED_ORIGINS"); v != "" {
		cfg.AllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
			}
		}
	}
}

// applyEnvNumbers applies the numeric variables, each checked, and the
// numbers' defaults.
func (cfg *serverConfig) applyEnvNumbers(getenv func(string) string) error {
	for _, f := range []struct {
		name string
		dst  *float64
		def  float64
	}{{"BERTH_AUTH_FAILURE_LIMIT", &cfg.AuthFailureLimit, 30}, {"BERTH_LOGIN_FAILURE_LIMIT", &cfg.LoginFailureLimit, 10}} {
		if v := getenv(f.name); v != "" {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%s: %q is not a number (failures per minute; negative turns it off)", f.name, v)
			}
			*f.dst = n
		}
		if *f.dst == 0 {
			*f.dst = f.def
		}
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"BERTH_MAX_REPLICAS", &cfg.MaxReplicas}, {"BERTH_WS_MAX_CLIENTS", &cfg.WSMaxClients}, {"BERTH_WS_MAX_CLIENTS_PER_USER", &cfg.WSMaxClientsPerUser}} {
		if v := getenv(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 1 {
				return fmt.Errorf("%s: %q is not a positive whole number", n.name, v)
			}
			*n.dst = i
		}
	}
	if v := getenv("BERTH_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("BERTH_RATE_LIMIT: %q is not a number (requests per second; negative turns it off)", v)
		}
		cfg.RateLimit = f
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 100
	}
	return nil
}

// checkTargets defaults the targets to one local target and refuses what
// could never work, naming the target and the field.
func (cfg *serverConfig) checkTargets() error {
	if len(cfg.Targets) == 0 {
		cfg.Targets = []targetConfig{{Name: "local", Type: "local"}}
	}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Name == "" {
			return fmt.Errorf("targets[%d]: name is required", i)
		}
		switch t.Type {
		case "local":
			if _, err := t.localTarget.Config(local.Config{}); err != nil {
				return fmt.Errorf("targets[%d] (%s): %w", i, t.Name, err)
			}
		case "kubernetes":
			if t.CleanupOrphans {
				grace, err := time.ParseDuration(cmp.Or(t.OrphanGrace, "1h"))
				if err != nil {
					return fmt.Errorf("targets[%d] (%s): orphanGrace: %q is not a duration (e.g. 1h)", i, t.Name, t.OrphanGrace)
				}
				t.orphanGrace = grace
			}
		case "aci":
		default:
			return fmt.Errorf("targets[%d] (%s): type %q is not one of local, kubernetes, aci", i, t.Name, t.Type)
		}
		for _, r := range t.CommandRoles {
			if !r.Valid() {
				return fmt.Errorf("targets[%d] (%s): commandRoles: %q is not a role (viewer, operator, admin)", i, t.Name, r)
			}
		}
		if t.Prices != nil {
			if err := t.Prices.Validate(fmt.Sprintf("targets[%d] (%s): prices", i, t.Name)); err != nil {
				return err
			}
		}
		if t.CommandRoles != nil && len(t.CommandRoles) == 0 && len(t.ServiceTemplates) == 0 {
			return fmt.Errorf("targets[%d] (%s): commandRoles is empty and there are no serviceTemplates: nobody could run a service there", i, t.Name)
		}
		for name, st := range t.ServiceTemplates {
			tpl := berth.ServiceTemplate{Command: st.Command, Image: st.Image, Params: st.Params}
			if err := tpl.Validate(t.Name, name); err != nil {
				return fmt.Errorf("targets[%d]: %w", i, err)
			}
		}
	}
	return nil
}
