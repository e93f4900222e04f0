// Package aci runs berth's development environments on Azure Container
// Instances, one target per region: a container group per environment with
// its workspace on an Azure Files share. It knows nothing of HTTP or the
// store; the Known hook tells it which environments berth still has.
package aci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage/v2"

	"github.com/berthhq/berth"
)

// Runtime is an ACI target. It runs environments only.
type Runtime struct {
	berth.NoServices
	cfg        Config
	groups     *armcontainerinstance.ContainerGroupsClient
	containers *armcontainerinstance.ContainersClient
	shares     *armstorage.FileSharesClient
	accounts   *armstorage.AccountsClient
	log        *slog.Logger
	now        func() time.Time

	locksMu sync.Mutex
	locks   map[string]*envLock

	keyMu      sync.Mutex
	storageKey string

	orphanMu   sync.Mutex
	orphanSeen map[string]time.Time // "type/id" → first seen orphaned
}

var (
	_ berth.Runtime           = (*Runtime)(nil)
	_ berth.EnvironmentLogger = (*Runtime)(nil)
	_ berth.Inventorier       = (*Runtime)(nil)
)

// New checks cfg and builds the Azure clients. It makes no request.
func New(cfg Config) (*Runtime, error) {
	for _, f := range []struct{ name, v string }{
		{"name", cfg.Name}, {"subscription id", cfg.SubscriptionID}, {"resource group", cfg.ResourceGroup},
		{"region", cfg.Region}, {"storage account", cfg.StorageAccount},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("aci target %q: %s is required", cfg.Name, f.name)
		}
	}
	if cfg.Credential == nil {
		return nil, fmt.Errorf("aci target %s: no Azure credential", cfg.Name)
	}
	cfg.Region = strings.ToLower(cfg.Region)
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if cfg.WorkspacePath == "" {
		cfg.WorkspacePath = "/workspace"
	}
	if cfg.IDEPort == 0 {
		cfg.IDEPort = 8080
	}
	if cfg.OperationTimeout <= 0 {
		cfg.OperationTimeout = 10 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.OrphanGrace <= 0 {
		cfg.OrphanGrace = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := clientOptions(cfg.ClientOptions)
	r := &Runtime{
		NoServices: berth.NoServices{Target: cfg.Name},
		cfg:        cfg, log: cfg.Logger, now: cfg.Now,
		locks: map[string]*envLock{}, orphanSeen: map[string]time.Time{},
	}
	var err error
	if r.groups, err = armcontainerinstance.NewContainerGroupsClient(cfg.SubscriptionID, cfg.Credential, opts); err != nil {
		return nil, fmt.Errorf("aci target %s: container groups client: %w", cfg.Name, err)
	}
	if r.containers, err = armcontainerinstance.NewContainersClient(cfg.SubscriptionID, cfg.Credential, opts); err != nil {
		return nil, fmt.Errorf("aci target %s: containers client: %w", cfg.Name, err)
	}
	if r.shares, err = armstorage.NewFileSharesClient(cfg.SubscriptionID, cfg.Credential, opts); err != nil {
		return nil, fmt.Errorf("aci target %s: file shares client: %w", cfg.Name, err)
	}
	if r.accounts, err = armstorage.NewAccountsClient(cfg.SubscriptionID, cfg.Credential, opts); err != nil {
		return nil, fmt.Errorf("aci target %s: storage accounts client: %w", cfg.Name, err)
	}
	return r, nil
}

// clientOptions copies the caller's options and sets the retry policy when
// the caller left it alone: 429 and 5xx are retried with exponential
// backoff, and a Retry-After (or retry-after-ms) of up to a minute is
// honoured; azcore gives up on a longer one rather than sleep past it.
func clientOptions(in *arm.ClientOptions) *arm.ClientOptions {
	var o arm.ClientOptions
	if in != nil {
		o = *in
	}
	if o.Retry.MaxRetries == 0 {
		o.Retry.MaxRetries = 6
		o.Retry.RetryDelay = 2 * time.Second
		o.Retry.MaxRetryDelay = time.Minute
		o.Retry.StatusCodes = []int{http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	}
	return &o
}

// Info describes the target.
func (r *Runtime) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: r.cfg.Name, Provider: berth.ProviderAzure, Region: r.cfg.Region}
}

