// Package aci runs berth's development environments on Azure Container
// Instances, one target per region: a container group per environment with
// its workspace on an Azure Files share. It knows nothing of HTTP or the
// store; the Known hook tells it which environments berth still has.
package aci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage/v2"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/tracing"
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
	keyRead    time.Time

	cache    readCache
	removing map[string]bool // failed groups being removed (under cache.mu)
	bg       sync.WaitGroup

	orphanMu   sync.Mutex
	orphanSeen map[string]time.Time // "type/id" → first seen orphaned

	throttles atomic.Int64 // responses Azure answered 429, retries included
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
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = time.Minute
	}
	if cfg.ListTTL <= 0 {
		cfg.ListTTL = 30 * time.Second
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = 2 * time.Minute
	}
	if cfg.DNSLabelScope == "" {
		cfg.DNSLabelScope = string(armcontainerinstance.DNSNameLabelReusePolicyTenantReuse)
	}
	if !validScope(cfg.DNSLabelScope) {
		return nil, fmt.Errorf("aci target %s: dnsLabelScope: %q is not one of TenantReuse, SubscriptionReuse, ResourceGroupReuse, Noreuse, Unsecure", cfg.Name, cfg.DNSLabelScope)
	}
	if cfg.SSHPort == 0 {
		cfg.SSHPort = 2222
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
	r := &Runtime{
		NoServices: berth.NoServices{Target: cfg.Name},
		cfg:        cfg, log: cfg.Logger, now: cfg.Now,
		locks: map[string]*envLock{}, orphanSeen: map[string]time.Time{},
		cache: readCache{views: map[string]cachedView{}},
	}
	opts := clientOptions(cfg.ClientOptions)
	// Every attempt passes the counter, so a 429 that the retry policy
	// absorbs is counted too: /metrics shows how hard Azure throttles.
	opts.PerRetryPolicies = append(append([]policy.Policy(nil), opts.PerRetryPolicies...), throttleCounter{&r.throttles})
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

func validScope(s string) bool {
	for _, p := range armcontainerinstance.PossibleDNSNameLabelReusePolicyValues() {
		if string(p) == s {
			return true
		}
	}
	return false
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
	if !o.TracingProvider.NewTracer("berth", "").Enabled() {
		o.TracingProvider = tracing.AzureProvider() // spans inside a traced request only
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

// throttleCounter counts the responses Azure answers 429 Too Many Requests.
type throttleCounter struct{ n *atomic.Int64 }

func (c throttleCounter) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		c.n.Add(1)
	}
	return resp, err
}

// Throttles is how many requests Azure has answered 429 since the start
// (berth_target_throttled_total on /metrics).
func (r *Runtime) Throttles() int64 { return r.throttles.Load() }

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
// finds them from an earlier attempt, and converges the group's run state
// (stopped when env.Stopped). A create returns as soon as Azure accepted the
// group's PUT, with status CREATING: the image pull that follows can take
// many minutes, longer than any HTTP caller waits. The sync loop reads the
// group until it runs (or failed), so a create survives a restart of berth
// because its progress is kept by Azure, not by this process.
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
	if g != nil && !isFailed(g) {
		return r.converge(ctx, env, n, g)
	}
	if g != nil {
		// A failed group is replaced: a retry must be able to succeed.
		r.log.Warn("replace failed container group", "environment", env.ID, "group", n.group)
		if err := r.deleteGroup(ctx, n.group); err != nil {
			return nil, r.azError(err, "create environment %s: remove failed container group %s", env.ID, n.group)
		}
	}
	if env.Stopped {
		// Nothing to run: start creates the group when it is wanted.
		return &berth.EnvironmentState{Status: berth.EnvStopped, ContainerGroupID: n.group, FileShareName: n.share}, nil
	}
	if err := r.createGroup(ctx, env, n); err != nil {
		return nil, err
	}
	return &berth.EnvironmentState{Status: berth.EnvCreating, ContainerGroupID: n.group, FileShareName: n.share}, nil
}

