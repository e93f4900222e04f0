package aci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/berthhq/berth"
)

// Reading state within ARM's read budget. ARM throttles reads per principal
// and subscription, and create and start begin with a read: a sync loop
// that spends the budget makes them fail. So the sync loop's reads go
// through a cache:
//
//   - one list of the resource group's groups serves every environment of
//     the target for ListTTL (the list carries provisioningState, the IP
//     and the FQDN, but no instanceView);
//   - a group's GET (with instanceView, which says Running, Stopped, or a
//     crashing container) is reused for StateTTL while the list shows the
//     same provisioningState and IP, and for ListTTL while the group is in
//     a passing state (starting, a container waiting or exited);
//   - an operation of this runtime on a group forgets what was read of it;
//   - a 429 stops every read of the target until its Retry-After (either
//     form) has passed; meanwhile the cache answers, or RATE_LIMITED.
type readCache struct {
	mu        sync.Mutex
	listAt    time.Time
	list      map[string]*armcontainerinstance.ContainerGroup // by name; nil: not read
	views     map[string]cachedView
	backoff   time.Time // no read before this
	listEpoch int       // bumped by forget, so a list running across an operation is not trusted
}

type cachedView struct {
	g  *armcontainerinstance.ContainerGroup
	at time.Time
}

// readOpts makes one attempt per read: the sync loop must not sleep through
// Retry-After inside the SDK while other targets wait; it backs off itself.
func readCtx(ctx context.Context) context.Context {
	return policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1})
}

// forget drops what was read of a group (and the list, which may predate
// the change): the next read asks Azure.
func (r *Runtime) forget(group string) {
	c := &r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.views, group)
	c.list = nil
	c.listEpoch++
}

// throttled records a 429's Retry-After, in seconds or as an HTTP date
// (azcore's retry policy reads the same headers).
func (r *Runtime) throttled(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusTooManyRequests {
		return false
	}
	wait := retryAfter(re.RawResponse, r.now())
	if wait <= 0 {
		wait = 30 * time.Second
	}
	r.cache.mu.Lock()
	if until := r.now().Add(wait); until.After(r.cache.backoff) {
		r.cache.backoff = until
	}
	r.cache.mu.Unlock()
	r.log.Warn("Azure throttles reads; backing off", "target", r.cfg.Name, "for", wait.String())
	return true
}

func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(resp.Header.Get(h)); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	v := resp.Header.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

func (r *Runtime) backingOff() bool {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	return r.now().Before(r.cache.backoff)
}

func (r *Runtime) rateLimited(what string) error {
	r.cache.mu.Lock()
	until := r.cache.backoff
	r.cache.mu.Unlock()
	return berth.Errorf(berth.ERATELIMITED, "%s: Azure throttles reads of target %s until %s", what, r.cfg.Name, until.UTC().Format(time.RFC3339))
}

// listed returns the resource group's groups, from the cache when it is
// younger than ListTTL.
func (r *Runtime) listed(ctx context.Context) (map[string]*armcontainerinstance.ContainerGroup, error) {
	c := &r.cache
	c.mu.Lock()
	if c.list != nil && r.now().Sub(c.listAt) < r.cfg.ListTTL {
		l := c.list
		c.mu.Unlock()
		return l, nil
	}
	stale, epoch := c.list, c.listEpoch
	c.mu.Unlock()
	if r.backingOff() {
		if stale != nil {
			return stale, nil
		}
		return nil, r.rateLimited("list container groups")
	}
	out := map[string]*armcontainerinstance.ContainerGroup{}
	pager := r.groups.NewListByResourceGroupPager(r.cfg.ResourceGroup, nil)
	for pager.More() {
		page, err := pager.NextPage(readCtx(ctx))
		if err != nil {
			if r.throttled(err) && stale != nil {
				return stale, nil
			}
			return nil, r.azError(err, "list container groups of %s", r.cfg.ResourceGroup)
		}
		for _, g := range page.Value {
			if g == nil || g.Name == nil {
				continue
			}
			if g.Properties == nil {
				g.Properties = &armcontainerinstance.ContainerGroupPropertiesProperties{}
			}
			out[*g.Name] = g
		}
	}
	c.mu.Lock()
	if c.listEpoch == epoch {
		c.list, c.listAt = out, r.now()
	}
	c.mu.Unlock()
	return out, nil
}

