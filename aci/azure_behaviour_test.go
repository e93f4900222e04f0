package aci

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/berthhq/berth"
)

// Each test here covers one way real Azure differs from a fake that
// finishes everything at once (see fakeAzure's list of behaviours).

// TestSlowCreateAnswersAtOnce: the image pull outlasts the caller. Create
// answers CREATING at once and nothing is torn down when the caller gives
// up; the group runs once the pull is over.
func TestSlowCreateAnswersAtOnce(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	f.pullTime, f.lroPolls = 20*time.Minute, 1000 // a large image; the poller would take ages
	r, _, _ := newRuntime(t, f, nil)
	env := testEnv("env-slow00001")
	// The caller (Dev8, a proxy) stops waiting after a short while.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	st, err := r.ApplyEnvironment(ctx, env)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if took := time.Since(start); took > time.Second || st.Status != berth.EnvCreating {
		t.Fatalf("create answered %s after %v, want CREATING at once", st.Status, took)
	}
	cancel() // the caller is gone: the create goes on in Azure
	if g, s := f.counts(); g != 1 || s != 1 {
		t.Fatalf("after the caller left: %d groups, %d shares, want 1 and 1", g, s)
	}
	bg := context.Background()
	for _, step := range []struct {
		after time.Duration
		want  berth.EnvStatus
	}{{0, berth.EnvCreating}, {10 * time.Minute, berth.EnvCreating}, {10 * time.Minute, berth.EnvRunning}} {
		f.clock.Advance(step.after)
		st, err := r.EnvironmentState(bg, env)
		if err != nil || st.Status != step.want {
			t.Fatalf("after %v more: %+v, %v; want %s", step.after, st, err, step.want)
		}
	}
	if f.creates != 1 {
		t.Errorf("%d group creates, want 1", f.creates)
	}
}

// TestCreateFailedInAzure: the PUT is accepted and the deployment fails later
// (a definite failure): the state is ERROR with Azure's reason, the failed
// group is removed, the share kept, and a start creates the group again.
func TestCreateFailedInAzure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	env := testEnv("env-fails0001")
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n, _ := r.namesFor(env.ID)
	f.do(n.group, func(g *fakeGroup) { g.failWith = "InaccessibleImage: image not found" })
	f.clock.Advance(f.pullTime)
	st, err := r.EnvironmentState(ctx, env)
	if err != nil || st.Status != berth.EnvError || !strings.Contains(st.Message, "InaccessibleImage") {
		t.Fatalf("state of a failed create: %+v, %v", st, err)
	}
	r.Wait()
	if f.group(n.group) != nil || f.share(n.share) == nil {
		t.Fatalf("after a failed deployment: group kept %v, share kept %v; want the group removed, the share kept",
			f.group(n.group) != nil, f.share(n.share) != nil)
	}
	if err := r.StartEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(f.pullTime)
	if st, err := r.EnvironmentState(ctx, env); err != nil || st.Status != berth.EnvRunning {
		t.Fatalf("start after the failure: %+v, %v", st, err)
	}
}

func TestDefiniteFailure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want bool
	}{
		{&azcore.ResponseError{StatusCode: 400, ErrorCode: "InaccessibleImage"}, true},
		{&azcore.ResponseError{StatusCode: 403, ErrorCode: "AuthorizationFailed"}, true},
		{&azcore.ResponseError{StatusCode: 409, ErrorCode: "Conflict"}, false},
		{&azcore.ResponseError{StatusCode: 429, ErrorCode: "TooManyRequests"}, false},
		{&azcore.ResponseError{StatusCode: 500, ErrorCode: "InternalServerError"}, false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("create: %w", context.Canceled), false},
	}
	for _, tc := range cases {
		if got := definiteFailure(tc.err); got != tc.want {
			t.Errorf("definiteFailure(%v) = %v", tc.err, got)
		}
	}
}

