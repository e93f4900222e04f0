package berth

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidateDNSLabel checks that v is a DNS-1123 label (what Kubernetes
// requires of names): lower-case alphanumerics and '-', 1 to 63 characters.
func ValidateDNSLabel(field, v string) error {
	switch {
	case v == "":
		return Invalid(field, "is required")
	case len(v) > 63:
		return Invalid(field, "must be at most 63 characters, got %d", len(v))
	case !dnsLabel.MatchString(v):
		return Invalid(field, "%q must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit", v)
	}
	return nil
}

var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateEnvName checks an environment variable name.
func ValidateEnvName(field, v string) error {
	if !envVarName.MatchString(v) || len(v) > 255 {
		return Invalid(field, "%q is not a valid environment variable name", v)
	}
	return nil
}

// ValidateEnv checks the names and values of environment variables: a
// value may hold any text but NUL, which no process environment can carry.
func ValidateEnv(field string, env map[string]string) error {
	for k, v := range env {
		if err := ValidateEnvName(field, k); err != nil {
			return err
		}
		if strings.IndexByte(v, 0) >= 0 {
			return Invalid(field, "value of %s contains a NUL byte", k)
		}
	}
	return nil
}

// PlainText reports whether s holds no control characters (NUL included)
// and no bidirectional formatting characters, which make text read
// otherwise than it is stored (U+202E RIGHT-TO-LEFT OVERRIDE and kin).
func PlainText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
	}) < 0
}