// observe returns the group with its instance view, reading as little as
// the cache rules above allow; nil when it does not exist.
func (r *Runtime) observe(ctx context.Context, name string) (*armcontainerinstance.ContainerGroup, error) {
	l, err := r.listed(ctx)
	if err != nil {
		return nil, err
	}
	lg, ok := l[name]
	if !ok {
		return nil, nil
	}
	c := &r.cache
	c.mu.Lock()
	v, cached := c.views[name]
	c.mu.Unlock()
	if cached && r.fresh(v, lg) {
		return v.g, nil
	}
	if !strings.EqualFold(deref(lg.Properties.ProvisioningState), "Succeeded") && !isFailed(lg) {
		return lg, nil // creating, pending, deleting…: the list says all there is
	}
	if r.backingOff() {
		if cached {
			return v.g, nil
		}
		return lg, nil
	}
	g, err := r.getGroup(readCtx(ctx), name)
	if err != nil {
		if r.throttled(err) {
			if cached {
				return v.g, nil
			}
			return lg, nil
		}
		return nil, err
	}
	if g != nil {
		c.mu.Lock()
		c.views[name] = cachedView{g: g, at: r.now()}
		c.mu.Unlock()
	}
	return g, nil
}

// fresh says whether a cached GET still describes the group the list shows.
func (r *Runtime) fresh(v cachedView, lg *armcontainerinstance.ContainerGroup) bool {
	age := r.now().Sub(v.at)
	if !strings.EqualFold(deref(v.g.Properties.ProvisioningState), deref(lg.Properties.ProvisioningState)) ||
		ipOf(v.g) != ipOf(lg) {
		return false
	}
	if isFailed(lg) {
		return true // a failed group stays failed until berth replaces it
	}
	switch r.stateOf(v.g, names{}).Status {
	case berth.EnvStopped:
		return age < r.cfg.StateTTL
	case berth.EnvRunning:
		if _, _, exited := containerState(v.g); !exited {
			return age < r.cfg.StateTTL
		}
	}
	return age < r.cfg.ListTTL
}

func ipOf(g *armcontainerinstance.ContainerGroup) string {
	if g.Properties == nil || g.Properties.IPAddress == nil {
		return ""
	}
	return deref(g.Properties.IPAddress.IP)
}

// EnvironmentState reads the group. A group that does not exist is
// NOT_FOUND, so that a reader never overwrites a create in progress. A
// group that Azure failed for good is reported ERROR with Azure's reason and
// removed (its share is kept; start creates the group again).
func (r *Runtime) EnvironmentState(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return nil, err
	}
	g, err := r.observe(ctx, n.group)
	if err != nil {
		return nil, r.azError(err, "read environment %s", env.ID)
	}
	if g == nil {
		return nil, berth.Errorf(berth.ENOTFOUND, "environment %s: container group %s not found on target %s", env.ID, n.group, r.cfg.Name)
	}
	st := r.stateOf(g, n)
	if isFailed(g) && r.ownGroup(g) {
		r.removeFailed(ctx, env.ID, n.group)
	}
	return st, nil
}