// Ping lists one page of the resource group's container groups.
func (r *Runtime) Ping(ctx context.Context) error {
	pager := r.groups.NewListByResourceGroupPager(r.cfg.ResourceGroup, nil)
	if _, err := pager.NextPage(ctx); err != nil {
		return r.azError(err, "reach Azure resource group %s", r.cfg.ResourceGroup)
	}
	return nil
}

// envLock serialises the operations of one environment in this process;
// Azure's PUTs being idempotent by name covers other processes.
type envLock struct {
	mu   sync.Mutex
	refs int
}

func (r *Runtime) lock(id string) func() {
	r.locksMu.Lock()
	l, ok := r.locks[id]
	if !ok {
		l = &envLock{}
		r.locks[id] = l
	}
	l.refs++
	r.locksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.locksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(r.locks, id)
		}
		r.locksMu.Unlock()
	}
}

// opContext bounds a long-running operation, polling included.
func (r *Runtime) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.OperationTimeout)
}

func (r *Runtime) pollOpts() *runtime.PollUntilDoneOptions {
	return &runtime.PollUntilDoneOptions{Frequency: r.cfg.PollInterval}
}

// ApplyEnvironment creates the environment's share and container group, or
// finds them from an earlier attempt, and leaves the group running (or
// stopped when env.Stopped).
func (r *Runtime) ApplyEnvironment(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return nil, err
	}
	unlock := r.lock(env.ID)
	defer unlock()
	g, err := r.getGroup(ctx, n.group)
	if err != nil {
		return nil, r.azError(err, "create environment %s: read container group %s", env.ID, n.group)
	}
	if g != nil && !strings.EqualFold(deref(g.Properties.ProvisioningState), "Failed") {
		if err := r.converge(ctx, env, n, g); err != nil {
			return nil, err
		}
		return r.state(ctx, env, n)
	}
	if g != nil {
		// A failed group is replaced: a retry must be able to succeed.
		r.log.Warn("replace failed container group", "environment", env.ID, "group", n.group)
		if err := r.deleteGroup(ctx, n.group); err != nil {
			return nil, r.azError(err, "create environment %s: remove failed container group %s", env.ID, n.group)
		}
	}
	spec, err := r.groupSpec(env, n)
	if err != nil {
		return nil, err
	}
	createdShare, err := r.ensureShare(ctx, env, n)
	if err != nil {
		return nil, r.azError(err, "create environment %s: create file share %s", env.ID, n.share)
	}
	key, err := r.accountKey(ctx)
	if err != nil {
		return nil, r.azError(err, "create environment %s: read key of storage account %s", env.ID, r.cfg.StorageAccount)
	}
	spec.Properties.Volumes[0].AzureFile.StorageAccountKey = &key
	r.log.Info("create container group", "environment", env.ID, "group", n.group, "share", n.share, "region", r.cfg.Region)
	if err := r.createGroup(ctx, n.group, spec); err != nil {
		r.undoCreate(ctx, env.ID, n, createdShare)
		return nil, r.azError(err, "create environment %s: create container group %s", env.ID, n.group)
	}
	if env.Stopped {
		if _, err := r.groups.Stop(ctx, r.cfg.ResourceGroup, n.group, nil); err != nil {
			return nil, r.azError(err, "create environment %s: stop container group %s", env.ID, n.group)
		}
	}
	return r.state(ctx, env, n)
}

func (r *Runtime) createGroup(ctx context.Context, name string, spec armcontainerinstance.ContainerGroup) error {
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	poller, err := r.groups.BeginCreateOrUpdate(ctx, r.cfg.ResourceGroup, name, spec, nil)
	if err != nil {
		return err
	}
	_, err = poller.PollUntilDone(ctx, r.pollOpts())
	return err
}