// createGroup makes the share (unless an earlier attempt did) and sends the
// group's PUT. It runs on berth's own deadline, not the caller's: a caller
// that stops waiting must not cut a create in half. Only an answer in which
// Azure refuses the group for good removes what this attempt made; a timeout
// or a transient error leaves the group for the sync loop to judge.
func (r *Runtime) createGroup(ctx context.Context, env *berth.Environment, n names) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.OperationTimeout)
	defer cancel()
	spec, err := r.groupSpec(env, n)
	if err != nil {
		return err
	}
	if err := r.checkQuota(ctx, env); err != nil {
		return err
	}
	createdShare, err := r.ensureShare(ctx, env, n)
	if err != nil {
		return r.azError(err, "create environment %s: create file share %s", env.ID, n.share)
	}
	if err := r.setVolumeKey(ctx, &spec); err != nil {
		return r.azError(err, "create environment %s: read key of storage account %s", env.ID, r.cfg.StorageAccount)
	}
	r.log.Info("create container group", "environment", env.ID, "group", n.group, "share", n.share, "region", r.cfg.Region)
	r.forget(n.group)
	_, err = r.groups.BeginCreateOrUpdate(ctx, r.cfg.ResourceGroup, n.group, spec, nil)
	r.forget(n.group) // a listing taken during the PUT may lack the group
	if err != nil {
		if definiteFailure(err) {
			r.undoCreate(ctx, env.ID, n, createdShare)
		}
		return r.azError(err, "create environment %s: create container group %s", env.ID, n.group)
	}
	return nil
}

// definiteFailure says whether Azure refused a request for good: a 4xx
// other than throttling, a timeout or a conflict with work in progress.
func definiteFailure(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch re.StatusCode {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return re.StatusCode >= 400 && re.StatusCode < 500
}

// undoCreate removes what a refused create made: the group (Azure may have
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

// converge brings an existing group to the desired run state and reports
// the state it is then in.
func (r *Runtime) converge(ctx context.Context, env *berth.Environment, n names, g *armcontainerinstance.ContainerGroup) (*berth.EnvironmentState, error) {
	st := strings.ToLower(instanceState(g))
	switch {
	case env.Stopped && st != "stopped" && strings.EqualFold(deref(g.Properties.ProvisioningState), "Succeeded"):
		if err := r.stopGroup(ctx, env.ID, n.group); err != nil {
			return nil, err
		}
		return &berth.EnvironmentState{Status: berth.EnvStopped, ContainerGroupID: n.group, FileShareName: n.share, URL: r.stateOf(g, n).URL}, nil
	case !env.Stopped && st == "stopped":
		if err := r.startGroup(ctx, env, n, g); err != nil {
			return nil, err
		}
		return &berth.EnvironmentState{Status: berth.EnvStarting, ContainerGroupID: n.group, FileShareName: n.share, URL: r.stateOf(g, n).URL}, nil
	}
	return r.stateOf(g, n), nil
}

// startGroup starts a stopped group and returns once Azure accepted it (the
// sync loop sees it run). When the storage key changed since the group was
// written (a rotation), the group is written again with the current key
// first: a stopped group keeps the key it was created with, and cannot mount
// its share with a rotated one.
func (r *Runtime) startGroup(ctx context.Context, env *berth.Environment, n names, g *armcontainerinstance.ContainerGroup) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.OperationTimeout)
	defer cancel()
	key, err := r.accountKey(ctx)
	if err != nil {
		return r.azError(err, "start environment %s: read key of storage account %s", env.ID, r.cfg.StorageAccount)
	}
	r.forget(n.group)
	updated := false
	if deref(g.Tags[tagKeyID]) != keyID(key) {
		updated = true
		spec, err := r.groupSpec(env, n)
		if err != nil {
			return err
		}
		spec.Properties.Volumes[0].AzureFile.StorageAccountKey = &key
		spec.Tags[tagKeyID] = to.Ptr(keyID(key))
		r.log.Info("update storage key of container group", "environment", env.ID, "group", n.group)
		if _, err := r.groups.BeginCreateOrUpdate(ctx, r.cfg.ResourceGroup, n.group, spec, nil); err != nil {
			return r.azError(err, "start environment %s: update volume credentials of container group %s", env.ID, n.group)
		}
		// Azure redeploys a group whose properties changed; a stopped one
		// is then started below (a start of a running group does nothing).
	}
	r.log.Info("start container group", "environment", env.ID, "group", n.group)
	_, err = r.groups.BeginStart(ctx, r.cfg.ResourceGroup, n.group, nil)
	r.forget(n.group)
	if err != nil {
		if updated && azCode(err) != "" && isConflict(err) {
			return nil // the update's redeploy is starting it already
		}
		return r.azError(err, "start environment %s", env.ID)
	}
	return nil
}