// removeFailed deletes a failed group once, in the background: a failed
// group runs nothing, and keeping it would make every start replace it.
func (r *Runtime) removeFailed(ctx context.Context, envID, group string) {
	r.cache.mu.Lock()
	if r.removing == nil {
		r.removing = map[string]bool{}
	}
	if r.removing[group] {
		r.cache.mu.Unlock()
		return
	}
	r.removing[group] = true
	r.cache.mu.Unlock()
	r.log.Warn("remove container group Azure failed", "environment", envID, "group", group)
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer func() {
			r.cache.mu.Lock()
			delete(r.removing, group)
			r.cache.mu.Unlock()
		}()
		unlock := r.lock(envID)
		defer unlock()
		// Still failed? A start may have replaced it meanwhile.
		g, err := r.getGroup(context.WithoutCancel(ctx), group)
		if err != nil || g == nil || !isFailed(g) {
			return
		}
		if err := r.deleteGroup(context.WithoutCancel(ctx), group); err != nil {
			r.log.Error("remove failed container group", "environment", envID, "group", group, "err", err)
		}
	}()
}

// Wait returns once background removals have ended (tests, shutdown).
func (r *Runtime) Wait() { r.bg.Wait() }

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

// crashLoopRestarts is how many restarts of an exited container make a crash
// loop even before Azure says CrashLoopBackOff.
const crashLoopRestarts = 3

// stateOf maps provisioningState, instanceView.state and the container's
// state to Dev8's statuses, keeping Azure's reason in Message.
//
// With restart policy Always a container that exits is started again: a
// container Terminated (or Waiting to be restarted) after fewer than
// crashLoopRestarts restarts is a brief exit and the group stays RUNNING; a
// container Waiting in CrashLoopBackOff, or one that keeps exiting, is
// ERROR with Azure's reason and the restart count (it would otherwise show
// STARTING for ever, never be auto-stopped, and bill).
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
	cs, restarts, _ := containerState(g)
	reason := func() string {
		parts := []string{"provisioningState " + deref(p.ProvisioningState)}
		if inst != "" {
			parts = append(parts, "state "+instanceState(g))
		}
		if cs.detail != "" {
			parts = append(parts, "container "+cs.detail)
		}
		if restarts > 0 {
			parts = append(parts, fmt.Sprintf("restarted %d times", restarts))
		}
		if ev := lastEvent(g); ev != "" {
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
			switch {
			case strings.Contains(strings.ToLower(cs.detail), "crashloopbackoff"),
				(cs.state == "terminated" || cs.state == "waiting") && restarts >= crashLoopRestarts:
				st.Status, st.Message = berth.EnvError, reason()
			case cs.state == "terminated" || (cs.state == "waiting" && restarts > 0):
				st.Message = reason() // exited once, being restarted
			case cs.state == "waiting":
				st.Status, st.Message = berth.EnvStarting, reason()
			}
		case "stopped":
			st.Status = berth.EnvStopped
			st.PublicIP = "" // a stopped group is deallocated: its IP is released
		case "stopping":
			st.Status = berth.EnvStopping
		case "failed", "terminated":
			st.Status, st.Message = berth.EnvError, reason()
		default: // pending, starting, restarting, or no instance view (yet)
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

type ctrState struct{ state, detail string }

// containerState is the workspace container's current state, its restart
// count, and whether it is exited or waiting (a passing state).
func containerState(g *armcontainerinstance.ContainerGroup) (ctrState, int32, bool) {
	if g.Properties == nil {
		return ctrState{}, 0, false
	}
	for _, c := range g.Properties.Containers {
		if c == nil || c.Properties == nil || c.Properties.InstanceView == nil || c.Properties.InstanceView.CurrentState == nil {
			continue
		}
		iv := c.Properties.InstanceView
		cs := iv.CurrentState
		out := ctrState{state: strings.ToLower(deref(cs.State)), detail: deref(cs.State)}
		if d := deref(cs.DetailStatus); d != "" {
			out.detail += " (" + d + ")"
		}
		if cs.ExitCode != nil && out.state == "terminated" {
			out.detail += fmt.Sprintf(" exit code %d", *cs.ExitCode)
		}
		return out, deref(iv.RestartCount), out.state == "terminated" || out.state == "waiting"
	}
	return ctrState{}, 0, false
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