// TestCrashLoopAndBriefExit: with restart policy Always, a crash loop is
// ERROR with Azure's reason and the restart count (not STARTING for ever);
// one exit that Azure restarts stays RUNNING.
func TestCrashLoopAndBriefExit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	env := testEnv("env-crashy001")
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(f.pullTime)
	n, _ := r.namesFor(env.ID)
	steps := []struct {
		name   string
		do     func()
		want   berth.EnvStatus
		reason []string
	}{
		{"runs", func() {}, berth.EnvRunning, nil},
		{"exits once", func() { f.exitOnce(n.group) }, berth.EnvRunning, nil},
		{"crash loop", func() { f.crashLoop(n.group, 6) }, berth.EnvError, []string{"CrashLoopBackOff", "restarted 6 times"}},
		{"restarted by hand", func() {
			if err := r.RestartEnvironment(ctx, env); err != nil {
				t.Fatal(err)
			}
		}, berth.EnvRunning, nil},
	}
	for _, s := range steps {
		s.do()
		f.clock.Advance(r.cfg.StateTTL) // what Azure does on its own shows within StateTTL
		st, err := r.EnvironmentState(ctx, env)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if st.Status != s.want {
			t.Errorf("%s: %s (%s), want %s", s.name, st.Status, st.Message, s.want)
		}
		for _, want := range s.reason {
			if !strings.Contains(st.Message, want) {
				t.Errorf("%s: message %q lacks %q", s.name, st.Message, want)
			}
		}
	}
}

// TestStorageKeyRotation: after the account key is rotated, a start of a
// stopped environment writes the new key into its group (else the share
// cannot be mounted), and a new create uses the new key: neither waits for
// a restart of berth.
func TestStorageKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, logs := newRuntime(t, f, nil)
	old := testEnv("env-rotate001")
	if _, err := r.ApplyEnvironment(ctx, old); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(f.pullTime)
	if err := r.StopEnvironment(ctx, old); err != nil {
		t.Fatal(err)
	}
	f.rotateKey()
	f.clock.Advance(r.cfg.KeyTTL)
	if err := r.StartEnvironment(ctx, old); err != nil {
		t.Fatal(err)
	}
	fresh := testEnv("env-rotate002")
	if _, err := r.ApplyEnvironment(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(f.pullTime)
	for _, env := range []*berth.Environment{old, fresh} {
		st, err := r.EnvironmentState(ctx, env)
		if err != nil || st.Status != berth.EnvRunning {
			t.Errorf("%s after the rotation: %+v, %v", env.ID, st, err)
		}
		n, _ := r.namesFor(env.ID)
		if g := f.group(n.group); g == nil || deref(g.Properties.Volumes[0].AzureFile.StorageAccountKey) != f.key {
			t.Errorf("%s does not mount with the current key", env.ID)
		}
	}
	if strings.Contains(logs.String(), f.key) {
		t.Error("the rotated key is in the log")
	}
}

