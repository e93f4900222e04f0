package aci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/testutil"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	acifake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage/v2"
	storfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage/v2/fake"
)

// fakeAzure is Azure as the SDK's fake servers see it, holding container
// groups and file shares, and behaving as the real service does rather than
// finishing everything at once. Time is a testutil.Clock shared with the runtime
// under test (Config.Now), so a test says how long an image pull lasts.
//
// Azure's behaviours, each with the documentation it follows — check these
// against a real subscription (docs/azure.md, "First run on a real
// subscription"):
//
//  1. Create is a long-running operation: the PUT answers 201 with
//     provisioningState Creating, the group stays Creating while the image is
//     pulled (pullTime; minutes for large images), then Succeeded + Running.
//     https://learn.microsoft.com/azure/container-instances/container-instances-troubleshooting
//     ("Container takes a long time to start": image size dominates).
//     The create poller needs lroPolls polls before it finishes.
//  2. A stopped group is deallocated and its public IP released; a start pulls
//     again (Pending), and the group comes back with a new IP.
//     https://learn.microsoft.com/azure/container-instances/container-instances-stop-start
//     Azure may also move a running group to another host, changing its IP
//     (changeIP). https://learn.microsoft.com/azure/container-instances/container-instances-update
//  3. With restart policy Always, a container that exits is started again:
//     restartCount grows; a container that keeps failing shows Waiting with
//     detailStatus CrashLoopBackOff (crashLoop); one that exited once runs
//     again with restartCount 1 and a Terminated previousState (exitOnce).
//     https://learn.microsoft.com/azure/container-instances/container-instances-restart-policy
//  4. A listing has no instanceView (and no container instance views):
//     the SDK's ListByResourceGroup doc lists what it returns.
//     https://learn.microsoft.com/rest/api/container-instances/container-groups/list-by-resource-group
//  5. ListLogs of a container that has not produced output (pulling, or a
//     stopped group) answers 404 ContainerLogNotAvailable; of a group that
//     does not exist, 404 ResourceNotFound. Lines may share a timestamp.
//     https://learn.microsoft.com/rest/api/container-instances/containers/list-logs
//  6. A deleted share is "being deleted" for a while: a create of the same
//     name answers 409 ShareBeingDeleted; with soft delete the share is kept
//     (softDeleted) for the retention. A share whose snapshots a backup holds
//     leased cannot be deleted unless include=leased-snapshots.
//     https://learn.microsoft.com/azure/storage/files/storage-files-enable-soft-delete
//     https://learn.microsoft.com/rest/api/storagerp/file-shares/delete
//  7. A group mounts its share with the storage key it was written with; after
//     a key rotation (rotateKey) a start or a create with the old key fails to
//     mount and the group ends Failed.
//     https://learn.microsoft.com/azure/container-instances/container-instances-volume-azure-files
//  8. A DNS label with a reuse scope other than Unsecure gets a hash in its
//     FQDN. https://learn.microsoft.com/azure/container-instances/how-to-reuse-dns-names
//  9. ARM throttles: 429 with Retry-After in seconds or as an HTTP date
//     (throttle). https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
//     Every GET (reads, polls, list pages) is counted in reads.
//  10. A long-running operation that fails ends with a poll answered 200 and
//     status Failed (failDelete): azcore makes that a ResponseError with
//     StatusCode 200. https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations
type fakeAzure struct {
	mu     sync.Mutex
	clock  *testutil.Clock
	groups map[string]*fakeGroup
	shares map[string]*fakeShare
	// deleting: shares Azure is still deleting, until the time given.
	deleting    map[string]time.Time
	softDeleted map[string]time.Time // deleted shares kept by soft delete, until
	key         string               // the storage account's current key1
	ipSeq       int
	creates     int // container group PUTs that reached the server

	pullTime time.Duration // image pull on create, start and update
	lroPolls int           // polls before a create, start or restart poller finishes
	// failCreate answers a group PUT with this status and code.
	failCreate *struct {
		status int
		code   string
	}
	failDelete string // when set, a group delete's poller ends Failed with this code

	aci  acifake.ServerFactory
	stor storfake.ServerFactory
}

