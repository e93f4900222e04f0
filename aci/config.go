package aci

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// DefaultImage is Dev8's workspace image, used when neither the target nor
// the request names one.
const DefaultImage = "vaibhavsing/dev8-workspace:latest"

// Config is one ACI target: one region of one subscription.
type Config struct {
	Name           string // target name, e.g. aci-eastus
	SubscriptionID string
	ResourceGroup  string
	Region         string // Azure location, e.g. eastus
	StorageAccount string // holds the workspaces' file shares; in Region
	// StorageKey mounts the shares; when empty it is read once through
	// StorageAccounts.ListKeys (the identity then needs listKeys rights).
	StorageKey string
	// Image is the workspace image (CONTAINER_IMAGE). A request's baseImage
	// or a template replaces it only when it is a full image reference.
	Image string
	// Templates maps a template name to an image reference.
	Templates        map[string]string
	RegistryServer   string
	RegistryUsername string
	RegistryPassword string
	WorkspacePath    string // where the share is mounted (default /workspace)
	IDEPort          int32  // the IDE's port, public (default 8080)
	// AgentBaseURL is handed to workspaces as AGENT_BASE_URL (Dev8's name).
	AgentBaseURL  string
	Credential    azcore.TokenCredential
	ClientOptions *arm.ClientOptions
	// OperationTimeout bounds each long-running operation (create, start,
	// delete), polling included (default 10m). PollInterval is the pause
	// between polls when Azure names none (default 5s).
	OperationTimeout time.Duration
	PollInterval     time.Duration
	CleanupOrphans   bool
	OrphanGrace      time.Duration // default 1h
	// Known reports whether berth's store has the environment; resources
	// tagged as berth's whose environment is unknown are orphans. Nil: none
	// is ever called an orphan.
	Known  func(ctx context.Context, envID string) (bool, error)
	Logger *slog.Logger
	Now    func() time.Time
}

// TargetConfig is a berth.yaml `targets:` entry of type aci. Secrets (the
// client secret, the storage key, the registry password) are not read from
// the file: they come from AZURE_CLIENT_SECRET, AZURE_STORAGE_KEY and
// REGISTRY_PASSWORD. Empty fields fall back to Dev8's environment names.
type TargetConfig struct {
	Name           string `json:"name"`
	SubscriptionID string `json:"subscriptionId"`
	TenantID       string `json:"tenantId"`
	ClientID       string `json:"clientId"`
	// Auth is clientSecret, managedIdentity or default (the azidentity
	// default chain). Empty: clientSecret when AZURE_CLIENT_SECRET is set,
	// managedIdentity when only a client id is, else default.
	Auth             string            `json:"auth"`
	ResourceGroup    string            `json:"resourceGroup"`
	Region           string            `json:"region"`
	StorageAccount   string            `json:"storageAccount"`
	Image            string            `json:"image"`
	Templates        map[string]string `json:"templates"`
	RegistryServer   string            `json:"registryServer"`
	RegistryUsername string            `json:"registryUsername"`
	WorkspacePath    string            `json:"workspacePath"`
	IDEPort          int32             `json:"idePort"`
	CleanupOrphans   bool              `json:"cleanupOrphans"`
	OrphanGrace      string            `json:"orphanGrace"` // duration, e.g. 1h
}