// TestSecretsAreSecureValues: the request's secrets, every Dev8 credential
// and (as a safety net) values named or shaped like credentials go to Azure
// as secureValue; the rest as plain values.
func TestSecretsAreSecureValues(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	env := testEnv("env-secret001")
	env.Secrets.Extra = map[string]string{"DATABASE_URL": "postgres://u:p@db/x", "NPM_AUTH": "npm-1", "SENTRY": "https://key@sentry.io/1"}
	env.Env["APP_DSN"] = "dsn-1"
	env.Env["GH_PAT"] = "pat-1"
	env.Env["REDIS"] = "redis://:hunter2@cache:6379"
	env.Env["PATH_PREFIX"] = "/app"
	n, _ := r.namesFor(env.ID)
	if _, err := r.ApplyEnvironment(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	vars := map[string][2]string{}
	for _, ev := range f.group(n.group).Properties.Containers[0].Properties.EnvironmentVariables {
		vars[*ev.Name] = [2]string{deref(ev.Value), deref(ev.SecureValue)}
	}
	secure := []string{"DATABASE_URL", "NPM_AUTH", "SENTRY", "APP_DSN", "GH_PAT", "REDIS", "BERTH_ACTIVITY_TOKEN"}
	for k := range testSecrets.EnvVars() {
		secure = append(secure, k)
	}
	for _, k := range secure {
		if v := vars[k]; v[0] != "" || v[1] == "" {
			t.Errorf("%s = %q, want a secureValue", k, v)
		}
	}
	for _, k := range []string{"PATH_PREFIX", "EDITOR", "GIT_USER_NAME", "ENVIRONMENT_ID"} {
		if v := vars[k]; v[0] == "" || v[1] != "" {
			t.Errorf("%s = %q, want a plain value", k, v)
		}
	}
	// Nothing of berth's own: only the workspace's activity token.
	for k := range vars {
		if strings.HasPrefix(k, "BERTH_") && k != "BERTH_ACTIVITY_TOKEN" && k != "BERTH_ACTIVITY_URL" || strings.HasPrefix(k, "AZURE_") {
			t.Errorf("the workspace gets %s", k)
		}
	}
}

// TestLogsBeforeOutputAndFollow: while the image is pulled ListLogs answers
// 404 ContainerLogNotAvailable; that is no output yet, not a missing
// environment, and a follow waits for the output. Lines that share a
// timestamp are all passed on, once. Tail 0 is every retained line.
func TestLogsBeforeOutputAndFollow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	env := testEnv("env-logs00001")
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n, _ := r.namesFor(env.ID)
	var got []berth.LogLine
	if err := r.EnvironmentLogs(ctx, env, berth.LogOptions{}, func(l berth.LogLine) error { got = append(got, l); return nil }); err != nil || len(got) != 0 {
		t.Fatalf("logs while pulling: %d lines, %v; want none and no error", len(got), err)
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- r.EnvironmentLogs(fctx, env, berth.LogOptions{Follow: true}, func(l berth.LogLine) error {
			lines <- l.Line
			return nil
		})
	}()
	next := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case err := <-done:
			t.Fatalf("follow ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no line within 10s")
		}
		return ""
	}
	f.clock.Advance(f.pullTime) // the container starts and writes two lines
	for _, want := range []string{"starting code-server", "listening on 0.0.0.0:8080"} {
		if l := next(); l != want {
			t.Fatalf("line %q, want %q", l, want)
		}
	}
	ts := "2026-10-04T12:05:00Z"
	f.appendLogs(n.group, ts+" same-time 1", ts+" same-time 2")
	for _, want := range []string{"same-time 1", "same-time 2"} {
		if l := next(); l != want {
			t.Fatalf("line %q, want %q", l, want)
		}
	}
	f.appendLogs(n.group, ts+" same-time 3") // a third line in the same second, on a later poll
	if l := next(); l != "same-time 3" {
		t.Fatalf("line %q, want same-time 3", l)
	}
	f.appendLogs(n.group, "2026-10-04T12:06:00Z later")
	if l := next(); l != "later" {
		t.Fatalf("line %q, want later (a line was passed twice?)", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}

	many := make([]string, maxTail+50)
	for i := range many {
		many[i] = fmt.Sprintf("2026-10-04T13:00:00.%09dZ line %d", i, i)
	}
	f.appendLogs(n.group, many...)
	count := 0
	if err := r.EnvironmentLogs(ctx, env, berth.LogOptions{Tail: 0}, func(berth.LogLine) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := 2 + 3 + 1 + len(many); count != want {
		t.Errorf("tail 0 gave %d lines, want all %d", count, want)
	}

	if err := r.DeleteEnvironment(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	err := r.EnvironmentLogs(ctx, env, berth.LogOptions{}, func(berth.LogLine) error { return nil })
	if !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("logs of a deleted environment: %v, want NOT_FOUND", err)
	}
}

// TestReadBudget measures the ARM reads of one hour of the sync loop (every
// 2s) for 100 running environments. One GET per environment per sync is
// 180,000 reads an hour, far past ARM's budget for a principal (12,000 reads
// an hour per subscription in the documented limits); berth must stay well
// inside it and still see a crash loop within StateTTL.
func TestReadBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	f.lroPolls = 0
	r, tr, _ := newRuntime(t, f, nil)
	var envs []*berth.Environment
	for i := range 100 {
		env := &berth.Environment{ID: fmt.Sprintf("env-budget%03d", i), UserID: "user-1", StorageGB: 20} // small, to keep the test quick
		if _, err := r.ApplyEnvironment(ctx, env); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	f.clock.Advance(f.pullTime)
	crashed, _ := r.namesFor(envs[7].ID)
	before := tr.readCount()
	seenCrash := time.Duration(-1)
	const tick = 2 * time.Second
	for i := 1; i <= int(time.Hour/tick); i++ {
		f.clock.Advance(tick)
		at := time.Duration(i) * tick
		if at == 30*time.Minute {
			f.crashLoop(crashed.group, 5)
		}
		for j, env := range envs {
			st, err := r.EnvironmentState(ctx, env)
			if err != nil {
				t.Fatalf("at %v: %v", at, err)
			}
			switch {
			case j == 7 && at >= 30*time.Minute:
				if st.Status == berth.EnvError && seenCrash < 0 {
					seenCrash = at - 30*time.Minute
				}
			case st.Status != berth.EnvRunning:
				t.Fatalf("at %v: %s is %s", at, env.ID, st.Status)
			}
		}
	}
	reads := tr.readCount() - before
	t.Logf("ARM reads in one hour for 100 environments: %d (one GET per sync would be 180000)", reads)
	if reads > 4000 {
		t.Errorf("%d ARM reads in an hour, want at most 4000", reads)
	}
	if seenCrash < 0 || seenCrash > r.cfg.StateTTL {
		t.Errorf("the crash loop showed after %v, want within %v", seenCrash, r.cfg.StateTTL)
	}
}

// TestThrottledReadsBackOff: a 429 on a read stops every read of the target
// until Retry-After has passed, in seconds or as an HTTP date; meanwhile
// the last state answers.
func TestThrottledReadsBackOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, tr, _ := newRuntime(t, f, nil)
	env := testEnv("env-throttle1")
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(f.pullTime)
	if st, err := r.EnvironmentState(ctx, env); err != nil || st.Status != berth.EnvRunning {
		t.Fatalf("state: %+v, %v", st, err)
	}
	for _, form := range []string{"seconds", "http-date"} {
		th := &throttle{api: "ContainerGroupsClient.NewListByResourceGroupPager", method: http.MethodGet, left: 1, after: 120}
		if form == "http-date" {
			th.date = f.clock.Now
		}
		tr.setBefore(th.before)
		f.clock.Advance(r.cfg.StateTTL) // the cache has expired: a read goes out and is throttled
		reads := tr.readCount()
		for range 50 { // the sync loop goes on; the target is not read
			st, err := r.EnvironmentState(ctx, env)
			if err != nil || st.Status != berth.EnvRunning {
				t.Fatalf("%s: state while throttled: %+v, %v", form, st, err)
			}
			f.clock.Advance(2 * time.Second)
		}
		if n := tr.readCount() - reads; n != 1 || th.count() != 1 {
			t.Errorf("%s: %d reads while throttled, want the 1 that was throttled", form, n)
		}
		f.clock.Advance(30 * time.Second) // past the 120s
		if _, err := r.EnvironmentState(ctx, env); err != nil || th.count() != 2 {
			t.Errorf("%s: after Retry-After: err %v, %d list attempts, want 2", form, err, th.count())
		}
		tr.setBefore(nil)
	}
}