type fakeGroup struct {
	spec     *armcontainerinstance.ContainerGroup // as submitted, secure values included
	prov     string                               // provisioningState while pulling: Creating, Pending, Updating
	phase    string                               // pulling, running, stopped, failed
	readyAt  time.Time                            // end of the pull
	failWith string                               // the pull ends Failed with this reason
	reason   string                               // why it failed
	ip       string
	restarts int32
	crash    string // "", "loop", "exited"
	logs     []string
}

type fakeShare struct {
	share  *armstorage.FileShare
	rg     string
	leased bool // a backup holds leased snapshots
}

const (
	testStorageKey = "c3RvcmFnZS1rZXktdGhhdC1tdXN0LW5vdC1sZWFr"
	shareDeleteFor = 30 * time.Second
	softDeleteDays = 7
)

func newFakeAzure() *fakeAzure {
	f := &fakeAzure{
		clock:  testutil.NewClock(time.Date(2026, 10, 4, 12, 0, 0, 0, time.UTC)),
		groups: map[string]*fakeGroup{}, shares: map[string]*fakeShare{},
		deleting: map[string]time.Time{}, softDeleted: map[string]time.Time{},
		key: testStorageKey, pullTime: 90 * time.Second, lroPolls: 3,
	}
	cg := &f.aci.ContainerGroupsServer
	cg.Get = f.getGroup
	cg.BeginCreateOrUpdate = f.createGroup
	cg.BeginDelete = f.deleteGroup
	cg.Stop = f.stopGroup
	cg.BeginStart = f.startGroup
	cg.BeginRestart = f.restartGroup
	cg.NewListByResourceGroupPager = f.listGroups
	f.aci.ContainersServer.ListLogs = f.listLogs
	fs := &f.stor.FileSharesServer
	fs.Get = f.getShare
	fs.Create = f.createShare
	fs.Delete = f.deleteShare
	fs.NewListPager = f.listShares
	f.stor.AccountsServer.ListKeys = func(ctx context.Context, rg, account string, _ *armstorage.AccountsClientListKeysOptions) (resp azfake.Responder[armstorage.AccountsClientListKeysResponse], errResp azfake.ErrorResponder) {
		f.mu.Lock()
		defer f.mu.Unlock()
		resp.SetResponse(http.StatusOK, armstorage.AccountsClientListKeysResponse{AccountListKeysResult: armstorage.AccountListKeysResult{
			Keys: []*armstorage.AccountKey{{KeyName: to.Ptr("key1"), Value: to.Ptr(f.key)}},
		}}, nil)
		return
	}
	return f
}

// transport routes each request to the fake of its resource provider and
// counts ARM reads.
func (f *fakeAzure) transport() *routeTransport {
	return &routeTransport{
		f:     f,
		aci:   acifake.NewServerFactoryTransport(&f.aci),
		stor:  storfake.NewServerFactoryTransport(&f.stor),
		reads: map[string]int{},
		ops:   map[string]doer{},
	}
}

type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// fakePollSuffix ends the path of a poll of the SDK fake's long-running
// operations.
const fakePollSuffix = "/get/fake/status"

type routeTransport struct {
	f         *fakeAzure
	aci, stor doer
	// ops holds each resource's latest long-running operation. The SDK's
	// fake server keeps one operation per path and answers a new Begin with
	// the old operation's polls until someone polled it to its end; Azure
	// starts a new operation. So every Begin gets a server of its own.
	ops map[string]doer
	mu  sync.Mutex
	// before runs ahead of every request with the API name
	// ("ContainerGroupsClient.BeginCreateOrUpdate"); a non-nil response is
	// answered instead of the fake's.
	before func(api string, req *http.Request) *http.Response
	reads  map[string]int // GETs that reached Azure, by API
}