// undoCreate removes what a failed create made: the group (Azure may have
// kept a half-made one) and the share when this attempt created it. It runs
// on its own deadline so that a cancelled request still cleans up.
func (r *Runtime) undoCreate(ctx context.Context, envID string, n names, share bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.OperationTimeout)
	defer cancel()
	if err := r.deleteGroup(ctx, n.group); err != nil {
		r.log.Error("remove container group of failed create", "environment", envID, "group", n.group, "err", err)
	}
	if !share {
		return
	}
	if err := r.deleteShare(ctx, n.share); err != nil {
		r.log.Error("remove file share of failed create", "environment", envID, "share", n.share, "err", err)
	}
}

// converge brings an existing group to the desired run state.
func (r *Runtime) converge(ctx context.Context, env *berth.Environment, n names, g *armcontainerinstance.ContainerGroup) error {
	st := strings.ToLower(instanceState(g))
	switch {
	case env.Stopped && st != "stopped":
		if _, err := r.groups.Stop(ctx, r.cfg.ResourceGroup, n.group, nil); err != nil {
			return r.azError(err, "stop environment %s", env.ID)
		}
	case !env.Stopped && st == "stopped":
		return r.startGroup(ctx, env.ID, n.group)
	}
	return nil
}

func (r *Runtime) startGroup(ctx context.Context, envID, group string) error {
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	poller, err := r.groups.BeginStart(ctx, r.cfg.ResourceGroup, group, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, r.pollOpts())
	}
	if err != nil {
		return r.azError(err, "start environment %s", envID)
	}
	return nil
}

// StartEnvironment starts the container group; a group lost to a crash
// mid-create is created again (its share is reused).
func (r *Runtime) StartEnvironment(ctx context.Context, env *berth.Environment) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	unlock := r.lock(env.ID)
	g, err := r.getGroup(ctx, n.group)
	unlock()
	if err != nil {
		return r.azError(err, "start environment %s", env.ID)
	}
	if g == nil || strings.EqualFold(deref(g.Properties.ProvisioningState), "Failed") {
		cp := *env
		cp.Stopped = false
		_, err := r.ApplyEnvironment(ctx, &cp)
		return err
	}
	unlock = r.lock(env.ID)
	defer unlock()
	r.log.Info("start container group", "environment", env.ID, "group", n.group)
	return r.startGroup(ctx, env.ID, n.group)
}

// StopEnvironment stops (deallocates) the container group; billing of its
// CPU and memory stops, the share is kept.
func (r *Runtime) StopEnvironment(ctx context.Context, env *berth.Environment) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	unlock := r.lock(env.ID)
	defer unlock()
	r.log.Info("stop container group", "environment", env.ID, "group", n.group)
	if _, err := r.groups.Stop(ctx, r.cfg.ResourceGroup, n.group, nil); err != nil {
		if isNotFound(err) {
			return berth.Errorf(berth.EENVIRONMENT, "stop environment %s: container group %s does not exist (start recreates it)", env.ID, n.group)
		}
		return r.azError(err, "stop environment %s", env.ID)
	}
	return nil
}

// RestartEnvironment restarts the group's containers in place.
func (r *Runtime) RestartEnvironment(ctx context.Context, env *berth.Environment) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	unlock := r.lock(env.ID)
	defer unlock()
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	poller, err := r.groups.BeginRestart(ctx, r.cfg.ResourceGroup, n.group, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, r.pollOpts())
	}
	if err != nil {
		return r.azError(err, "restart environment %s", env.ID)
	}
	return nil
}

// DeleteEnvironment removes the group, then the share unless keepVolume.
// What is already gone counts as removed.
func (r *Runtime) DeleteEnvironment(ctx context.Context, env *berth.Environment, keepVolume bool) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	unlock := r.lock(env.ID)
	defer unlock()
	r.log.Info("delete container group", "environment", env.ID, "group", n.group, "keepVolume", keepVolume)
	if err := r.deleteGroup(ctx, n.group); err != nil {
		return r.azError(err, "delete environment %s: delete container group %s", env.ID, n.group)
	}
	if keepVolume {
		return nil
	}
	if err := r.deleteShare(ctx, n.share); err != nil {
		return r.azError(err, "delete environment %s: delete file share %s", env.ID, n.share)
	}
	return nil
}

func (r *Runtime) deleteGroup(ctx context.Context, name string) error {
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	poller, err := r.groups.BeginDelete(ctx, r.cfg.ResourceGroup, name, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, r.pollOpts())
	}
	if isNotFound(err) {
		return nil
	}
	return err
}