// TestShareBeingDeleted: a retried create right after a delete meets 409
// ShareBeingDeleted, which is not "the share exists": the create says to
// retry and sends no group that could not mount its share.
func TestShareBeingDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	env := testEnv("env-share0001")
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteEnvironment(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	creates := f.creates
	_, err := r.ApplyEnvironment(ctx, env)
	if !berth.IsCode(err, berth.EUNAVAILABLE) || !strings.Contains(berth.ErrorMessage(err), "being deleted") {
		t.Fatalf("create while the share is deleted: %v, want UNAVAILABLE saying so", err)
	}
	if f.creates != creates {
		t.Error("a group was sent without its share")
	}
	f.clock.Advance(shareDeleteFor)
	if st, err := r.ApplyEnvironment(ctx, env); err != nil || st.Status != berth.EnvCreating {
		t.Fatalf("create after the delete finished: %+v, %v", st, err)
	}
}

// TestShareWithLeasedSnapshots: Azure Backup leases its snapshots, and a
// share with leased snapshots cannot be deleted unless they go too.
func TestShareWithLeasedSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, purge := range []bool{false, true} {
		f := newFakeAzure()
		r, _, _ := newRuntime(t, f, func(c *Config) { c.DeleteLeasedSnapshots = purge })
		env := testEnv("env-backup001")
		if _, err := r.ApplyEnvironment(ctx, env); err != nil {
			t.Fatal(err)
		}
		n, _ := r.namesFor(env.ID)
		f.mu.Lock()
		f.shares[n.share].leased = true
		f.mu.Unlock()
		err := r.DeleteEnvironment(ctx, env, false)
		switch {
		case purge && (err != nil || f.share(n.share) != nil):
			t.Errorf("with deleteLeasedSnapshots: %v, share kept %v", err, f.share(n.share) != nil)
		case !purge && (!berth.IsCode(err, berth.ECONFLICT) || !strings.Contains(berth.ErrorMessage(err), "backup")):
			t.Errorf("without deleteLeasedSnapshots: %v, want CONFLICT naming the backup", err)
		}
	}
}

