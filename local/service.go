package local

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// service is the desired state of one service and the controller goroutine
// that converges its replicas to it.
type service struct {
	rt   *Runtime
	name string
	dir  string // berth's: logs
	wdir string // the workload's: config, work, home

	kick     chan struct{} // desired state changed
	quit     chan struct{}
	quitOnce sync.Once
	done     chan struct{}

	mu         sync.Mutex
	spec       berth.ServiceSpec
	id         identity // the owner's: who replicas run as
	revision   int
	replicas   int
	stopped    bool
	gen        int              // bumped by RestartService: replicas of an older gen are replaced
	active     map[int]*replica // by slot index
	surge      *replica         // the new replica of a rolling step
	everReady  bool
	rolloutErr string // why the rollout to rolloutRev/rolloutGen stopped
	rolloutRev int
	rolloutGen int
	logs       map[int]*logFile
}

// replica is one supervised process of a slot, at a revision.
type replica struct {
	*supervisor
	index    int
	revision int
	gen      int
	port     int // first port, 0 without ports
}

func (r *Runtime) serviceDir(name string) string {
	return filepath.Join(r.cfg.DataDir, "services", name)
}

func (r *Runtime) serviceWorkDir(name string) string {
	return filepath.Join(r.cfg.WorkloadDir, "services", name)
}

func (r *Runtime) lookupService(ref berth.ServiceRef) (*service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.services[ref.Name]
	if !ok {
		return nil, berth.NotFound("service", ref.Name)
	}
	return s, nil
}

func validateLocalSpec(svc *berth.Service) error {
	if err := berth.ValidateDNSLabel("name", svc.Name); err != nil {
		return err
	}
	spec := svc.Spec
	if len(spec.Command) == 0 || strings.TrimSpace(spec.Command[0]) == "" {
		return berth.Invalid("command", "is required on a local target")
	}
	if svc.Replicas < 0 {
		return berth.Invalid("replicas", "must not be negative, got %d", svc.Replicas)
	}
	for name := range spec.Config.Files {
		if !filepath.IsLocal(name) {
			return berth.Invalid("config.files", "%q must be a relative path inside the config directory", name)
		}
	}
	if hc := spec.HealthCheck; hc != nil && (hc.HTTP != "" || hc.TCP) {
		if len(spec.Ports) == 0 {
			return berth.Invalid("healthCheck", "needs a port in ports")
		}
		if hc.Port != "" && !slices.ContainsFunc(spec.Ports, func(p berth.Port) bool { return p.Name == hc.Port }) {
			return berth.Invalid("healthCheck.port", "%q is not a port of the service", hc.Port)
		}
	}
	return nil
}

func copySpec(s berth.ServiceSpec) berth.ServiceSpec {
	out := s
	out.Command = slices.Clone(s.Command)
	out.Env = maps.Clone(s.Env)
	out.Secrets = maps.Clone(s.Secrets)
	out.Ports = slices.Clone(s.Ports)
	out.Config.Files = maps.Clone(s.Config.Files)
	if s.HealthCheck != nil {
		hc := *s.HealthCheck
		out.HealthCheck = &hc
	}
	return out
}

// ApplyService converges the service to svc's spec, replicas, stopped flag
// and revision. A new revision is rolled out one replica at a time.
func (r *Runtime) ApplyService(ctx context.Context, svc *berth.Service) error {
	ctx, span := tracing.Start(ctx, "local.ApplyService", attribute.String("berth.service", svc.Name))
	defer span.End()
	if err := validateLocalSpec(svc); err != nil {
		return err
	}
	id, err := r.identityOf(ctx, svc.Owner)
	if err != nil {
		return berth.Wrap(err, berth.ESERVICE, "apply service %s", svc.Name)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return r.errClosed()
	}
	s, ok := r.services[svc.Name]
	if !ok {
		s = &service{
			rt: r, name: svc.Name, dir: r.serviceDir(svc.Name), wdir: r.serviceWorkDir(svc.Name),
			kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
			active: map[int]*replica{}, logs: map[int]*logFile{},
			revision: -1,
		}
		r.services[svc.Name] = s
		go s.loop()
	}
	r.mu.Unlock()

	s.repairPidFiles() // a pid file removed from outside (drift.go)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revision == svc.Revision && s.replicas == svc.Replicas && s.stopped == svc.Stopped && s.id == id {
		return nil
	}
	if s.id != id || s.revision == -1 {
		// New, or its owner's uid changed: the workload's directory goes to
		// the uid's group (work and home to the uid, in newReplica);
		// replicas started from now on run as it.
		if err := workloadTop(s.wdir, id); err != nil {
			return berth.Wrap(err, berth.ESERVICE, "apply service %s", svc.Name)
		}
		s.id = id
	}
	if s.revision != svc.Revision {
		if err := s.writeConfig(svc.Revision, svc.Spec.Config.Files); err != nil {
			return berth.Wrap(err, berth.ESERVICE, "apply service %s", svc.Name)
		}
		s.spec = copySpec(svc.Spec)
		s.revision = svc.Revision
	}
	s.replicas, s.stopped = svc.Replicas, svc.Stopped
	s.poke()
	return nil
}