func (r *Runtime) deleteShare(ctx context.Context, name string) error {
	_, err := r.shares.Delete(ctx, r.cfg.ResourceGroup, r.cfg.StorageAccount, name, nil)
	if isNotFound(err) {
		return nil
	}
	return err
}

// EnvironmentState reads the group. A group that does not exist is
// NOT_FOUND, so that a reader never overwrites a create in progress.
func (r *Runtime) EnvironmentState(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return nil, err
	}
	return r.state(ctx, env, n)
}

func (r *Runtime) state(ctx context.Context, env *berth.Environment, n names) (*berth.EnvironmentState, error) {
	g, err := r.getGroup(ctx, n.group)
	if err != nil {
		return nil, r.azError(err, "read environment %s", env.ID)
	}
	if g == nil {
		return nil, berth.Errorf(berth.ENOTFOUND, "environment %s: container group %s not found on target %s", env.ID, n.group, r.cfg.Name)
	}
	return r.stateOf(g, n), nil
}

func (r *Runtime) getGroup(ctx context.Context, name string) (*armcontainerinstance.ContainerGroup, error) {
	resp, err := r.groups.Get(ctx, r.cfg.ResourceGroup, name, nil)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if resp.Properties == nil {
		resp.Properties = &armcontainerinstance.ContainerGroupPropertiesProperties{}
	}
	return &resp.ContainerGroup, nil
}

// stateOf maps provisioningState and instanceView.state to Dev8's statuses,
// keeping Azure's reason in Message.
func (r *Runtime) stateOf(g *armcontainerinstance.ContainerGroup, n names) *berth.EnvironmentState {
	p := g.Properties
	st := &berth.EnvironmentState{ContainerGroupID: n.group, FileShareName: n.share}
	if ip := p.IPAddress; ip != nil {
		st.PublicIP = deref(ip.IP)
		if fqdn := deref(ip.Fqdn); fqdn != "" {
			st.URL = fmt.Sprintf("http://%s:%d", fqdn, r.cfg.IDEPort)
		}
	}
	prov, inst := strings.ToLower(deref(p.ProvisioningState)), strings.ToLower(instanceState(g))
	cstate, detail := containerState(g)
	reason := func() string {
		parts := []string{"provisioningState " + deref(p.ProvisioningState)}
		if inst != "" {
			parts = append(parts, "state "+instanceState(g))
		}
		if detail != "" {
			parts = append(parts, "container "+detail)
		} else if ev := lastEvent(g); ev != "" {
			parts = append(parts, ev)
		}
		return strings.Join(parts, ", ")
	}
	switch prov {
	case "failed", "unhealthy":
		st.Status, st.Message = berth.EnvError, reason()
	case "creating", "accepted":
		st.Status = berth.EnvCreating
	case "pending", "starting", "updating", "repairing":
		st.Status = berth.EnvStarting
	case "deleting":
		st.Status = berth.EnvDeleting
	default: // succeeded
		switch inst {
		case "running":
			st.Status = berth.EnvRunning
			switch cstate {
			case "waiting":
				st.Status, st.Message = berth.EnvStarting, reason()
			case "terminated":
				st.Status, st.Message = berth.EnvError, reason()
			}
		case "stopped":
			st.Status = berth.EnvStopped
		case "stopping":
			st.Status = berth.EnvStopping
		case "failed", "terminated":
			st.Status, st.Message = berth.EnvError, reason()
		default: // pending, starting, restarting, or no instance view yet
			st.Status = berth.EnvStarting
		}
	}
	return st
}

func instanceState(g *armcontainerinstance.ContainerGroup) string {
	if g.Properties == nil || g.Properties.InstanceView == nil {
		return ""
	}
	return deref(g.Properties.InstanceView.State)
}

func containerState(g *armcontainerinstance.ContainerGroup) (state, detail string) {
	for _, c := range g.Properties.Containers {
		if c == nil || c.Properties == nil || c.Properties.InstanceView == nil || c.Properties.InstanceView.CurrentState == nil {
			continue
		}
		cs := c.Properties.InstanceView.CurrentState
		state = strings.ToLower(deref(cs.State))
		detail = deref(cs.State)
		if d := deref(cs.DetailStatus); d != "" {
			detail += " (" + d + ")"
		}
		return state, detail
	}
	return "", ""
}