func (t *routeTransport) Do(req *http.Request) (*http.Response, error) {
	api, _ := req.Context().Value(azruntime.CtxAPINameKey{}).(string)
	t.mu.Lock()
	before := t.before
	if req.Method == http.MethodGet {
		t.reads[api]++
	}
	t.mu.Unlock()
	if before != nil {
		if resp := before(api, req); resp != nil {
			return resp, nil
		}
	}
	if strings.Contains(req.URL.Path, "/providers/Microsoft.Storage/") {
		return t.stor.Do(req)
	}
	path := strings.TrimSuffix(req.URL.Path, fakePollSuffix)
	t.mu.Lock()
	defer t.mu.Unlock() // the fake servers answer at once
	switch {
	case req.Method != http.MethodGet && strings.HasPrefix(api, "ContainerGroupsClient.Begin"):
		op := acifake.NewServerFactoryTransport(&t.f.aci)
		t.ops[path] = op
		return op.Do(req)
	case strings.HasSuffix(req.URL.Path, fakePollSuffix) && t.ops[path] != nil:
		return t.ops[path].Do(req)
	}
	return t.aci.Do(req)
}

func (t *routeTransport) setBefore(fn func(api string, req *http.Request) *http.Response) {
	t.mu.Lock()
	t.before = fn
	t.mu.Unlock()
}

// readCount is the number of ARM reads (GETs) so far.
func (t *routeTransport) readCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.reads {
		n += c
	}
	return n
}

// clone deep-copies through JSON, as a request and a response would.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// advance moves a group through the pull once its time has come (with f.mu held).
func (f *fakeAzure) advance(g *fakeGroup) {
	if g.phase != "pulling" || f.clock.Now().Before(g.readyAt) {
		return
	}
	key := deref(g.spec.Properties.Volumes[0].AzureFile.StorageAccountKey)
	switch {
	case g.failWith != "":
		g.phase, g.reason = "failed", g.failWith
	case key != f.key:
		g.phase, g.reason = "failed", "FailedMount: mount of Azure File share failed: the storage account key is not valid"
	default:
		g.phase = "running"
		if g.ip == "" {
			f.ipSeq++
			g.ip = fmt.Sprintf("20.185.0.%d", f.ipSeq)
		}
		ts := g.readyAt.UTC().Format(time.RFC3339Nano)
		g.logs = append(g.logs, ts+" starting code-server", ts+" listening on 0.0.0.0:8080")
	}
}