func (s *service) configDir(rev int) string {
	return filepath.Join(s.wdir, "config", strconv.Itoa(rev))
}

func (s *service) writeConfig(rev int, files map[string]string) error {
	dir := s.configDir(rev)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("reset config dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("create config dir: %w", err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			return fmt.Errorf("write config file: %w", err)
		}
	}
	return groupReadable(filepath.Dir(dir), s.id)
}

func (s *service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *service) quitting() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// shutdown stops every replica and the controller, and closes the logs.
func (s *service) shutdown() {
	s.quitOnce.Do(func() { close(s.quit) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.logs {
		l.close()
	}
	s.logs = map[int]*logFile{}
}

func (s *service) loop() {
	defer close(s.done)
	for {
		if s.quitting() {
			s.stopAll()
			return
		}
		if s.reconcile() {
			continue
		}
		select {
		case <-s.kick:
		case <-s.quit:
		}
	}
}

func (s *service) stopAll() {
	s.mu.Lock()
	all := slices.Collect(maps.Values(s.active))
	if s.surge != nil {
		all = append(all, s.surge)
	}
	s.active, s.surge = map[int]*replica{}, nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, rp := range all {
		wg.Go(rp.halt)
	}
	wg.Wait()
}

// reconcile does one step towards the desired state and reports whether
// more steps may be needed.
func (s *service) reconcile() bool {
	s.mu.Lock()
	n := s.replicas
	if s.stopped {
		n = 0
	}
	rev, gen := s.revision, s.gen
	var down, up []*replica
	for i, rp := range s.active {
		if i >= n {
			down = append(down, rp)
			delete(s.active, i)
		}
	}
	sort.Slice(down, func(a, b int) bool { return down[a].index > down[b].index })
	for i := range n {
		if _, ok := s.active[i]; ok {
			continue
		}
		rp, err := s.newReplica(i, rev, gen)
		if err != nil {
			s.rt.log.Error("create replica", "service", s.name, "err", err)
			continue
		}
		s.active[i] = rp
		up = append(up, rp)
	}
	var old *replica
	if !(s.rolloutErr != "" && s.rolloutRev == rev && s.rolloutGen == gen) {
		for i := range n {
			if rp := s.active[i]; rp != nil && (rp.revision != rev || rp.gen != gen) {
				old = rp
				break
			}
		}
	}
	s.mu.Unlock()

	for _, rp := range up {
		rp.start()
	}
	for _, rp := range down { // highest index first
		rp.halt()
	}
	if old != nil {
		s.roll(old, rev, gen)
		return true
	}
	return false
}

// roll replaces old by a replica at rev/gen: the new one starts beside it
// and the old one stops only once the new one is ready.
func (s *service) roll(old *replica, rev, gen int) {
	s.mu.Lock()
	nr, err := s.newReplica(old.index, rev, gen)
	if err != nil {
		s.rolloutErr, s.rolloutRev, s.rolloutGen = err.Error(), rev, gen
		s.mu.Unlock()
		return
	}
	s.surge = nr
	s.mu.Unlock()
	nr.start()

	fail := func(reason string) {
		nr.halt()
		s.mu.Lock()
		s.surge = nil
		s.rolloutErr = fmt.Sprintf("rollout of revision %d stopped: new replica %s did not become ready: %s", rev, nr.name, reason)
		s.rolloutRev, s.rolloutGen = rev, gen
		s.mu.Unlock()
		s.rt.log.Warn("rollout stopped", "service", s.name, "revision", rev, "reason", reason)
	}
	deadline := time.NewTimer(s.rt.cfg.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.quit:
			nr.halt()
			s.mu.Lock()
			s.surge = nil
			s.mu.Unlock()
			return
		case <-s.kick:
			s.mu.Lock()
			changed := s.revision != rev || s.gen != gen || s.stopped || s.replicas <= old.index
			s.mu.Unlock()
			// Other changes (scaling) wait for the reconcile after this step.
			if changed {
				nr.halt()
				s.mu.Lock()
				s.surge = nil
				s.mu.Unlock()
				return
			}
		case <-tick.C:
			st := nr.snapshot()
			if st.Ready {
				s.mu.Lock()
				s.active[old.index] = nr
				s.surge = nil
				s.mu.Unlock()
				old.halt()
				return
			}
			if st.LastExit != "" {
				fail(st.reason())
				return
			}
		case <-deadline.C:
			fail(fmt.Sprintf("not ready after %s", s.rt.cfg.ReadyTimeout))
			return
		}
	}
}

func (s *service) logFor(i int) (*logFile, error) {
	if l, ok := s.logs[i]; ok {
		return l, nil
	}
	l, err := openLog(filepath.Join(s.dir, "logs", fmt.Sprintf("%s-%d.log", s.name, i)), s.rt.cfg.MaxLogBytes)
	if err != nil {
		return nil, err
	}
	s.logs[i] = l
	return l, nil
}

// newReplica prepares (does not start) a replica of slot i. Called with s.mu held.
func (s *service) newReplica(i, rev, gen int) (*replica, error) {
	spec := s.spec
	name := fmt.Sprintf("%s-%d", s.name, i)
	env := map[string]string{}
	maps.Copy(env, spec.Env)
	maps.Copy(env, spec.Secrets)
	ports := map[string]int{}
	first := 0
	for k, p := range spec.Ports {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("replica %s: %w", name, err)
		}
		ports[p.Name] = port
		if k == 0 {
			first = port
			env["PORT"] = strconv.Itoa(port)
		}
		if p.Name != "" {
			env["PORT_"+envKey(p.Name)] = strconv.Itoa(port)
		}
	}
	env["BERTH_SERVICE"] = s.name
	env["BERTH_REPLICA"] = name
	env["BERTH_REVISION"] = strconv.Itoa(rev)
	env["BERTH_CONFIG_DIR"] = s.configDir(rev)

	home := filepath.Join(s.wdir, "home")
	if err := ownedDir(home, s.id); err != nil {
		return nil, fmt.Errorf("replica %s: %w", name, err)
	}
	if _, ok := env["HOME"]; !ok {
		env["HOME"] = home
	}
	dir := spec.WorkingDir
	if dir == "" {
		dir = filepath.Join(s.wdir, "work")
		if err := ownedDir(dir, s.id); err != nil {
			return nil, fmt.Errorf("replica %s: %w", name, err)
		}
	}
	log, err := s.logFor(i)
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", name, err)
	}
	var probe func(context.Context) bool
	if hc := spec.HealthCheck; hc != nil && (hc.HTTP != "" || hc.TCP) {
		port := first
		if hc.Port != "" {
			port = ports[hc.Port]
		}
		if hc.HTTP != "" {
			probe = httpProbe(port, hc.HTTP, s.rt.cfg.ProbeInterval)
		} else {
			probe = tcpProbe(port, s.rt.cfg.ProbeInterval)
		}
	}
	sup := newSupervisor(s.rt, name, slices.Clone(spec.Command), dir, processEnv(env), log, probe)
	sup.pidName = "svc." + name
	sup.id = s.id
	return &replica{supervisor: sup, index: i, revision: rev, gen: gen, port: first}, nil
}

