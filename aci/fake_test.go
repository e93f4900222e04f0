package aci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	acifake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage/v2"
	storfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage/v2/fake"
)

// fakeAzure is Azure as the SDK's fake servers see it: container groups and
// file shares in maps, so that a sequence of calls behaves like the real
// service (a stopped group loses its IP, a started one gets a new one).
type fakeAzure struct {
	mu      sync.Mutex
	groups  map[string]*armcontainerinstance.ContainerGroup // as submitted, plus server fields
	shares  map[string]*armstorage.FileShare
	logs    map[string]string
	ipSeq   int
	creates int // container group PUTs that reached the server
	// failCreate, when set, answers a group PUT with this status and code.
	failCreate *struct {
		status int
		code   string
	}

	aci  acifake.ServerFactory
	stor storfake.ServerFactory
}

func newFakeAzure() *fakeAzure {
	f := &fakeAzure{
		groups: map[string]*armcontainerinstance.ContainerGroup{},
		shares: map[string]*armstorage.FileShare{},
		logs:   map[string]string{},
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
		resp.SetResponse(http.StatusOK, armstorage.AccountsClientListKeysResponse{AccountListKeysResult: armstorage.AccountListKeysResult{
			Keys: []*armstorage.AccountKey{{KeyName: to.Ptr("key1"), Value: to.Ptr(testStorageKey)}},
		}}, nil)
		return
	}
	return f
}

const testStorageKey = "c3RvcmFnZS1rZXktdGhhdC1tdXN0LW5vdC1sZWFr"

// transport routes each request to the fake of its resource provider.
func (f *fakeAzure) transport() *routeTransport {
	return &routeTransport{
		aci:  acifake.NewServerFactoryTransport(&f.aci),
		stor: storfake.NewServerFactoryTransport(&f.stor),
	}
}

type routeTransport struct {
	aci, stor interface {
		Do(*http.Request) (*http.Response, error)
	}
	mu sync.Mutex
	// before runs ahead of every request with the API name
	// ("ContainerGroupsClient.BeginCreateOrUpdate"); a non-nil response is
	// answered instead of the fake's.
	before func(api string, req *http.Request) *http.Response
}

func (t *routeTransport) Do(req *http.Request) (*http.Response, error) {
	api, _ := req.Context().Value(azruntime.CtxAPINameKey{}).(string)
	t.mu.Lock()
	before := t.before
	t.mu.Unlock()
	if before != nil {
		if resp := before(api, req); resp != nil {
			return resp, nil
		}
	}
	if strings.Contains(req.URL.Path, "/providers/Microsoft.Storage/") {
		return t.stor.Do(req)
	}
	return t.aci.Do(req)
}