// render is what Azure answers for a group: secure values, the storage key
// and the registry password are never returned; a listing has no instance
// views.
func (f *fakeAzure) render(g *fakeGroup, instanceView bool) armcontainerinstance.ContainerGroup {
	f.advance(g)
	c := copyForView(g.spec)
	p := c.Properties
	ip := p.IPAddress
	label := *ip.DNSNameLabel
	if s := deref(ip.AutoGeneratedDomainNameLabelScope); s != "" && s != armcontainerinstance.DNSNameLabelReusePolicyUnsecure {
		sum := sha256.Sum256([]byte(string(s) + "/" + label))
		label += "-" + hex.EncodeToString(sum[:4])
	}
	ip.Fqdn = to.Ptr(label + "." + *c.Location + ".azurecontainer.io")
	ip.IP = nil
	var state, cstate, detail string
	var prev *armcontainerinstance.ContainerState
	var events []*armcontainerinstance.Event
	switch g.phase {
	case "pulling":
		p.ProvisioningState, state, cstate, detail = to.Ptr(g.prov), "Pending", "Waiting", "ContainerCreating"
		events = append(events, &armcontainerinstance.Event{Name: to.Ptr("Pulling"), Message: to.Ptr("pulling image " + deref(p.Containers[0].Properties.Image))})
	case "running":
		p.ProvisioningState, state, cstate = to.Ptr("Succeeded"), "Running", "Running"
		ip.IP = to.Ptr(g.ip)
		switch g.crash {
		case "loop":
			cstate, detail = "Waiting", "CrashLoopBackOff: Back-off restarting failed container"
			prev = &armcontainerinstance.ContainerState{State: to.Ptr("Terminated"), ExitCode: to.Ptr[int32](1), DetailStatus: to.Ptr("Error")}
		case "exited":
			prev = &armcontainerinstance.ContainerState{State: to.Ptr("Terminated"), ExitCode: to.Ptr[int32](0), DetailStatus: to.Ptr("Completed")}
		}
	case "stopped":
		p.ProvisioningState, state = to.Ptr("Succeeded"), "Stopped"
	case "failed":
		p.ProvisioningState, state, cstate, detail = to.Ptr("Failed"), "Failed", "Waiting", "FailedMount"
		events = append(events, &armcontainerinstance.Event{Name: to.Ptr("Failed"), Message: to.Ptr(g.reason)})
	}
	if instanceView {
		p.InstanceView = &armcontainerinstance.ContainerGroupPropertiesInstanceView{State: to.Ptr(state), Events: events}
		for _, ct := range p.Containers {
			iv := &armcontainerinstance.ContainerPropertiesInstanceView{RestartCount: to.Ptr(g.restarts), PreviousState: prev}
			if cstate != "" {
				iv.CurrentState = &armcontainerinstance.ContainerState{State: to.Ptr(cstate)}
				if detail != "" {
					iv.CurrentState.DetailStatus = to.Ptr(detail)
				}
			}
			ct.Properties.InstanceView = iv
		}
	}
	return *c
}

// copyForView copies what render changes or hides (the stored spec is never
// changed in place: an update replaces it), without secure values, the
// storage key and the registry password. (A JSON clone of 100 groups per
// listing made the one-hour read-budget test crawl under -race.)
func copyForView(spec *armcontainerinstance.ContainerGroup) *armcontainerinstance.ContainerGroup {
	c := *spec
	p := *spec.Properties
	c.Properties = &p
	ip := *p.IPAddress
	p.IPAddress = &ip
	p.InstanceView = nil
	p.Containers = nil
	for _, ct := range spec.Properties.Containers {
		cc := *ct
		cp := *ct.Properties
		cc.Properties = &cp
		cp.EnvironmentVariables = nil
		for _, ev := range ct.Properties.EnvironmentVariables {
			e := *ev
			e.SecureValue = nil
			cp.EnvironmentVariables = append(cp.EnvironmentVariables, &e)
		}
		p.Containers = append(p.Containers, &cc)
	}
	p.Volumes = nil
	for _, v := range spec.Properties.Volumes {
		vv := *v
		if v.AzureFile != nil {
			af := *v.AzureFile
			af.StorageAccountKey = nil
			vv.AzureFile = &af
		}
		p.Volumes = append(p.Volumes, &vv)
	}
	p.ImageRegistryCredentials = nil
	for _, rc := range spec.Properties.ImageRegistryCredentials {
		r := *rc
		r.Password = nil
		p.ImageRegistryCredentials = append(p.ImageRegistryCredentials, &r)
	}
	return &c
}