var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

func probeTimeout(interval time.Duration) time.Duration {
	return min(max(interval, 500*time.Millisecond), 5*time.Second)
}

func httpProbe(port int, path string, interval time.Duration) func(context.Context) bool {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
	return func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout(interval))
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	}
}

func tcpProbe(port int, interval time.Duration) func(context.Context) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return func(ctx context.Context) bool {
		d := net.Dialer{Timeout: probeTimeout(interval)}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
}

// ServiceState reports what runs of the service.
func (r *Runtime) ServiceState(ctx context.Context, ref berth.ServiceRef) (*berth.ServiceState, error) {
	s, err := r.lookupService(ref)
	if err != nil {
		return nil, err
	}
	return s.state(), nil
}

func (s *service) state() *berth.ServiceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &berth.ServiceState{Replicas: s.replicas, Revision: s.revision, Stopped: s.stopped}
	n := s.replicas
	if s.stopped {
		n = 0
	}
	idx := slices.Sorted(maps.Keys(s.active))
	type snap struct {
		rp *replica
		st supState
	}
	var snaps []snap
	for _, i := range idx {
		snaps = append(snaps, snap{s.active[i], s.active[i].snapshot()})
	}
	if s.surge != nil {
		snaps = append(snaps, snap{s.surge, s.surge.snapshot()})
	}
	readyAtRev, failing, fresh, outdated := 0, 0, false, false
	var reason string
	for _, sn := range snaps {
		if sn.rp == s.surge {
			fresh = true
			continue
		}
		if sn.rp.index >= n {
			continue
		}
		current := sn.rp.revision == s.revision && sn.rp.gen == s.gen
		if sn.st.EverReady {
			s.everReady = true
		}
		if sn.st.Ready {
			st.ReadyReplicas++
			if current {
				readyAtRev++
			}
		}
		if !current {
			outdated = true
		}
		if sn.st.failing() {
			failing++
			if reason == "" {
				reason = fmt.Sprintf("%s: %s", sn.rp.name, sn.st.reason())
			}
		} else if !sn.st.EverReady {
			fresh = true
		}
	}
	for _, sn := range snaps {
		rs := berth.ReplicaState{
			Name: sn.rp.name, PID: sn.st.PID, Port: sn.rp.port, Ready: sn.st.Ready, State: sn.st.State,
			Restarts: sn.st.Restarts, Revision: sn.rp.revision, LastExit: sn.st.LastExit,
		}
		if !sn.st.StartedAt.IsZero() && sn.st.PID != 0 {
			t := sn.st.StartedAt
			rs.StartedAt = &t
		}
		st.Instances = append(st.Instances, rs)
	}
	rolloutFailed := s.rolloutErr != "" && s.rolloutRev == s.revision && s.rolloutGen == s.gen
	switch {
	case s.stopped:
		st.Status, st.Message = berth.ServiceStopped, "stopped"
	case s.replicas == 0:
		st.Status, st.Message = berth.ServiceStopped, "scaled to 0"
	case rolloutFailed:
		st.Status, st.Message = berth.ServiceDegraded, s.rolloutErr
		if st.ReadyReplicas == 0 {
			st.Status = berth.ServiceError
		}
	case readyAtRev == n && len(s.active) == n:
		st.Status = berth.ServiceRunning
	case len(s.active) > 0 && failing == len(s.active):
		st.Status, st.Message = berth.ServiceError, reason
	case !s.everReady && len(snaps) == 0:
		st.Status = berth.ServicePending
	case !s.everReady || fresh || outdated:
		st.Status, st.Message = berth.ServiceDeploying, reason
	default:
		st.Status = berth.ServiceDegraded
		st.Message = fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, n)
		if reason != "" {
			st.Message += "; " + reason
		}
	}
	return st
}