// ParseCPU parses a Kubernetes CPU quantity strictly ("500m", "2", "0.5")
// into millicores.
func ParseCPU(field, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if strings.HasSuffix(v, "m") {
		n, err := strconv.ParseInt(strings.TrimSuffix(v, "m"), 10, 64)
		if err != nil || n <= 0 {
			return 0, Invalid(field, "%q is not a CPU quantity (e.g. 500m, 2)", v)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1e6 || strings.ContainsAny(v, "eE+-") {
		return 0, Invalid(field, "%q is not a CPU quantity (e.g. 500m, 2)", v)
	}
	return int64(f * 1000), nil
}

var memSuffix = []struct {
	s string
	m int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// ParseMemory parses a Kubernetes memory quantity strictly ("256Mi", "1G",
// "1048576") into bytes.
func ParseMemory(field, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	num, mult := v, int64(1)
	for _, s := range memSuffix {
		if strings.HasSuffix(v, s.s) {
			num, mult = strings.TrimSuffix(v, s.s), s.m
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, Invalid(field, "%q is not a memory quantity (e.g. 256Mi, 1Gi)", v)
	}
	return n * mult, nil
}

// ValidateServiceSpec checks a spec for the given target provider.
// maxReplicas bounds spec.replicas.
func ValidateServiceSpec(name string, s *ServiceSpec, provider string, maxReplicas int) error {
	if err := ValidateDNSLabel("name", name); err != nil {
		return err
	}
	if s.Namespace != "" {
		if err := ValidateDNSLabel("namespace", s.Namespace); err != nil {
			return err
		}
	}
	if r := s.ReplicaCount(); r < 0 || r > maxReplicas {
		return Invalid("replicas", "must be between 0 and %d, got %d", maxReplicas, r)
	}
	switch provider {
	case ProviderLocal:
		if len(s.Command) == 0 || strings.TrimSpace(s.Command[0]) == "" {
			return Invalid("command", "is required on a local target (argv, e.g. [\"python3\", \"-m\", \"http.server\"])")
		}
	default:
		if s.Image == "" {
			return Invalid("image", "is required on a %s target", strings.ToLower(provider))
		}
	}
	for i, a := range s.Command {
		if strings.IndexByte(a, 0) >= 0 {
			return Invalid("command", "argument %d contains a NUL byte", i)
		}
	}
	if err := ValidateEnv("env", s.Env); err != nil {
		return err
	}
	for k := range s.Secrets {
		if err := ValidateEnvName("secrets", k); err != nil {
			return err
		}
		if _, dup := s.Env[k]; dup {
			return Invalid("secrets", "%s is also set in env", k)
		}
	}
	seenPort := map[string]bool{}
	for i, p := range s.Ports {
		if p.Name == "" {
			return Invalid("ports", "port %d needs a name", i)
		}
		if len(p.Name) > 15 || !dnsLabel.MatchString(p.Name) {
			return Invalid("ports", "name %q must be a DNS-1123 label of at most 15 characters", p.Name)
		}
		if seenPort[p.Name] {
			return Invalid("ports", "name %q is used twice", p.Name)
		}
		seenPort[p.Name] = true
		if p.Port < 0 || p.Port > 65535 || (p.Port == 0 && provider != ProviderLocal) {
			return Invalid("ports", "port %q must be between 1 and 65535, got %d", p.Name, p.Port)
		}
	}
	if _, err := ParseCPU("resources.cpu", s.Resources.CPU); err != nil {
		return err
	}
	if _, err := ParseMemory("resources.memory", s.Resources.Memory); err != nil {
		return err
	}
	if hc := s.HealthCheck; hc != nil {
		if hc.HTTP == "" && !hc.TCP {
			return Invalid("healthCheck", "needs http (a path) or tcp: true")
		}
		if hc.HTTP != "" && hc.TCP {
			return Invalid("healthCheck", "takes http or tcp, not both")
		}
		if hc.HTTP != "" && !strings.HasPrefix(hc.HTTP, "/") {
			return Invalid("healthCheck.http", "%q must be a path starting with /", hc.HTTP)
		}
		if len(s.Ports) == 0 {
			return Invalid("healthCheck", "needs a port: add one to ports")
		}
		if hc.Port != "" && !seenPort[hc.Port] {
			return Invalid("healthCheck.port", "%q is not a port of this service", hc.Port)
		}
	}
	for f := range s.Config.Files {
		if f == "" || strings.ContainsAny(f, "/\\\x00") || f == "." || f == ".." || len(f) > 253 {
			return Invalid("config.files", "%q must be a plain file name", f)
		}
	}
	return nil
}

// CreateEnvironmentRequest is the body of POST /api/v1/environments: the Dev8
// agent's fields plus berth's target, template, env and autoStopMinutes.
// Zero numbers take the Dev8 defaults.
type CreateEnvironmentRequest struct {
	Name            string            `json:"name"`
	UserID          string            `json:"userId,omitempty"`
	CloudProvider   string            `json:"cloudProvider,omitempty"`
	CloudRegion     string            `json:"cloudRegion,omitempty"`
	CPUCores        int               `json:"cpuCores,omitempty"`
	MemoryGB        int               `json:"memoryGB,omitempty"`
	StorageGB       int               `json:"storageGB,omitempty"`
	BaseImage       string            `json:"baseImage,omitempty"`
	GitUserName     string            `json:"gitUserName,omitempty"`
	GitUserEmail    string            `json:"gitUserEmail,omitempty"`
	Target          string            `json:"target,omitempty"`
	Template        string            `json:"template,omitempty"`
	Env             map[string]string `json:"env,omitempty"`
	AutoStopMinutes int               `json:"autoStopMinutes,omitempty"`
	// TTL ("72h", "7d") or DeleteAt has berth delete the environment then
	// (its volume kept); give one or neither.
	TTL      string     `json:"ttl,omitempty"`
	DeleteAt *time.Time `json:"deleteAt,omitempty"`
	EnvSecrets
}

// Normalize applies the Dev8 defaults and validates every field; the first
// fault is returned as INVALID_REQUEST naming the field.
func (r *CreateEnvironmentRequest) Normalize() error {
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return Invalid("name", "is required")
	case utf8.RuneCountInString(r.Name) > 63:
		return Invalid("name", "must be at most 63 characters")
	case !PlainText(r.Name):
		return Invalid("name", "must not contain control or bidirectional formatting characters")
	}
	if len(r.UserID) > 128 || !PlainText(r.UserID) {
		return Invalid("userId", "must be at most 128 printable characters")
	}
	r.CloudProvider = strings.ToUpper(strings.TrimSpace(r.CloudProvider))
	switch r.CloudProvider {
	case "", ProviderLocal, ProviderKubernetes, ProviderAzure, ProviderAWS, ProviderGCP:
	default:
		return Invalid("cloudProvider", "%q is not one of LOCAL, KUBERNETES, AZURE, AWS, GCP", r.CloudProvider)
	}
	if len(r.CloudRegion) > 63 || !PlainText(r.CloudRegion) {
		return Invalid("cloudRegion", "must be at most 63 printable characters")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&r.CPUCores, DefaultCPUCores)
	def(&r.MemoryGB, DefaultMemoryGB)
	def(&r.StorageGB, DefaultStorageGB)
	if r.CPUCores < MinCPUCores || r.CPUCores > MaxCPUCores {
		return Invalid("cpuCores", "must be between %d and %d, got %d", MinCPUCores, MaxCPUCores, r.CPUCores)
	}
	if r.MemoryGB < MinMemoryGB || r.MemoryGB > MaxMemoryGB {
		return Invalid("memoryGB", "must be between %d and %d, got %d", MinMemoryGB, MaxMemoryGB, r.MemoryGB)
	}
	if r.StorageGB < MinStorageGB || r.StorageGB > MaxStorageGB {
		return Invalid("storageGB", "must be between %d and %d, got %d", MinStorageGB, MaxStorageGB, r.StorageGB)
	}
	if len(r.BaseImage) > 255 {
		return Invalid("baseImage", "must be at most 255 characters")
	}
	if r.Target != "" {
		if err := ValidateDNSLabel("target", r.Target); err != nil {
			return err
		}
	}
	if r.Template != "" {
		if err := ValidateDNSLabel("template", r.Template); err != nil {
			return err
		}
	}
	if err := ValidateEnv("env", r.Env); err != nil {
		return err
	}
	for k, v := range r.Extra {
		if err := ValidateEnvName("secrets", k); err != nil {
			return err
		}
		if strings.IndexByte(v, 0) >= 0 {
			return Invalid("secrets", "value of %s contains a NUL byte", k)
		}
		if _, dup := r.Env[k]; dup {
			return Invalid("secrets", "%s is also set in env", k)
		}
	}
	if r.AutoStopMinutes < 0 || r.AutoStopMinutes > 7*24*60 {
		return Invalid("autoStopMinutes", "must be between 0 (never) and %d", 7*24*60)
	}
	// Secrets and the git identity reach the workspace as environment
	// variables too: no NUL (the message never shows a value).
	for _, f := range []struct{ field, v string }{{"gitUserName", r.GitUserName}, {"gitUserEmail", r.GitUserEmail},
		{"githubToken", r.GithubToken}, {"sshPublicKey", r.SSHPublicKey}, {"codeServerPassword", r.CodeServerPassword},
		{"anthropicApiKey", r.AnthropicAPIKey}, {"openaiApiKey", r.OpenAIAPIKey}, {"geminiApiKey", r.GeminiAPIKey}} {
		if strings.IndexByte(f.v, 0) >= 0 {
			return Invalid(f.field, "contains a NUL byte")
		}
	}
	if len(r.GitUserName) > 255 || len(r.GitUserEmail) > 255 {
		return Invalid("gitUserName", "git identity fields must be at most 255 characters")
	}
	if r.TTL != "" {
		if r.DeleteAt != nil {
			return Invalid("ttl", "give ttl or deleteAt, not both")
		}
		if _, err := ParseLongDuration("ttl", r.TTL); err != nil {
			return err
		}
	}
	return nil
}