// TestInventoryStatus: the listing has no instance view, so a stopped group
// is not "Succeeded": the inventory shows Running and Stopped.
func TestInventoryStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	a, b := testEnv("env-inv000001"), testEnv("env-inv000002")
	for _, env := range []*berth.Environment{a, b} {
		if _, err := r.ApplyEnvironment(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(f.pullTime)
	if err := r.StopEnvironment(ctx, b); err != nil {
		t.Fatal(err)
	}
	inv, err := r.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range inv {
		if it.Type == TypeContainerGroup {
			got[it.ID] = it.Status
		}
	}
	if got["berth-env-inv000001"] != "Running" || got["berth-env-inv000002"] != "Stopped" {
		t.Errorf("inventory statuses = %v", got)
	}
}

// TestFailedOperationMessage: a long-running operation that ends Failed is
// answered 200 by its last poll; the error names Azure's code, not "200".
func TestFailedOperationMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	env := testEnv("env-lrofail01")
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	f.failDelete = "ContainerGroupDeletionFailed"
	err := r.DeleteEnvironment(ctx, env, false)
	msg := berth.ErrorMessage(err)
	if err == nil || strings.Contains(msg, "answered 200") || !strings.Contains(msg, "ContainerGroupDeletionFailed") {
		t.Errorf("failed delete: %q", msg)
	}
}

// TestInstallationsShareAResourceGroup: two berths in one resource group
// each see and clean up only their own resources.
func TestInstallationsShareAResourceGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	known := func(context.Context, string) (bool, error) { return false, nil } // every environment is an orphan to both
	mk := func(id string) *Runtime {
		r, _, _ := newRuntime(t, f, func(c *Config) {
			c.InstallationID, c.Known, c.CleanupOrphans, c.OrphanGrace = id, known, true, time.Minute
		})
		return r
	}
	a, b := mk("install-a"), mk("install-b")
	if _, err := a.ApplyEnvironment(ctx, testEnv("env-of-a00001")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyEnvironment(ctx, testEnv("env-of-b00001")); err != nil {
		t.Fatal(err)
	}
	inv, err := a.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range inv {
		if strings.Contains(it.ID, "env-of-b") {
			t.Errorf("installation a lists b's %s", it.ID)
		}
	}
	if err := a.DeleteResource(ctx, TypeContainerGroup, "berth-env-of-b00001"); !berth.IsCode(err, berth.EFORBIDDEN) {
		t.Errorf("a deleting b's group: %v, want FORBIDDEN", err)
	}
	for range 2 {
		if err := a.CleanupOrphans(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
	}
	if f.group("berth-env-of-b00001") == nil || f.share("workspace-env-of-b00001") == nil {
		t.Error("a's orphan cleanup removed b's resources")
	}
	if f.group("berth-env-of-a00001") != nil || f.share("workspace-env-of-a00001") != nil {
		t.Error("a's orphan cleanup kept its own orphans")
	}
	if g := f.group("berth-env-of-b00001"); deref(g.Tags["berth.dev_installation"]) != "install-b" {
		t.Errorf("b's group is tagged %v", g.Tags)
	}
}

// TestSSHPort: Dev8 reports SSH activity, so an environment with an SSH key
// exposes the workspace's sshd; one without does not.
func TestSSHPort(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, nil)
	for _, tc := range []struct {
		key   string
		ports []int32
	}{{"ssh-ed25519 AAAAkey", []int32{8080, 2222}}, {"", []int32{8080}}} {
		env := testEnv("env-ssh")
		env.Secrets.SSHPublicKey = tc.key
		n, _ := r.namesFor(env.ID)
		g, err := r.groupSpec(env, n)
		if err != nil {
			t.Fatal(err)
		}
		var got, gotC []int32
		for _, p := range g.Properties.IPAddress.Ports {
			got = append(got, *p.Port)
		}
		for _, p := range g.Properties.Containers[0].Properties.Ports {
			gotC = append(gotC, *p.Port)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.ports) || fmt.Sprint(gotC) != fmt.Sprint(tc.ports) {
			t.Errorf("key %q: group ports %v, container ports %v, want %v", tc.key, got, gotC, tc.ports)
		}
	}
}