func (r *Runtime) stopGroup(ctx context.Context, envID, group string) error {
	r.forget(group)
	r.log.Info("stop container group", "environment", envID, "group", group)
	_, err := r.groups.Stop(ctx, r.cfg.ResourceGroup, group, nil)
	r.forget(group)
	if err != nil {
		if isNotFound(err) {
			return berth.Errorf(berth.EENVIRONMENT, "stop environment %s: container group %s does not exist (start recreates it)", envID, group)
		}
		return r.azError(err, "stop environment %s", envID)
	}
	return nil
}

// StartEnvironment starts the container group; a group lost to a crash
// mid-create, or one that failed, is created again (its share is reused).
// It returns once Azure accepted the start.
func (r *Runtime) StartEnvironment(ctx context.Context, env *berth.Environment) error {
	cp := *env
	cp.Stopped = false
	_, err := r.ApplyEnvironment(ctx, &cp)
	return err
}

// StopEnvironment stops (deallocates) the container group; billing of its
// CPU and memory stops and its public IP is released; the share is kept.
func (r *Runtime) StopEnvironment(ctx context.Context, env *berth.Environment) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	unlock := r.lock(env.ID)
	defer unlock()
	return r.stopGroup(ctx, env.ID, n.group)
}

// RestartEnvironment restarts the group's containers in place and returns
// once Azure accepted it.
func (r *Runtime) RestartEnvironment(ctx context.Context, env *berth.Environment) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	unlock := r.lock(env.ID)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.OperationTimeout)
	defer cancel()
	r.forget(n.group)
	_, err = r.groups.BeginRestart(ctx, r.cfg.ResourceGroup, n.group, nil)
	r.forget(n.group)
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

// deleteGroup removes a group and waits until Azure has (its share is
// mounted until then).
func (r *Runtime) deleteGroup(ctx context.Context, name string) error {
	r.forget(name)
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	poller, err := r.groups.BeginDelete(ctx, r.cfg.ResourceGroup, name, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, r.pollOpts())
	}
	r.forget(name)
	if isNotFound(err) {
		return nil
	}
	return err
}

// deleteShare removes a share. With soft delete on the storage account
// (Azure's default for new accounts) the share is kept, and billed, for the
// account's retention (7 days by default) before Azure purges it; berth
// cannot purge it sooner. Snapshots go with it; leased ones (Azure Backup
// holds a lease on its snapshots) only with Config.DeleteLeasedSnapshots,
// else Azure refuses and the error says so.
func (r *Runtime) deleteShare(ctx context.Context, name string) error {
	opts := &armstorage.FileSharesClientDeleteOptions{}
	if r.cfg.DeleteLeasedSnapshots {
		opts.Include = to.Ptr("leased-snapshots")
	}
	_, err := r.shares.Delete(ctx, r.storageRG(), r.cfg.StorageAccount, name, opts)
	if isNotFound(err) {
		return nil
	}
	if azCode(err) == "DeleteShareWhenSnapshotLeased" {
		return berth.Wrap(err, berth.ECONFLICT, "file share %s has snapshots leased by a backup (Azure Backup): remove the backup protection, or set deleteLeasedSnapshots on the target to delete them with the share", name)
	}
	if err == nil {
		r.log.Info("file share deleted; with soft delete on the storage account Azure keeps (and bills) it for the retention period", "share", name)
	}
	return err
}