func lastEvent(g *armcontainerinstance.ContainerGroup) string {
	if g.Properties.InstanceView == nil || len(g.Properties.InstanceView.Events) == 0 {
		return ""
	}
	ev := g.Properties.InstanceView.Events[len(g.Properties.InstanceView.Events)-1]
	if ev == nil {
		return ""
	}
	return strings.TrimSpace(deref(ev.Name) + ": " + deref(ev.Message))
}

// ensureShare creates the workspace share unless an earlier attempt did.
// It reports whether this call created it.
func (r *Runtime) ensureShare(ctx context.Context, env *berth.Environment, n names) (bool, error) {
	_, err := r.shares.Get(ctx, r.cfg.ResourceGroup, r.cfg.StorageAccount, n.share, nil)
	if err == nil {
		r.log.Info("reuse file share", "environment", env.ID, "share", n.share)
		return false, nil
	}
	if !isNotFound(err) {
		return false, err
	}
	quota := int32(env.StorageGB) // #nosec G115 -- CreateEnvironmentRequest.Normalize bounds storageGB to 10..100
	if quota <= 0 {
		quota = berth.DefaultStorageGB
	}
	share := armstorage.FileShare{FileShareProperties: &armstorage.FileShareProperties{
		ShareQuota: &quota,
		Metadata: map[string]*string{
			metaManagedBy: to.Ptr(managedByValue), metaKind: to.Ptr(kindValue),
			metaID: to.Ptr(env.ID), metaOwner: to.Ptr(env.UserID),
		},
	}}
	r.log.Info("create file share", "environment", env.ID, "share", n.share, "quotaGB", quota)
	if _, err := r.shares.Create(ctx, r.cfg.ResourceGroup, r.cfg.StorageAccount, n.share, share, nil); err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusConflict {
			return false, nil // a concurrent create won; the share is there
		}
		return false, err
	}
	return true, nil
}

// accountKey is AZURE_STORAGE_KEY, or the account's first key, read once.
func (r *Runtime) accountKey(ctx context.Context) (string, error) {
	if r.cfg.StorageKey != "" {
		return r.cfg.StorageKey, nil
	}
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if r.storageKey != "" {
		return r.storageKey, nil
	}
	resp, err := r.accounts.ListKeys(ctx, r.cfg.ResourceGroup, r.cfg.StorageAccount, nil)
	if err != nil {
		return "", err
	}
	for _, k := range resp.Keys {
		if k != nil && deref(k.Value) != "" {
			r.storageKey = *k.Value
			return r.storageKey, nil
		}
	}
	return "", fmt.Errorf("storage account %s listed no key", r.cfg.StorageAccount)
}