func (f *fakeAzure) getGroup(ctx context.Context, rg, name string, _ *armcontainerinstance.ContainerGroupsClientGetOptions) (resp azfake.Responder[armcontainerinstance.ContainerGroupsClientGetResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	resp.SetResponse(http.StatusOK, armcontainerinstance.ContainerGroupsClientGetResponse{ContainerGroup: f.render(g, true)}, nil)
	return
}

// createGroup is a PUT: a new group, or an update of an existing one (which
// Azure redeploys: the image is pulled again).
func (f *fakeAzure) createGroup(ctx context.Context, rg, name string, spec armcontainerinstance.ContainerGroup, _ *armcontainerinstance.ContainerGroupsClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcontainerinstance.ContainerGroupsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if fc := f.failCreate; fc != nil {
		// Azure keeps a failed group around; berth must remove it.
		f.groups[name] = &fakeGroup{spec: clone(&spec), phase: "failed", reason: fc.code}
		f.groups[name].spec.Name = to.Ptr(name)
		errResp.SetResponseError(fc.status, fc.code)
		return
	}
	if vol := spec.Properties.Volumes; len(vol) > 0 && vol[0].AzureFile != nil {
		if _, ok := f.shares[*vol[0].AzureFile.ShareName]; !ok {
			errResp.SetResponseError(http.StatusBadRequest, "AzureFileShareNotFound")
			return
		}
	}
	s := clone(&spec)
	s.ID = to.Ptr("/subscriptions/sub/resourceGroups/" + rg + "/providers/Microsoft.ContainerInstance/containerGroups/" + name)
	s.Name = to.Ptr(name)
	g, exists := f.groups[name]
	if exists {
		f.advance(g)
		g.spec, g.prov = s, "Updating"
		if g.phase == "stopped" {
			g.ip = ""
		}
	} else {
		g = &fakeGroup{spec: s, prov: "Creating"}
		f.groups[name] = g
	}
	g.phase, g.readyAt, g.crash = "pulling", f.clock.Now().Add(f.pullTime), ""
	for range f.lroPolls {
		resp.AddNonTerminalResponse(http.StatusCreated, nil)
	}
	resp.SetTerminalResponse(http.StatusOK, armcontainerinstance.ContainerGroupsClientCreateOrUpdateResponse{ContainerGroup: f.render(g, false)}, nil)
	return
}

func (f *fakeAzure) deleteGroup(ctx context.Context, rg, name string, _ *armcontainerinstance.ContainerGroupsClientBeginDeleteOptions) (resp azfake.PollerResponder[armcontainerinstance.ContainerGroupsClientDeleteResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.groups[name]; !ok {
		resp.SetTerminalResponse(http.StatusNoContent, armcontainerinstance.ContainerGroupsClientDeleteResponse{}, nil)
		return
	}
	if f.failDelete != "" {
		resp.AddNonTerminalResponse(http.StatusAccepted, nil)
		resp.SetTerminalError(http.StatusOK, f.failDelete)
		return
	}
	delete(f.groups, name)
	resp.SetTerminalResponse(http.StatusOK, armcontainerinstance.ContainerGroupsClientDeleteResponse{}, nil)
	return
}

func (f *fakeAzure) stopGroup(ctx context.Context, rg, name string, _ *armcontainerinstance.ContainerGroupsClientStopOptions) (resp azfake.Responder[armcontainerinstance.ContainerGroupsClientStopResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	f.advance(g)
	g.phase, g.ip, g.crash, g.restarts = "stopped", "", "", 0 // deallocated: the IP is released
	resp.SetResponse(http.StatusNoContent, armcontainerinstance.ContainerGroupsClientStopResponse{}, nil)
	return
}

func (f *fakeAzure) startGroup(ctx context.Context, rg, name string, _ *armcontainerinstance.ContainerGroupsClientBeginStartOptions) (resp azfake.PollerResponder[armcontainerinstance.ContainerGroupsClientStartResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	f.advance(g)
	if g.phase == "stopped" {
		g.phase, g.prov, g.readyAt, g.ip = "pulling", "Pending", f.clock.Now().Add(f.pullTime), ""
	}
	for range f.lroPolls {
		resp.AddNonTerminalResponse(http.StatusAccepted, nil)
	}
	resp.SetTerminalResponse(http.StatusNoContent, armcontainerinstance.ContainerGroupsClientStartResponse{}, nil)
	return
}

func (f *fakeAzure) restartGroup(ctx context.Context, rg, name string, _ *armcontainerinstance.ContainerGroupsClientBeginRestartOptions) (resp azfake.PollerResponder[armcontainerinstance.ContainerGroupsClientRestartResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	f.advance(g)
	g.crash, g.restarts = "", 0 // restarted in place: same host, same IP
	resp.SetTerminalResponse(http.StatusNoContent, armcontainerinstance.ContainerGroupsClientRestartResponse{}, nil)
	return
}

func (f *fakeAzure) listGroups(rg string, _ *armcontainerinstance.ContainerGroupsClientListByResourceGroupOptions) (resp azfake.PagerResponder[armcontainerinstance.ContainerGroupsClientListByResourceGroupResponse]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var page armcontainerinstance.ContainerGroupsClientListByResourceGroupResponse
	for _, g := range f.groups {
		v := f.render(g, false)
		page.Value = append(page.Value, &v)
	}
	resp.AddPage(http.StatusOK, page, nil)
	return
}

func (f *fakeAzure) listLogs(ctx context.Context, rg, group, container string, opts *armcontainerinstance.ContainersClientListLogsOptions) (resp azfake.Responder[armcontainerinstance.ContainersClientListLogsResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[group]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	f.advance(g)
	if g.phase != "running" || len(g.logs) == 0 {
		errResp.SetResponseError(http.StatusNotFound, "ContainerLogNotAvailable")
		return
	}
	lines := g.logs
	if opts != nil && opts.Tail != nil && int(*opts.Tail) < len(lines) {
		lines = lines[len(lines)-int(*opts.Tail):]
	}
	resp.SetResponse(http.StatusOK, armcontainerinstance.ContainersClientListLogsResponse{Logs: armcontainerinstance.Logs{Content: to.Ptr(strings.Join(lines, "\n") + "\n")}}, nil)
	return
}

func (f *fakeAzure) getShare(ctx context.Context, rg, account, name string, _ *armstorage.FileSharesClientGetOptions) (resp azfake.Responder[armstorage.FileSharesClientGetResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.shares[name]
	if !ok || s.rg != rg {
		errResp.SetResponseError(http.StatusNotFound, "ShareNotFound")
		return
	}
	resp.SetResponse(http.StatusOK, armstorage.FileSharesClientGetResponse{FileShare: *clone(s.share)}, nil)
	return
}

func (f *fakeAzure) createShare(ctx context.Context, rg, account, name string, share armstorage.FileShare, _ *armstorage.FileSharesClientCreateOptions) (resp azfake.Responder[armstorage.FileSharesClientCreateResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if until, ok := f.deleting[name]; ok && f.clock.Now().Before(until) {
		errResp.SetResponseError(http.StatusConflict, "ShareBeingDeleted")
		return
	}
	if _, ok := f.shares[name]; ok {
		errResp.SetResponseError(http.StatusConflict, "ShareAlreadyExists")
		return
	}
	s := clone(&share)
	s.Name = to.Ptr(name)
	f.shares[name] = &fakeShare{share: s, rg: rg}
	resp.SetResponse(http.StatusCreated, armstorage.FileSharesClientCreateResponse{FileShare: *clone(s)}, nil)
	return
}

func (f *fakeAzure) deleteShare(ctx context.Context, rg, account, name string, opts *armstorage.FileSharesClientDeleteOptions) (resp azfake.Responder[armstorage.FileSharesClientDeleteResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.shares[name]
	if !ok || s.rg != rg {
		resp.SetResponse(http.StatusNoContent, armstorage.FileSharesClientDeleteResponse{}, nil)
		return
	}
	if s.leased && (opts == nil || deref(opts.Include) != "leased-snapshots") {
		errResp.SetResponseError(http.StatusConflict, "DeleteShareWhenSnapshotLeased")
		return
	}
	delete(f.shares, name)
	f.deleting[name] = f.clock.Now().Add(shareDeleteFor)
	f.softDeleted[name] = f.clock.Now().Add(softDeleteDays * 24 * time.Hour)
	resp.SetResponse(http.StatusOK, armstorage.FileSharesClientDeleteResponse{}, nil)
	return
}

// listShares leaves metadata out, as a listing without $expand may.
func (f *fakeAzure) listShares(rg, account string, _ *armstorage.FileSharesClientListOptions) (resp azfake.PagerResponder[armstorage.FileSharesClientListResponse]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var page armstorage.FileSharesClientListResponse
	for name, s := range f.shares {
		if s.rg != rg {
			continue
		}
		page.Value = append(page.Value, &armstorage.FileShareItem{Name: to.Ptr(name),
			Properties: &armstorage.FileShareProperties{ShareQuota: s.share.FileShareProperties.ShareQuota}})
	}
	resp.AddPage(http.StatusOK, page, nil)
	return
}

// Test controls: what Azure does on its own.

// counts returns how many groups and shares the fake holds.
func (f *fakeAzure) counts() (groups, shares int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.groups), len(f.shares)
}

// group returns the stored group as submitted (secure values included).
func (f *fakeAzure) group(name string) *armcontainerinstance.ContainerGroup {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		return nil
	}
	return clone(g.spec)
}

func (f *fakeAzure) share(name string) *armstorage.FileShare {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.shares[name]
	if !ok {
		return nil
	}
	return clone(s.share)
}

// do changes a group as Azure would on its own.
func (f *fakeAzure) do(name string, fn func(g *fakeGroup)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		panic("no group " + name)
	}
	f.advance(g)
	fn(g)
}

func (f *fakeAzure) crashLoop(name string, restarts int32) {
	f.do(name, func(g *fakeGroup) { g.crash, g.restarts = "loop", restarts })
}

func (f *fakeAzure) exitOnce(name string) {
	f.do(name, func(g *fakeGroup) { g.crash, g.restarts = "exited", g.restarts+1 })
}

func (f *fakeAzure) changeIP(name string) {
	f.do(name, func(g *fakeGroup) {
		f.ipSeq++
		g.ip = fmt.Sprintf("20.185.1.%d", f.ipSeq)
	})
}

func (f *fakeAzure) appendLogs(name string, lines ...string) {
	f.do(name, func(g *fakeGroup) { g.logs = append(g.logs, lines...) })
}

func (f *fakeAzure) rotateKey() {
	f.mu.Lock()
	f.key = "cm90YXRlZC1zdG9yYWdlLWtleS1uZXZlci1sZWFr"
	f.mu.Unlock()
}

// throttle answers the first `left` requests of api (and method) with 429
// and a Retry-After of `after` seconds, or, with date set, an HTTP date that
// far ahead of the clock; it records when each attempt arrived.
type throttle struct {
	mu       sync.Mutex
	api      string
	method   string // default PUT: polls carry the same API name
	left     int
	after    int // seconds
	date     func() time.Time
	attempts []time.Time
}

func (th *throttle) before(api string, req *http.Request) *http.Response {
	method := th.method
	if method == "" {
		method = http.MethodPut
	}
	if api != th.api || req.Method != method {
		return nil
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	th.attempts = append(th.attempts, time.Now())
	if th.left == 0 {
		return nil
	}
	th.left--
	h := http.Header{}
	if th.date != nil {
		h.Set("Retry-After", th.date().Add(time.Duration(th.after)*time.Second).UTC().Format(http.TimeFormat))
	} else {
		h.Set("Retry-After", strconv.Itoa(th.after))
	}
	h.Set("Content-Type", "application/json")
	body := `{"error":{"code":"TooManyRequests","message":"throttled"}}`
	return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}
}

func (th *throttle) count() int {
	th.mu.Lock()
	defer th.mu.Unlock()
	return len(th.attempts)
}
