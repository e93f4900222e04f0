package aci

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
)

func testConfig(f *fakeAzure, tr *routeTransport, logs *testutil.SyncBuffer) Config {
	return Config{
		Name: "aci-eastus", SubscriptionID: "00000000-0000-0000-0000-000000000001", ResourceGroup: "rg-eastus",
		Region: "eastus", StorageAccount: "berthws", Image: "vaibhavsing/dev8-workspace:latest",
		RegistryServer: "index.docker.io", RegistryUsername: "dev8", RegistryPassword: "registry-pass-must-not-leak",
		Credential:    &azfake.TokenCredential{},
		ClientOptions: &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr}},
		PollInterval:  10 * time.Millisecond, OperationTimeout: 30 * time.Second, Now: f.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func newRuntime(t *testing.T, f *fakeAzure, mod func(*Config)) (*Runtime, *routeTransport, *testutil.SyncBuffer) {
	t.Helper()
	tr, logs := f.transport(), &testutil.SyncBuffer{}
	cfg := testConfig(f, tr, logs)
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, tr, logs
}

var testSecrets = berth.EnvSecrets{
	GithubToken: "ghp_secretgithubtoken", SSHPublicKey: "ssh-ed25519 AAAAsecretkey", CodeServerPassword: "code-server-pw-1",
	AnthropicAPIKey: "sk-ant-secret", OpenAIAPIKey: "sk-proj-secret", GeminiAPIKey: "AIzaSecretGemini",
}