// groupSpec is the container group of env, without the storage key.
func (r *Runtime) groupSpec(env *berth.Environment, n names) (armcontainerinstance.ContainerGroup, error) {
	image, err := r.image(env)
	if err != nil {
		return armcontainerinstance.ContainerGroup{}, err
	}
	cpu, mem := float64(env.CPUCores), float64(env.MemoryGB)
	if cpu <= 0 {
		cpu = berth.DefaultCPUCores
	}
	if mem <= 0 {
		mem = berth.DefaultMemoryGB
	}
	port := &armcontainerinstance.ContainerPort{Port: to.Ptr(r.cfg.IDEPort), Protocol: to.Ptr(armcontainerinstance.ContainerNetworkProtocolTCP)}
	g := armcontainerinstance.ContainerGroup{
		Location: to.Ptr(r.cfg.Region),
		Tags: map[string]*string{
			tagManagedBy: to.Ptr(managedByValue), tagKind: to.Ptr(kindValue),
			tagID: to.Ptr(env.ID), tagOwner: to.Ptr(env.UserID),
		},
		Properties: &armcontainerinstance.ContainerGroupPropertiesProperties{
			OSType:        to.Ptr(armcontainerinstance.OperatingSystemTypesLinux),
			RestartPolicy: to.Ptr(armcontainerinstance.ContainerGroupRestartPolicyAlways),
			Containers: []*armcontainerinstance.Container{{
				Name: to.Ptr(containerName),
				Properties: &armcontainerinstance.ContainerProperties{
					Image: to.Ptr(image),
					Resources: &armcontainerinstance.ResourceRequirements{Requests: &armcontainerinstance.ResourceRequests{
						CPU: &cpu, MemoryInGB: &mem,
					}},
					Ports:                []*armcontainerinstance.ContainerPort{port},
					EnvironmentVariables: r.envVars(env),
					VolumeMounts: []*armcontainerinstance.VolumeMount{{
						Name: to.Ptr(volumeName), MountPath: to.Ptr(r.cfg.WorkspacePath),
					}},
				},
			}},
			IPAddress: &armcontainerinstance.IPAddress{
				Type:         to.Ptr(armcontainerinstance.ContainerGroupIPAddressTypePublic),
				DNSNameLabel: to.Ptr(n.dnsLabel),
				Ports:        []*armcontainerinstance.Port{{Port: to.Ptr(r.cfg.IDEPort), Protocol: to.Ptr(armcontainerinstance.ContainerGroupNetworkProtocolTCP)}},
			},
			Volumes: []*armcontainerinstance.Volume{{
				Name: to.Ptr(volumeName),
				AzureFile: &armcontainerinstance.AzureFileVolume{
					ShareName: to.Ptr(n.share), StorageAccountName: to.Ptr(r.cfg.StorageAccount),
				},
			}},
		},
	}
	if r.cfg.RegistryServer != "" && r.cfg.RegistryUsername != "" {
		g.Properties.ImageRegistryCredentials = []*armcontainerinstance.ImageRegistryCredential{{
			Server: to.Ptr(r.cfg.RegistryServer), Username: to.Ptr(r.cfg.RegistryUsername), Password: to.Ptr(r.cfg.RegistryPassword),
		}}
	}
	return g, nil
}

// image picks the workspace image: a baseImage that is a full reference
// (it names a repository path: "ghcr.io/acme/ws:1", "acme/ws") wins, then
// the template's image, then the target's. A bare flavour such as Dev8's
// "node" stays a hint to the target's image (BASE_IMAGE).
func (r *Runtime) image(env *berth.Environment) (string, error) {
	return env.WorkspaceImage(r.cfg.Name, r.cfg.Image, r.cfg.Templates)
}

// envVars are the container's variables: every secret as a SecureValue
// (never shown by Azure), the rest as plain values, sorted by name.
func (r *Runtime) envVars(env *berth.Environment) []*armcontainerinstance.EnvironmentVariable {
	plain, secure := env.WorkspaceVars(r.cfg.WorkspacePath, r.cfg.AgentBaseURL)
	var out []*armcontainerinstance.EnvironmentVariable
	for k, v := range plain {
		out = append(out, &armcontainerinstance.EnvironmentVariable{Name: to.Ptr(k), Value: to.Ptr(v)})
	}
	for k, v := range secure {
		out = append(out, &armcontainerinstance.EnvironmentVariable{Name: to.Ptr(k), SecureValue: to.Ptr(v)})
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].Name < *out[j].Name })
	return out
}

// azError turns an Azure error into a berth error whose client message
// names the operation and Azure's status and code, never request bodies.
func (r *Runtime) azError(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var be *berth.Error
	if errors.As(err, &be) {
		return berth.Wrap(err, be.Code, "%s", msg)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := berth.EENVIRONMENT
		switch re.StatusCode {
		case http.StatusBadRequest:
			code = berth.EINVALID
		case http.StatusConflict:
			code = berth.ECONFLICT
		case http.StatusTooManyRequests:
			code = berth.ERATELIMITED
		}
		return &berth.Error{Code: code, Message: fmt.Sprintf("%s: Azure answered %d %s", msg, re.StatusCode, re.ErrorCode), Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &berth.Error{Code: berth.EUNAVAILABLE, Message: msg + ": Azure did not finish in time", Err: err}
	}
	return &berth.Error{Code: berth.EENVIRONMENT, Message: msg + ": Azure request failed", Err: err}
}

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