// ensureShare creates the workspace share unless an earlier attempt did.
// It reports whether this call created it.
func (r *Runtime) ensureShare(ctx context.Context, env *berth.Environment, n names) (bool, error) {
	_, err := r.shares.Get(ctx, r.storageRG(), r.cfg.StorageAccount, n.share, nil)
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
	meta := map[string]*string{
		metaManagedBy: to.Ptr(managedByValue), metaKind: to.Ptr(kindValue),
		metaID: to.Ptr(env.ID), metaOwner: to.Ptr(env.UserID),
	}
	if r.cfg.InstallationID != "" {
		meta[metaInstallation] = to.Ptr(r.cfg.InstallationID)
	}
	share := armstorage.FileShare{FileShareProperties: &armstorage.FileShareProperties{ShareQuota: &quota, Metadata: meta}}
	r.log.Info("create file share", "environment", env.ID, "share", n.share, "quotaGB", quota)
	if _, err := r.shares.Create(ctx, r.storageRG(), r.cfg.StorageAccount, n.share, share, nil); err != nil {
		switch azCode(err) {
		case "ShareAlreadyExists":
			return false, nil // a concurrent create won; the share is there
		case "ShareBeingDeleted":
			// Not there, and not creatable until Azure finished deleting it.
			return false, berth.Wrap(err, berth.EUNAVAILABLE, "file share %s is still being deleted by Azure; retry in a minute", n.share)
		}
		return false, err
	}
	return true, nil
}

// checkQuota refuses a share size the storage account cannot provision:
// premium (FileStorage) accounts provision at least 100 GiB per share.
func (r *Runtime) checkQuota(ctx context.Context, env *berth.Environment) error {
	if !r.cfg.PremiumStorage {
		return nil
	}
	if gb := env.StorageGB; gb > 0 && gb < 100 {
		return berth.Invalid("storageGB", "target %s keeps workspaces on a premium storage account, whose shares are at least 100 GiB (asked %d)", r.cfg.Name, gb)
	}
	return nil
}

// accountKey is AZURE_STORAGE_KEY, or the account's first key, read again
// once KeyTTL has passed so that a rotated key is picked up.
func (r *Runtime) accountKey(ctx context.Context) (string, error) {
	if r.cfg.StorageKey != "" {
		return r.cfg.StorageKey, nil
	}
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if r.storageKey != "" && r.now().Sub(r.keyRead) < r.cfg.KeyTTL {
		return r.storageKey, nil
	}
	resp, err := r.accounts.ListKeys(ctx, r.storageRG(), r.cfg.StorageAccount, nil)
	if err != nil {
		return "", err
	}
	for _, k := range resp.Keys {
		if k != nil && deref(k.Value) != "" {
			r.storageKey, r.keyRead = *k.Value, r.now()
			return r.storageKey, nil
		}
	}
	return "", fmt.Errorf("storage account %s listed no key", r.cfg.StorageAccount)
}

// setVolumeKey puts the current storage key into spec, and its fingerprint
// into a tag so that a later start can tell that the key was rotated.
func (r *Runtime) setVolumeKey(ctx context.Context, spec *armcontainerinstance.ContainerGroup) error {
	key, err := r.accountKey(ctx)
	if err != nil {
		return err
	}
	spec.Properties.Volumes[0].AzureFile.StorageAccountKey = &key
	spec.Tags[tagKeyID] = to.Ptr(keyID(key))
	return nil
}