// ScaleService sets the desired replica count.
func (r *Runtime) ScaleService(ctx context.Context, ref berth.ServiceRef, replicas int) error {
	ctx, span := tracing.Start(ctx, "local.ScaleService", attribute.String("berth.service", ref.Name))
	defer span.End()
	if replicas < 0 {
		return berth.Invalid("replicas", "must not be negative, got %d", replicas)
	}
	return r.updateService(ref, func(s *service) { s.replicas = replicas })
}

// StopService stops every replica but keeps the spec and the replica count.
func (r *Runtime) StopService(ctx context.Context, ref berth.ServiceRef) error {
	ctx, span := tracing.Start(ctx, "local.StopService", attribute.String("berth.service", ref.Name))
	defer span.End()
	return r.updateService(ref, func(s *service) { s.stopped = true })
}

// StartService runs the remembered replica count again.
func (r *Runtime) StartService(ctx context.Context, ref berth.ServiceRef) error {
	ctx, span := tracing.Start(ctx, "local.StartService", attribute.String("berth.service", ref.Name))
	defer span.End()
	return r.updateService(ref, func(s *service) { s.stopped = false })
}

// RestartService replaces the replicas one at a time, at the same revision.
func (r *Runtime) RestartService(ctx context.Context, ref berth.ServiceRef) error {
	ctx, span := tracing.Start(ctx, "local.RestartService", attribute.String("berth.service", ref.Name))
	defer span.End()
	return r.updateService(ref, func(s *service) { s.gen++ })
}

func (r *Runtime) updateService(ref berth.ServiceRef, change func(*service)) error {
	s, err := r.lookupService(ref)
	if err != nil {
		return err
	}
	s.mu.Lock()
	change(s)
	s.mu.Unlock()
	s.poke()
	return nil
}

// DeleteService stops every replica and removes the service's directory.
// A missing service is already deleted.
func (r *Runtime) DeleteService(ctx context.Context, ref berth.ServiceRef) error {
	ctx, span := tracing.Start(ctx, "local.DeleteService", attribute.String("berth.service", ref.Name))
	defer span.End()
	if err := berth.ValidateDNSLabel("name", ref.Name); err != nil {
		return err
	}
	r.mu.Lock()
	s, ok := r.services[ref.Name]
	delete(r.services, ref.Name)
	r.mu.Unlock()
	if ok {
		done := make(chan struct{})
		go func() { s.shutdown(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return berth.Wrap(ctx.Err(), berth.EUNAVAILABLE, "delete service %s: still stopping", ref.Name)
		}
	}
	for _, dir := range []string{r.serviceDir(ref.Name), r.serviceWorkDir(ref.Name)} {
		if err := os.RemoveAll(dir); err != nil {
			return berth.Wrap(err, berth.ESERVICE, "delete service %s: remove data", ref.Name)
		}
	}
	return nil
}