// TestPremiumShareQuota: premium file shares are at least 100 GiB.
func TestPremiumShareQuota(t *testing.T) {
	t.Parallel()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, func(c *Config) { c.PremiumStorage = true })
	env := testEnv("env-premium01")
	_, err := r.ApplyEnvironment(context.Background(), env)
	if !berth.IsCode(err, berth.EINVALID) || !strings.Contains(berth.ErrorMessage(err), "storageGB") {
		t.Fatalf("20 GiB on premium: %v", err)
	}
	if g, s := f.counts(); g != 0 || s != 0 {
		t.Errorf("a refused create made %d groups, %d shares", g, s)
	}
	env.StorageGB = 100
	if _, err := r.ApplyEnvironment(context.Background(), env); err != nil {
		t.Fatal(err)
	}
}

// TestStorageAccountElsewhere: the storage account may live in another
// resource group than the container groups.
func TestStorageAccountElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeAzure()
	r, _, _ := newRuntime(t, f, func(c *Config) { c.StorageResourceGroup = "rg-storage" })
	env := testEnv("env-elsewhere")
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n, _ := r.namesFor(env.ID)
	f.mu.Lock()
	rg := f.shares[n.share].rg
	f.mu.Unlock()
	if rg != "rg-storage" {
		t.Errorf("share made in %q", rg)
	}
	if err := r.DeleteEnvironment(ctx, env, false); err != nil || f.share(n.share) != nil {
		t.Errorf("delete: %v, share kept %v", err, f.share(n.share) != nil)
	}
}

// TestWorkloadIdentity: on AKS with workload identity the federated token
// file selects the workload identity credential, not managed identity.
func TestWorkloadIdentity(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AZURE_SUBSCRIPTION_ID": "s", "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c",
		"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"}
	c, err := TargetConfig{Region: "eastus"}.Config(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Credential.(*azidentity.WorkloadIdentityCredential); !ok {
		t.Errorf("credential %T, want *azidentity.WorkloadIdentityCredential", c.Credential)
	}
	delete(env, "AZURE_FEDERATED_TOKEN_FILE")
	c, err = TargetConfig{Region: "eastus"}.Config(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Credential.(*azidentity.ManagedIdentityCredential); !ok {
		t.Errorf("without a token file: credential %T, want managed identity", c.Credential)
	}
}

// TestTargetSettingsFromEnv: the settings this issue added come from Dev8-style
// variables too, and a DNS label scope Azure does not know is refused.
func TestTargetSettingsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AZURE_SUBSCRIPTION_ID": "s", "AZURE_REGION": "eastus", "AZURE_RESOURCE_GROUP": "rg",
		"AZURE_STORAGE_ACCOUNT": "st", "AZURE_STORAGE_RESOURCE_GROUP_EASTUS": "rg-storage", "AZURE_DNS_LABEL_SCOPE": "SubscriptionReuse",
		"BERTH_INSTALLATION_ID": "inst-1"}
	cfgs, err := ConfigsFromEnv(func(k string) string { return env[k] })
	if err != nil || len(cfgs) != 1 {
		t.Fatalf("%d targets, %v", len(cfgs), err)
	}
	c := cfgs[0]
	if c.StorageResourceGroup != "rg-storage" || c.DNSLabelScope != "SubscriptionReuse" || c.InstallationID != "inst-1" {
		t.Errorf("config = %+v", c)
	}
	if _, err := New(c); err != nil {
		t.Error(err)
	}
	c.DNSLabelScope = "Everyone"
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "dnsLabelScope") {
		t.Errorf("an unknown DNS label scope: %v", err)
	}
}