func testEnv(id string) *berth.Environment {
	return &berth.Environment{
		ID: id, UserID: "user-1", Name: "my-env", CPUCores: 2, MemoryGB: 4, StorageGB: 30, BaseImage: "node",
		GitUserName: "Jane Doe", GitUserEmail: "jane@example.com", Secrets: testSecrets,
		Env: map[string]string{"BERTH_ACTIVITY_URL": "http://127.0.0.1:8080/api/v1/environments/" + id + "/activity",
			"BERTH_ACTIVITY_TOKEN": "activity-token-secret", "EDITOR": "vim"},
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	cases := []struct {
		id   string
		ok   bool
		want string // group name when ok
	}{
		{"env-abc123xyz0", true, "berth-env-abc123xyz0"},
		{"e", true, "berth-e"},
		{"9env", false, ""},                  // DNS label must start with a letter
		{"env--x", false, ""},                // consecutive hyphens
		{"Env-Upper", false, ""},             // not a DNS-1123 label
		{strings.Repeat("a", 60), false, ""}, // group and label exceed 63
		{strings.Repeat("a", 50), true, "berth-" + strings.Repeat("a", 50)},
	}
	for _, tc := range cases {
		n, err := r.namesFor(tc.id)
		if tc.ok != (err == nil) {
			t.Errorf("namesFor(%q): err = %v, want ok=%v", tc.id, err, tc.ok)
			continue
		}
		if err != nil {
			if !berth.IsCode(err, berth.EINVALID) {
				t.Errorf("namesFor(%q): code %s, want INVALID_REQUEST", tc.id, berth.ErrorCode(err))
			}
			continue
		}
		if n.group != tc.want || n.share != "workspace-"+tc.id || !strings.HasPrefix(n.dnsLabel, tc.id+"-") {
			t.Errorf("namesFor(%q) = %+v", tc.id, n)
		}
	}
	// The label depends on the installation (subscription and resource group).
	other, _, _ := newRuntime(t, f, func(c *Config) { c.ResourceGroup = "rg-other" })
	a, _ := r.namesFor("env-1")
	b, _ := other.namesFor("env-1")
	if a.dnsLabel == b.dnsLabel {
		t.Errorf("two resource groups share the DNS label %s", a.dnsLabel)
	}
}

func TestConfigsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AZURE_SUBSCRIPTION_ID": "sub-1", "AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "client-1",
		"AZURE_CLIENT_SECRET": "client-secret", "AZURE_REGIONS": "eastus, WestEurope,eastus",
		"AZURE_RESOURCE_GROUP": "rg-all", "AZURE_RESOURCE_GROUP_WESTEUROPE": "rg-we",
		"AZURE_STORAGE_ACCOUNT": "stall", "AZURE_STORAGE_KEY": "k", "CONTAINER_IMAGE": "acme/ws:1",
		"REGISTRY_SERVER": "index.docker.io", "REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "p",
		"AGENT_BASE_URL": "http://agent:8080",
	}
	cfgs, err := ConfigsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 {
		t.Fatalf("got %d targets, want 2", len(cfgs))
	}
	want := []struct{ name, region, rg string }{{"aci-eastus", "eastus", "rg-all"}, {"aci-westeurope", "westeurope", "rg-we"}}
	for i, w := range want {
		c := cfgs[i]
		if c.Name != w.name || c.Region != w.region || c.ResourceGroup != w.rg || c.StorageAccount != "stall" ||
			c.StorageKey != "k" || c.Image != "acme/ws:1" || c.RegistryPassword != "p" || c.AgentBaseURL != "http://agent:8080" || c.Credential == nil {
			t.Errorf("target %d = %+v", i, c)
		}
		if _, err := New(c); err != nil {
			t.Errorf("New(%s): %v", c.Name, err)
		}
	}
	if cfgs, err := ConfigsFromEnv(func(string) string { return "" }); err != nil || len(cfgs) != 0 {
		t.Errorf("without a subscription: %d targets, err %v", len(cfgs), err)
	}
	_, err = TargetConfig{Name: "x", Region: "eastus", Auth: "clientSecret"}.Config(func(k string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "AZURE_TENANT_ID") {
		t.Errorf("clientSecret without its variables: %v", err)
	}
	if _, err := (TargetConfig{Region: "eastus", Auth: "magic"}).Config(func(string) string { return "" }); err == nil {
		t.Error("an unknown auth was accepted")
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, logs := newRuntime(t, f, nil)
	env := testEnv("env-life00001")

	st, err := r.ApplyEnvironment(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != berth.EnvCreating || st.ContainerGroupID != "berth-env-life00001" || st.FileShareName != "workspace-env-life00001" {
		t.Fatalf("state after create = %+v", st)
	}
	n, _ := r.namesFor(env.ID)
	g := f.group(n.group)
	checkGroup(t, g, env)
	if s := f.share(n.share); s == nil || *s.FileShareProperties.ShareQuota != 30 ||
		*s.FileShareProperties.Metadata["berth_dev_id"] != env.ID || *s.FileShareProperties.Metadata["app_kubernetes_io_managed_by"] != "berth" {
		t.Errorf("share = %+v", s)
	}
	f.clock.Advance(f.pullTime)
	st, err = r.EnvironmentState(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	// The FQDN is Azure's (a reuse scope puts a hash in it), not one berth guesses.
	fqdn := deref(f.render(&fakeGroup{spec: g, phase: "running"}, false).Properties.IPAddress.Fqdn)
	wantURL := "http://" + fqdn + ":8080"
	if st.Status != berth.EnvRunning || st.URL != wantURL || st.PublicIP == "" || !strings.HasPrefix(fqdn, n.dnsLabel+"-") {
		t.Fatalf("state after the pull = %+v (fqdn %s)", st, fqdn)
	}

	// Applying again changes nothing.
	if _, err := r.ApplyEnvironment(ctx, env); err != nil || f.creates != 1 {
		t.Fatalf("second apply: err %v, %d group creates", err, f.creates)
	}

	steps := []struct {
		name string
		do   func() error
		want berth.EnvStatus
		ip   bool
	}{
		{"stop", func() error { return r.StopEnvironment(ctx, env) }, berth.EnvStopped, false},
		{"stop again", func() error { return r.StopEnvironment(ctx, env) }, berth.EnvStopped, false},
		{"start", func() error { return r.StartEnvironment(ctx, env) }, berth.EnvRunning, true},
		{"restart", func() error { return r.RestartEnvironment(ctx, env) }, berth.EnvRunning, true},
		{"apply stopped", func() error {
			e := *env
			e.Stopped = true
			_, err := r.ApplyEnvironment(ctx, &e)
			return err
		}, berth.EnvStopped, false},
		{"apply running", func() error { _, err := r.ApplyEnvironment(ctx, env); return err }, berth.EnvRunning, true},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		st, err := r.EnvironmentState(ctx, env)
		if err != nil {
			t.Fatalf("%s: state: %v", s.name, err)
		}
		t.Logf("%s: %+v", s.name, st)
		if s.want == berth.EnvRunning && st.Status == berth.EnvStarting {
			f.clock.Advance(f.pullTime) // a start pulls the image again
			if st, err = r.EnvironmentState(ctx, env); err != nil {
				t.Fatalf("%s: state: %v", s.name, err)
			}
		}
		if st.Status != s.want || (st.PublicIP != "") != s.ip || st.URL != wantURL {
			t.Errorf("%s: state = %+v, want %s (ip %v)", s.name, st, s.want, s.ip)
		}
	}

	var lines []berth.LogLine
	if err := r.EnvironmentLogs(ctx, env, berth.LogOptions{Tail: 1}, func(l berth.LogLine) error {
		lines = append(lines, l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Line != "listening on 0.0.0.0:8080" || lines[0].Time.IsZero() {
		t.Errorf("logs tail 1 = %+v", lines)
	}

	inv, err := r.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 2 || inv[0].Type != TypeContainerGroup || inv[1].Type != TypeFileShare || inv[0].Orphaned || inv[1].Orphaned {
		t.Errorf("inventory = %+v", inv)
	}

	if err := r.DeleteEnvironment(ctx, env, true); err != nil {
		t.Fatal(err)
	}
	if g, s := f.counts(); g != 0 || s != 1 {
		t.Fatalf("after delete with keepVolume: %d groups, %d shares", g, s)
	}
	if _, err := r.EnvironmentState(ctx, env); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("state of a deleted environment: %v", err)
	}
	if err := r.StopEnvironment(ctx, env); err == nil {
		t.Error("stopping a missing group succeeded")
	}
	for range 2 { // deleting what is gone succeeds
		if err := r.DeleteEnvironment(ctx, env, false); err != nil {
			t.Fatal(err)
		}
	}
	if g, s := f.counts(); g != 0 || s != 0 {
		t.Fatalf("after delete: %d groups, %d shares", g, s)
	}
	checkNoSecrets(t, "runtime log", logs.String())
}

// checkGroup verifies the group berth submitted for env.
func checkGroup(t *testing.T, g *armcontainerinstance.ContainerGroup, env *berth.Environment) {
	t.Helper()
	if g == nil {
		t.Fatal("no container group")
	}
	wantTags := map[string]string{"app.kubernetes.io_managed-by": "berth", "berth.dev_kind": "environment",
		"berth.dev_id": env.ID, "berth.dev_owner": env.UserID}
	for k, v := range wantTags {
		if got := deref(g.Tags[k]); got != v {
			t.Errorf("tag %s = %q, want %q", k, got, v)
		}
	}
	p := g.Properties
	if deref(g.Location) != "eastus" || deref(p.RestartPolicy) != armcontainerinstance.ContainerGroupRestartPolicyAlways ||
		deref(p.IPAddress.Type) != armcontainerinstance.ContainerGroupIPAddressTypePublic || *p.IPAddress.Ports[0].Port != 8080 ||
		deref(p.IPAddress.AutoGeneratedDomainNameLabelScope) != armcontainerinstance.DNSNameLabelReusePolicyTenantReuse {
		t.Errorf("group properties: location %v restart %v ip %+v", deref(g.Location), deref(p.RestartPolicy), p.IPAddress)
	}
	if len(p.ImageRegistryCredentials) != 1 || deref(p.ImageRegistryCredentials[0].Username) != "dev8" {
		t.Errorf("registry credentials = %+v", p.ImageRegistryCredentials)
	}
	v := p.Volumes[0].AzureFile
	if deref(v.ShareName) != "workspace-"+env.ID || deref(v.StorageAccountName) != "berthws" || deref(v.StorageAccountKey) != testStorageKey {
		t.Errorf("volume = %+v", v)
	}
	c := p.Containers[0].Properties
	if deref(c.Image) != "vaibhavsing/dev8-workspace:latest" || *c.Resources.Requests.CPU != 2 || *c.Resources.Requests.MemoryInGB != 4 ||
		deref(c.VolumeMounts[0].MountPath) != "/workspace" {
		t.Errorf("container: image %s resources %+v mounts %+v", deref(c.Image), c.Resources.Requests, c.VolumeMounts)
	}
	vars := map[string]*armcontainerinstance.EnvironmentVariable{}
	for _, ev := range c.EnvironmentVariables {
		vars[*ev.Name] = ev
	}
	secure := env.Secrets.EnvVars()
	secure["BERTH_ACTIVITY_TOKEN"] = env.Env["BERTH_ACTIVITY_TOKEN"]
	for k, want := range secure {
		ev := vars[k]
		if ev == nil || deref(ev.SecureValue) != want || ev.Value != nil {
			t.Errorf("%s is not a SecureValue: %+v", k, ev)
		}
	}
	for k, want := range map[string]string{"GIT_USER_NAME": env.GitUserName, "GIT_USER_EMAIL": env.GitUserEmail,
		"BASE_IMAGE": env.BaseImage, "EDITOR": "vim", "ENVIRONMENT_ID": env.ID, "BERTH_ACTIVITY_URL": env.Env["BERTH_ACTIVITY_URL"]} {
		ev := vars[k]
		if ev == nil || deref(ev.Value) != want || ev.SecureValue != nil {
			t.Errorf("%s is not the plain value %q: %+v", k, want, ev)
		}
	}
}

func checkNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range append(testSecrets.Values(), "activity-token-secret", testStorageKey, "registry-pass-must-not-leak") {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q", where, s)
		}
	}
}

func TestImageChoice(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, func(c *Config) { c.Templates = map[string]string{"python": "acme/python-ws:3"} })
	cases := []struct {
		base, template, want string
		ok                   bool
	}{
		{"node", "", "vaibhavsing/dev8-workspace:latest", true},
		{"", "", "vaibhavsing/dev8-workspace:latest", true},
		{"ghcr.io/acme/ws:2", "python", "ghcr.io/acme/ws:2", true},
		{"node", "python", "acme/python-ws:3", true},
		{"node", "default", "vaibhavsing/dev8-workspace:latest", true},
		{"node", "rust", "", false},
	}
	for _, tc := range cases {
		got, err := r.image(&berth.Environment{BaseImage: tc.base, Template: tc.template})
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("image(%q, %q) = %q, %v; want %q", tc.base, tc.template, got, err, tc.want)
		}
		if err != nil && !berth.IsCode(err, berth.EINVALID) {
			t.Errorf("image(%q, %q): code %s", tc.base, tc.template, berth.ErrorCode(err))
		}
	}
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	n, _ := r.namesFor("env-map")
	cases := []struct {
		prov, inst, container, detail string
		restarts                      int32
		want                          berth.EnvStatus
		reason                        string
	}{
		{"Creating", "", "", "", 0, berth.EnvCreating, ""},
		{"Pending", "", "", "", 0, berth.EnvStarting, ""},
		{"Succeeded", "Running", "Running", "", 0, berth.EnvRunning, ""},
		{"Succeeded", "Running", "Waiting", "ContainerCreating", 0, berth.EnvStarting, "ContainerCreating"},
		// Restart policy Always: a crash loop is an error, with the count…
		{"Succeeded", "Running", "Waiting", "CrashLoopBackOff: Back-off restarting failed container", 4, berth.EnvError, "restarted 4 times"},
		{"Succeeded", "Running", "Terminated", "Error", crashLoopRestarts, berth.EnvError, "Terminated (Error)"},
		// …one exit that Azure restarts is not.
		{"Succeeded", "Running", "Terminated", "Completed", 0, berth.EnvRunning, "Terminated"},
		{"Succeeded", "Running", "Running", "", 1, berth.EnvRunning, ""},
		{"Succeeded", "Stopped", "", "", 0, berth.EnvStopped, ""},
		{"Succeeded", "Stopping", "", "", 0, berth.EnvStopping, ""},
		{"Succeeded", "Pending", "", "", 0, berth.EnvStarting, ""},
		{"Updating", "", "", "", 0, berth.EnvStarting, ""},
		{"Failed", "", "", "", 0, berth.EnvError, "provisioningState Failed"},
		{"Succeeded", "Failed", "", "", 0, berth.EnvError, "state Failed"},
		{"Deleting", "", "", "", 0, berth.EnvDeleting, ""},
	}
	for _, tc := range cases {
		g := &armcontainerinstance.ContainerGroup{Properties: &armcontainerinstance.ContainerGroupPropertiesProperties{
			ProvisioningState: &tc.prov,
			Containers:        []*armcontainerinstance.Container{{Properties: &armcontainerinstance.ContainerProperties{}}},
		}}
		if tc.inst != "" {
			g.Properties.InstanceView = &armcontainerinstance.ContainerGroupPropertiesInstanceView{State: &tc.inst}
		}
		if tc.container != "" {
			g.Properties.Containers[0].Properties.InstanceView = &armcontainerinstance.ContainerPropertiesInstanceView{
				CurrentState: &armcontainerinstance.ContainerState{State: &tc.container, DetailStatus: &tc.detail}, RestartCount: &tc.restarts}
		}
		st := r.stateOf(g, n)
		if st.Status != tc.want || !strings.Contains(st.Message, tc.reason) {
			t.Errorf("%s/%s/%s: %s %q, want %s with %q", tc.prov, tc.inst, tc.container, st.Status, st.Message, tc.want, tc.reason)
		}
	}
}

// TestThrottledCreate proves the configured retry policy: Azure answers the
// group PUT twice with 429 and Retry-After: 1, and the create succeeds on
// the third attempt, each retry waiting at least what Azure asked.
func TestThrottledCreate(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, tr, _ := newRuntime(t, f, nil)
	th := &throttle{api: "ContainerGroupsClient.BeginCreateOrUpdate", left: 2, after: 1}
	tr.setBefore(th.before)
	st, err := r.ApplyEnvironment(context.Background(), testEnv("env-throttled"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != berth.EnvCreating {
		t.Errorf("status %s", st.Status)
	}
	if len(th.attempts) != 3 {
		t.Fatalf("%d attempts, want 3", len(th.attempts))
	}
	if n := r.Throttles(); n != 2 {
		t.Errorf("Throttles() = %d after two 429s the retry policy absorbed, want 2", n)
	}
	for i := 1; i < len(th.attempts); i++ {
		if gap := th.attempts[i].Sub(th.attempts[i-1]); gap < 950*time.Millisecond {
			t.Errorf("retry %d came after %v, before the Retry-After of 1s", i, gap)
		}
	}
	// A Retry-After beyond the policy's bound fails with RATE_LIMITED rather than sleeping.
	th2 := &throttle{api: "ContainerGroupsClient.BeginCreateOrUpdate", left: 1, after: 3600}
	tr.setBefore(th2.before)
	_, err = r.ApplyEnvironment(context.Background(), testEnv("env-throttled2"))
	if !berth.IsCode(err, berth.ERATELIMITED) {
		t.Errorf("long Retry-After: %v, want RATE_LIMITED", err)
	}
	if n := r.Throttles(); n != 3 {
		t.Errorf("Throttles() = %d after a third 429, want 3", n)
	}
	// Throttling is not Azure refusing the group: the share stays for the
	// retry (the sync loop or a start), nothing is torn down.
	if g, s := f.counts(); g != 1 || s != 2 {
		t.Errorf("after a throttled create: %d groups, %d shares, want 1 and 2", g, s)
	}
}

// TestCrashMidCreate kills the creating goroutine between the share and the
// group, as a crash of berth would: the next apply reuses the share, and a
// share whose environment berth no longer knows is removed after the grace.
func TestCrashMidCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	known := map[string]bool{"env-crash1": true}
	var knownMu sync.Mutex
	r, tr, _ := newRuntime(t, f, func(c *Config) {
		c.Known = func(_ context.Context, id string) (bool, error) {
			knownMu.Lock()
			defer knownMu.Unlock()
			return known[id], nil
		}
		c.CleanupOrphans, c.OrphanGrace = true, time.Hour
	})
	crash := func(id string) {
		tr.setBefore(func(api string, _ *http.Request) *http.Response {
			if api == "ContainerGroupsClient.BeginCreateOrUpdate" {
				runtime.Goexit()
			}
			return nil
		})
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.ApplyEnvironment(ctx, testEnv(id))
			t.Error("apply went on past the crash")
		}()
		<-done
		tr.setBefore(nil)
	}
	crash("env-crash1")
	crash("env-crash2")
	if g, s := f.counts(); g != 0 || s != 2 {
		t.Fatalf("after the crashes: %d groups, %d shares, want 0 and 2", g, s)
	}

	// env-crash1 is still in the store: retrying reuses its share.
	st, err := r.ApplyEnvironment(ctx, testEnv("env-crash1"))
	if err != nil || st.Status != berth.EnvCreating {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	if g, s := f.counts(); g != 1 || s != 2 {
		t.Fatalf("after the retry: %d groups, %d shares", g, s)
	}

	// env-crash2 is unknown to the store: orphaned, removed after the grace.
	inv, err := r.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orphans := 0
	for _, it := range inv {
		if it.Orphaned {
			orphans++
			if it.ID != "workspace-env-crash2" {
				t.Errorf("%s/%s marked orphaned", it.Type, it.ID)
			}
		}
	}
	if orphans != 1 {
		t.Fatalf("%d orphans in %+v", orphans, inv)
	}
	if err := r.CleanupOrphans(ctx); err != nil {
		t.Fatal(err)
	}
	if f.share("workspace-env-crash2") == nil {
		t.Fatal("orphan removed before its grace period")
	}
	f.clock.Advance(time.Hour)
	if err := r.CleanupOrphans(ctx); err != nil {
		t.Fatal(err)
	}
	if f.share("workspace-env-crash2") != nil || f.share("workspace-env-crash1") == nil || f.group("berth-env-crash1") == nil {
		t.Fatal("cleanup removed the wrong resources")
	}

	// A group forgotten by the store goes too, group before share.
	knownMu.Lock()
	delete(known, "env-crash1")
	knownMu.Unlock()
	for range 2 {
		if err := r.CleanupOrphans(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
	}
	if g, s := f.counts(); g != 0 || s != 0 {
		t.Errorf("after cleaning up a forgotten environment: %d groups, %d shares", g, s)
	}
}

// TestFailedCreateCleansUp: Azure refuses the group; berth removes the
// failed group and the share it made, and the error says why.
func TestFailedCreateCleansUp(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	f.failCreate = &struct {
		status int
		code   string
	}{http.StatusBadRequest, "InaccessibleImage"}
	r, _, logs := newRuntime(t, f, nil)
	_, err := r.ApplyEnvironment(context.Background(), testEnv("env-failed"))
	if !berth.IsCode(err, berth.EINVALID) || !strings.Contains(berth.ErrorMessage(err), "InaccessibleImage") {
		t.Fatalf("err = %v", err)
	}
	checkNoSecrets(t, "error", err.Error())
	if g, s := f.counts(); g != 0 || s != 0 {
		t.Errorf("after a failed create: %d groups, %d shares", g, s)
	}
	checkNoSecrets(t, "runtime log", logs.String())
}

// TestConcurrentCreate: many applies of one environment make one group and
// one share.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := r.ApplyEnvironment(context.Background(), testEnv("env-same"))
			if err == nil && st.Status != berth.EnvCreating {
				err = berth.Errorf(berth.EINTERNAL, "status %s", st.Status)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if g, s := f.counts(); g != 1 || s != 1 || f.creates != 1 {
		t.Errorf("%d groups, %d shares, %d creates; want 1 each", g, s, f.creates)
	}
}