// Config resolves the entry against the environment (Dev8's names fill what
// the file leaves empty) and builds the credential.
func (t TargetConfig) Config(getenv func(string) string) (Config, error) {
	or := func(v string, names ...string) string {
		for _, n := range names {
			if v != "" {
				return v
			}
			v = strings.TrimSpace(getenv(n))
		}
		return v
	}
	region := strings.ToLower(or(t.Region, "AZURE_REGION"))
	suffix := "_" + strings.ToUpper(region)
	c := Config{
		Name:             t.Name,
		SubscriptionID:   or(t.SubscriptionID, "AZURE_SUBSCRIPTION_ID"),
		ResourceGroup:    or(t.ResourceGroup, "AZURE_RESOURCE_GROUP"+suffix, "AZURE_RESOURCE_GROUP"),
		Region:           region,
		StorageAccount:   or(t.StorageAccount, "AZURE_STORAGE_ACCOUNT"+suffix, "AZURE_STORAGE_ACCOUNT"),
		StorageKey:       or("", "AZURE_STORAGE_KEY"+suffix, "AZURE_STORAGE_KEY"),
		Image:            or(t.Image, "CONTAINER_IMAGE"),
		Templates:        t.Templates,
		RegistryServer:   or(t.RegistryServer, "REGISTRY_SERVER"),
		RegistryUsername: or(t.RegistryUsername, "REGISTRY_USERNAME"),
		RegistryPassword: or("", "REGISTRY_PASSWORD"),
		WorkspacePath:    t.WorkspacePath,
		IDEPort:          t.IDEPort,
		AgentBaseURL:     or("", "BERTH_PUBLIC_URL", "AGENT_BASE_URL"),
		CleanupOrphans:   t.CleanupOrphans,
	}
	if c.Name == "" {
		c.Name = "aci-" + region
	}
	if t.OrphanGrace != "" {
		d, err := time.ParseDuration(t.OrphanGrace)
		if err != nil || d < 0 {
			return Config{}, fmt.Errorf("target %s: orphanGrace: %q is not a duration (e.g. 1h)", c.Name, t.OrphanGrace)
		}
		c.OrphanGrace = d
	}
	tenant := or(t.TenantID, "AZURE_TENANT_ID")
	client := or(t.ClientID, "AZURE_CLIENT_ID")
	secret := getenv("AZURE_CLIENT_SECRET")
	auth := t.Auth
	if auth == "" {
		switch {
		case secret != "":
			auth = "clientSecret"
		case client != "":
			auth = "managedIdentity"
		default:
			auth = "default"
		}
	}
	var err error
	switch auth {
	case "clientSecret":
		if tenant == "" || client == "" || secret == "" {
			return Config{}, fmt.Errorf("target %s: auth clientSecret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET", c.Name)
		}
		c.Credential, err = azidentity.NewClientSecretCredential(tenant, client, secret, nil)
	case "managedIdentity":
		var opts azidentity.ManagedIdentityCredentialOptions
		if client != "" {
			opts.ID = azidentity.ClientID(client)
		}
		c.Credential, err = azidentity.NewManagedIdentityCredential(&opts)
	case "default":
		c.Credential, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{TenantID: tenant})
	default:
		return Config{}, fmt.Errorf("target %s: auth: %q is not one of clientSecret, managedIdentity, default", c.Name, auth)
	}
	if err != nil {
		return Config{}, fmt.Errorf("target %s: azure credential: %w", c.Name, err)
	}
	return c, nil
}

// ConfigsFromEnv returns one target per region from Dev8's environment
// names, or none when AZURE_SUBSCRIPTION_ID is unset. AZURE_REGIONS
// (comma-separated) or AZURE_REGION name the regions (default eastus, Dev8's);
// targets are named aci-<region>. AZURE_RESOURCE_GROUP_<REGION>,
// AZURE_STORAGE_ACCOUNT_<REGION> and AZURE_STORAGE_KEY_<REGION> (region in
// upper case) override the unsuffixed names for one region.
// BERTH_ACI_CLEANUP_ORPHANS=true turns orphan removal on, after
// BERTH_ACI_ORPHAN_GRACE (default 1h).
func ConfigsFromEnv(getenv func(string) string) ([]Config, error) {
	if getenv("AZURE_SUBSCRIPTION_ID") == "" {
		return nil, nil
	}
	regions := getenv("AZURE_REGIONS")
	if regions == "" {
		regions = getenv("AZURE_REGION")
	}
	if regions == "" {
		regions = "eastus"
	}
	var cleanup bool
	if v := getenv("BERTH_ACI_CLEANUP_ORPHANS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("BERTH_ACI_CLEANUP_ORPHANS: %q is not true or false", v)
		}
		cleanup = b
	}
	var out []Config
	seen := map[string]bool{}
	for _, region := range strings.Split(regions, ",") {
		region = strings.ToLower(strings.TrimSpace(region))
		if region == "" || seen[region] {
			continue
		}
		seen[region] = true
		c, err := TargetConfig{Region: region, CleanupOrphans: cleanup, OrphanGrace: getenv("BERTH_ACI_ORPHAN_GRACE")}.Config(getenv)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