// keyID is a fingerprint of a storage key: 48 bits of its SHA-256, which
// tells keys apart and says nothing of the key.
func keyID(key string) string {
	sum := sha256.Sum256([]byte("berth storage key\x00" + key))
	return hex.EncodeToString(sum[:6])
}

func (r *Runtime) storageRG() string {
	if r.cfg.StorageResourceGroup != "" {
		return r.cfg.StorageResourceGroup
	}
	return r.cfg.ResourceGroup
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
	ports := []int32{r.cfg.IDEPort}
	if env.Secrets.SSHPublicKey != "" && r.cfg.SSHPort > 0 && r.cfg.SSHPort != r.cfg.IDEPort {
		ports = append(ports, r.cfg.SSHPort) // Dev8 reports SSH activity: the workspace's sshd must be reachable
	}
	var cports []*armcontainerinstance.ContainerPort
	var gports []*armcontainerinstance.Port
	for _, p := range ports {
		cports = append(cports, &armcontainerinstance.ContainerPort{Port: to.Ptr(p), Protocol: to.Ptr(armcontainerinstance.ContainerNetworkProtocolTCP)})
		gports = append(gports, &armcontainerinstance.Port{Port: to.Ptr(p), Protocol: to.Ptr(armcontainerinstance.ContainerGroupNetworkProtocolTCP)})
	}
	tags := map[string]*string{
		tagManagedBy: to.Ptr(managedByValue), tagKind: to.Ptr(kindValue),
		tagID: to.Ptr(env.ID), tagOwner: to.Ptr(env.UserID),
	}
	if r.cfg.InstallationID != "" {
		tags[tagInstallation] = to.Ptr(r.cfg.InstallationID)
	}
	g := armcontainerinstance.ContainerGroup{
		Location: to.Ptr(r.cfg.Region),
		Tags:     tags,
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
					Ports:                cports,
					EnvironmentVariables: r.envVars(env),
					VolumeMounts: []*armcontainerinstance.VolumeMount{{
						Name: to.Ptr(volumeName), MountPath: to.Ptr(r.cfg.WorkspacePath),
					}},
				},
			}},
			IPAddress: &armcontainerinstance.IPAddress{
				Type:                              to.Ptr(armcontainerinstance.ContainerGroupIPAddressTypePublic),
				DNSNameLabel:                      to.Ptr(n.dnsLabel),
				AutoGeneratedDomainNameLabelScope: to.Ptr(armcontainerinstance.DNSNameLabelReusePolicy(r.cfg.DNSLabelScope)),
				Ports:                             gports,
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

// envVars are the container's variables: every credential (Dev8's, the
// request's secrets, berth's activity token, and as a safety net anything
// named or shaped like one) as a SecureValue, which Azure never returns,
// the rest as plain values, sorted by name.
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
		if re.StatusCode < 300 {
			// A long-running operation that ended Failed: the status is
			// that of the last poll, the code is the operation's.
			return &berth.Error{Code: code, Message: fmt.Sprintf("%s: Azure reported the operation failed: %s", msg, orUnknown(re.ErrorCode)), Err: err}
		}
		return &berth.Error{Code: code, Message: fmt.Sprintf("%s: Azure answered %d %s", msg, re.StatusCode, re.ErrorCode), Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &berth.Error{Code: berth.EUNAVAILABLE, Message: msg + ": Azure did not finish in time", Err: err}
	}
	return &berth.Error{Code: berth.EENVIRONMENT, Message: msg + ": Azure request failed", Err: err}
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

func isConflict(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusConflict
}

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// azCode is Azure's error code of err, or "".
func azCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func isFailed(g *armcontainerinstance.ContainerGroup) bool {
	return strings.EqualFold(deref(g.Properties.ProvisioningState), "Failed")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// CheckEnvironment refuses an environment whose template the target does
// not have, before core stores anything.
func (r *Runtime) CheckEnvironment(env *berth.Environment) error {
	_, err := r.image(env)
	return err
}