func (t *routeTransport) setBefore(fn func(api string, req *http.Request) *http.Response) {
	t.mu.Lock()
	t.before = fn
	t.mu.Unlock()
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

// view is what Azure answers for a group: secure values, the storage key
// and the registry password are never returned.
func view(g *armcontainerinstance.ContainerGroup) armcontainerinstance.ContainerGroup {
	c := clone(g)
	for _, ct := range c.Properties.Containers {
		for _, ev := range ct.Properties.EnvironmentVariables {
			ev.SecureValue = nil
		}
	}
	for _, v := range c.Properties.Volumes {
		if v.AzureFile != nil {
			v.AzureFile.StorageAccountKey = nil
		}
	}
	for _, rc := range c.Properties.ImageRegistryCredentials {
		rc.Password = nil
	}
	return *c
}

func (f *fakeAzure) setState(g *armcontainerinstance.ContainerGroup, state string) {
	g.Properties.ProvisioningState = to.Ptr("Succeeded")
	g.Properties.InstanceView = &armcontainerinstance.ContainerGroupPropertiesInstanceView{State: to.Ptr(state),
		Events: []*armcontainerinstance.Event{{Name: to.Ptr(state), Message: to.Ptr("group is " + strings.ToLower(state))}}}
	ip := g.Properties.IPAddress
	if state == "Running" {
		f.ipSeq++
		ip.IP = to.Ptr(fmt.Sprintf("20.185.0.%d", f.ipSeq))
		ip.Fqdn = to.Ptr(*ip.DNSNameLabel + "." + *g.Location + ".azurecontainer.io")
	} else {
		ip.IP = nil // a stopped group is deallocated: its IP is released, the FQDN stays
	}
	for _, c := range g.Properties.Containers {
		c.Properties.InstanceView = &armcontainerinstance.ContainerPropertiesInstanceView{
			CurrentState: &armcontainerinstance.ContainerState{State: to.Ptr(state)}}
	}
}

func (f *fakeAzure) getGroup(ctx context.Context, rg, name string, _ *armcontainerinstance.ContainerGroupsClientGetOptions) (resp azfake.Responder[armcontainerinstance.ContainerGroupsClientGetResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	resp.SetResponse(http.StatusOK, armcontainerinstance.ContainerGroupsClientGetResponse{ContainerGroup: view(g)}, nil)
	return
}

func (f *fakeAzure) createGroup(ctx context.Context, rg, name string, spec armcontainerinstance.ContainerGroup, _ *armcontainerinstance.ContainerGroupsClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcontainerinstance.ContainerGroupsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if fc := f.failCreate; fc != nil {
		// Azure keeps a failed group around; berth must remove it.
		g := clone(&spec)
		g.Name, g.Properties.ProvisioningState = to.Ptr(name), to.Ptr("Failed")
		f.groups[name] = g
		errResp.SetResponseError(fc.status, fc.code)
		return
	}
	if vol := spec.Properties.Volumes; len(vol) > 0 && vol[0].AzureFile != nil {
		if _, ok := f.shares[*vol[0].AzureFile.ShareName]; !ok {
			errResp.SetResponseError(http.StatusBadRequest, "AzureFileShareNotFound")
			return
		}
	}
	g := clone(&spec)
	g.ID = to.Ptr("/subscriptions/sub/resourceGroups/" + rg + "/providers/Microsoft.ContainerInstance/containerGroups/" + name)
	g.Name = to.Ptr(name)
	f.setState(g, "Running")
	f.groups[name] = g
	f.logs[name] = "2025-10-04T12:00:00.000000001Z starting code-server\n2025-10-04T12:00:01.000000001Z listening on 0.0.0.0:8080\n"
	resp.AddNonTerminalResponse(http.StatusCreated, nil)
	resp.SetTerminalResponse(http.StatusOK, armcontainerinstance.ContainerGroupsClientCreateOrUpdateResponse{ContainerGroup: view(g)}, nil)
	return
}

func (f *fakeAzure) deleteGroup(ctx context.Context, rg, name string, _ *armcontainerinstance.ContainerGroupsClientBeginDeleteOptions) (resp azfake.PollerResponder[armcontainerinstance.ContainerGroupsClientDeleteResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.groups[name]; !ok {
		resp.SetTerminalResponse(http.StatusNoContent, armcontainerinstance.ContainerGroupsClientDeleteResponse{}, nil)
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
	f.setState(g, "Stopped")
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
	f.setState(g, "Running")
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
	f.setState(g, "Running")
	resp.SetTerminalResponse(http.StatusNoContent, armcontainerinstance.ContainerGroupsClientRestartResponse{}, nil)
	return
}

func (f *fakeAzure) listGroups(rg string, _ *armcontainerinstance.ContainerGroupsClientListByResourceGroupOptions) (resp azfake.PagerResponder[armcontainerinstance.ContainerGroupsClientListByResourceGroupResponse]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var page armcontainerinstance.ContainerGroupsClientListByResourceGroupResponse
	for _, g := range f.groups {
		v := view(g)
		page.Value = append(page.Value, &v)
	}
	resp.AddPage(http.StatusOK, page, nil)
	return
}

func (f *fakeAzure) listLogs(ctx context.Context, rg, group, container string, opts *armcontainerinstance.ContainersClientListLogsOptions) (resp azfake.Responder[armcontainerinstance.ContainersClientListLogsResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	content, ok := f.logs[group]
	if _, exists := f.groups[group]; !exists || !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	lines := strings.SplitAfter(strings.TrimSuffix(content, "\n"), "\n")
	if opts != nil && opts.Tail != nil && int(*opts.Tail) < len(lines) {
		lines = lines[len(lines)-int(*opts.Tail):]
	}
	resp.SetResponse(http.StatusOK, armcontainerinstance.ContainersClientListLogsResponse{Logs: armcontainerinstance.Logs{Content: to.Ptr(strings.Join(lines, ""))}}, nil)
	return
}

func (f *fakeAzure) getShare(ctx context.Context, rg, account, name string, _ *armstorage.FileSharesClientGetOptions) (resp azfake.Responder[armstorage.FileSharesClientGetResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.shares[name]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ShareNotFound")
		return
	}
	resp.SetResponse(http.StatusOK, armstorage.FileSharesClientGetResponse{FileShare: *clone(s)}, nil)
	return
}

func (f *fakeAzure) createShare(ctx context.Context, rg, account, name string, share armstorage.FileShare, _ *armstorage.FileSharesClientCreateOptions) (resp azfake.Responder[armstorage.FileSharesClientCreateResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.shares[name]; ok {
		errResp.SetResponseError(http.StatusConflict, "ShareAlreadyExists")
		return
	}
	s := clone(&share)
	s.Name = to.Ptr(name)
	f.shares[name] = s
	resp.SetResponse(http.StatusCreated, armstorage.FileSharesClientCreateResponse{FileShare: *clone(s)}, nil)
	return
}

func (f *fakeAzure) deleteShare(ctx context.Context, rg, account, name string, _ *armstorage.FileSharesClientDeleteOptions) (resp azfake.Responder[armstorage.FileSharesClientDeleteResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.shares[name]; !ok {
		resp.SetResponse(http.StatusNoContent, armstorage.FileSharesClientDeleteResponse{}, nil)
		return
	}
	delete(f.shares, name)
	resp.SetResponse(http.StatusOK, armstorage.FileSharesClientDeleteResponse{}, nil)
	return
}

// listShares leaves metadata out, as a listing without $expand may.
func (f *fakeAzure) listShares(rg, account string, _ *armstorage.FileSharesClientListOptions) (resp azfake.PagerResponder[armstorage.FileSharesClientListResponse]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var page armstorage.FileSharesClientListResponse
	for name, s := range f.shares {
		page.Value = append(page.Value, &armstorage.FileShareItem{Name: to.Ptr(name),
			Properties: &armstorage.FileShareProperties{ShareQuota: s.FileShareProperties.ShareQuota}})
	}
	resp.AddPage(http.StatusOK, page, nil)
	return
}

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
	return clone(g)
}

func (f *fakeAzure) share(name string) *armstorage.FileShare {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.shares[name]
	if !ok {
		return nil
	}
	return clone(s)
}

// throttle answers the first n PUTs of api with 429 and Retry-After,
// recording when each attempt of that api arrived.
type throttle struct {
	mu       sync.Mutex
	api      string
	left     int
	after    int // seconds
	attempts []time.Time
}

func (th *throttle) before(api string, req *http.Request) *http.Response {
	if api != th.api || req.Method != http.MethodPut { // polls carry the same API name
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
	h.Set("Retry-After", strconv.Itoa(th.after))
	h.Set("Content-Type", "application/json")
	body := `{"error":{"code":"TooManyRequests","message":"throttled"}}`
	return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}
}
