package berth

import (
	"context"
	"time"
)

// EnvStatus is the lifecycle status of an environment (Dev8's names).
type EnvStatus string

const (
	EnvCreating EnvStatus = "CREATING"
	EnvStarting EnvStatus = "STARTING"
	EnvRunning  EnvStatus = "RUNNING"
	EnvStopping EnvStatus = "STOPPING"
	EnvStopped  EnvStatus = "STOPPED"
	EnvError    EnvStatus = "ERROR"
	EnvDeleting EnvStatus = "DELETING"
)

// Cloud providers as Dev8 names them in cloudProvider.
const (
	ProviderLocal      = "LOCAL"
	ProviderKubernetes = "KUBERNETES"
	ProviderAzure      = "AZURE"
	ProviderAWS        = "AWS"
	ProviderGCP        = "GCP"
)

// Limits and defaults of the Dev8 environment contract.
const (
	MinCPUCores, MaxCPUCores, DefaultCPUCores    = 1, 4, 2
	MinMemoryGB, MaxMemoryGB, DefaultMemoryGB    = 1, 16, 4
	MinStorageGB, MaxStorageGB, DefaultStorageGB = 10, 100, 20
)

// EnvSecrets are the write-only values of an environment. They are encrypted
// at rest, handed to the runtime as environment variables (SecureValues on
// ACI, a Secret on Kubernetes) and never returned, logged or audited.
type EnvSecrets struct {
	GithubToken        string `json:"githubToken,omitempty"`
	SSHPublicKey       string `json:"sshPublicKey,omitempty"`
	CodeServerPassword string `json:"codeServerPassword,omitempty"`
	AnthropicAPIKey    string `json:"anthropicApiKey,omitempty"`
	OpenAIAPIKey       string `json:"openaiApiKey,omitempty"`
	GeminiAPIKey       string `json:"geminiApiKey,omitempty"`
	// Extra are the request's own credentials (`secrets`, as services have):
	// environment variables that runtimes keep secret (DATABASE_URL, a DSN,
	// NPM_AUTH…) whatever their name.
	Extra map[string]string `json:"secrets,omitempty"`
}

// IsZero says whether no secret is set.
func (s EnvSecrets) IsZero() bool {
	return s.GithubToken == "" && s.SSHPublicKey == "" && s.CodeServerPassword == "" && s.AnthropicAPIKey == "" &&
		s.OpenAIAPIKey == "" && s.GeminiAPIKey == "" && len(s.Extra) == 0
}

// EnvVars returns the secrets as the environment variables a workspace reads.
// Empty values are left out.
func (s EnvSecrets) EnvVars() map[string]string {
	m := map[string]string{}
	for k, v := range s.Extra {
		m[k] = v
	}
	add := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	add("GITHUB_TOKEN", s.GithubToken)
	add("SSH_PUBLIC_KEY", s.SSHPublicKey)
	add("PASSWORD", s.CodeServerPassword) // the name code-server reads
	add("CODE_SERVER_PASSWORD", s.CodeServerPassword)
	add("ANTHROPIC_API_KEY", s.AnthropicAPIKey)
	add("OPENAI_API_KEY", s.OpenAIAPIKey)
	add("GEMINI_API_KEY", s.GeminiAPIKey)
	return m
}

// Values lists the non-empty secret values, for redaction.
func (s EnvSecrets) Values() []string {
	var out []string
	for _, v := range []string{s.GithubToken, s.SSHPublicKey, s.CodeServerPassword, s.AnthropicAPIKey, s.OpenAIAPIKey, s.GeminiAPIKey} {
		if v != "" {
			out = append(out, v)
		}
	}
	for _, v := range s.Extra {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Environment is a development environment. The JSON names are the Dev8
// agent contract; berth adds target, template, env, autoStopMinutes, message.
type Environment struct {
	ID                  string            `json:"id"`
	UserID              string            `json:"userId"`
	Name                string            `json:"name"`
	Status              EnvStatus         `json:"status"`
	CloudProvider       string            `json:"cloudProvider"`
	CloudRegion         string            `json:"cloudRegion"`
	Target              string            `json:"target"`
	Template            string            `json:"template,omitempty"`
	ACIContainerGroupID string            `json:"aciContainerGroupId"`
	ACIPublicIP         string            `json:"aciPublicIp"`
	AzureFileShareName  string            `json:"azureFileShareName"`
	VSCodeURL           string            `json:"vsCodeUrl"`
	CPUCores            int               `json:"cpuCores"`
	MemoryGB            int               `json:"memoryGB"`
	StorageGB           int               `json:"storageGB"`
	BaseImage           string            `json:"baseImage"`
	GitUserName         string            `json:"gitUserName,omitempty"`
	GitUserEmail        string            `json:"gitUserEmail,omitempty"`
	Env                 map[string]string `json:"env,omitempty"`
	AutoStopMinutes     int               `json:"autoStopMinutes,omitempty"`
	Message             string            `json:"message,omitempty"`
	// Stopped is the desired state: true after a user (or auto-stop) stopped it.
	Stopped bool `json:"-"`
	// StoppedAt is when it was last stopped (nil while it runs); dormancy
	// counts from it.
	StoppedAt *time.Time `json:"stoppedAt,omitempty"`
	// DormantSince is set once it has been stopped longer than dormantAfter
	// (docs/quotas.md); starting it clears it.
	DormantSince *time.Time `json:"dormantSince,omitempty"`
	// DeleteAt, when set, is when berth deletes it (ttl/deleteAt at create).
	DeleteAt *time.Time `json:"deleteAt,omitempty"`
	// Pinned exempts it from dormancy and dormant deletion.
	Pinned         bool       `json:"pinned,omitempty"`
	Secrets        EnvSecrets `json:"-"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	LastAccessedAt time.Time  `json:"lastAccessedAt"`
}

// ActivitySnapshot is what a workspace reports to POST …/{id}/activity.
type ActivitySnapshot struct {
	LastIDEActivity      *time.Time `json:"lastIDEActivity,omitempty"`
	LastSSHActivity      *time.Time `json:"lastSSHActivity,omitempty"`
	ActiveIDEConnections int        `json:"activeIDEConnections"`
	ActiveSSHConnections int        `json:"activeSSHConnections"`
}

// Activity is the body of POST /api/v1/environments/{id}/activity.
type Activity struct {
	Snapshot  ActivitySnapshot `json:"snapshot"`
	Timestamp *time.Time       `json:"timestamp,omitempty"`
}

// EnvironmentFilter selects environments from the store.
type EnvironmentFilter struct {
	UserID string // empty: all users
	Target string
	Offset int
	Limit  int // 0: no limit
}

// EnvironmentStore keeps environments. Secrets are encrypted at rest by the store.
type EnvironmentStore interface {
	CreateEnvironment(ctx context.Context, env *Environment) error
	// UpdateEnvironment replaces every mutable field. ENOTFOUND if missing.
	UpdateEnvironment(ctx context.Context, env *Environment) error
	GetEnvironment(ctx context.Context, id string) (*Environment, error)
	// ListEnvironments returns matching environments, newest first, and the total before paging.
	ListEnvironments(ctx context.Context, f EnvironmentFilter) ([]*Environment, int, error)
	DeleteEnvironment(ctx context.Context, id string) error
	// TouchEnvironment sets lastAccessedAt (only ever forward).
	TouchEnvironment(ctx context.Context, id string, at time.Time) error
}
