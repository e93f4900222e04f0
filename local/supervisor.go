package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supervisor runs one command as a process group and restarts it with
// exponential backoff when it exits, until stopped. A replica or an
// environment is one supervisor.
type supervisor struct {
	rt   *Runtime
	name string // replica or "env-<id>", for logs
	// pidName names the pid file; services and environments differ in
	// prefix so that no service name can collide with an environment id.
	pidName string
	argv    []string
	dir     string
	env     []string
	log     *logFile
	probe   func(ctx context.Context) bool // nil: ready once running for settleTime
	id      identity                       // who the process runs as (zero: berth's user)

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu        sync.Mutex
	exit      *exitWatch // the running process's, while waited for; halt interrupts it
	pid       int
	instance  int
	state     string // starting, running, backoff, stopped, exited
	ready     bool
	everReady bool
	restarts  int
	fails     int // exits since the backoff was last reset
	lastExit  string
	startErr  string // why the command could not start, if it could not
	startedAt time.Time
}

type supState struct {
	PID       int
	Instance  int
	State     string
	Ready     bool
	EverReady bool
	Restarts  int
	Fails     int
	LastExit  string
	StartErr  string
	StartedAt time.Time
}

func newSupervisor(rt *Runtime, name string, argv []string, dir string, env []string, log *logFile, probe func(context.Context) bool) *supervisor {
	return &supervisor{
		rt: rt, name: name, pidName: name, argv: argv, dir: dir, env: env, log: log, probe: probe,
		stop: make(chan struct{}), done: make(chan struct{}), state: "starting",
	}
}

func (s *supervisor) start() { go s.run() }

// halt stops the process (SIGTERM, SIGKILL after the grace) and waits until
// it is reaped.
func (s *supervisor) halt() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	if s.exit != nil {
		s.exit.interrupt()
	}
	s.mu.Unlock()
	<-s.done
}

func (s *supervisor) snapshot() supState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return supState{
		PID: s.pid, Instance: s.instance, State: s.state, Ready: s.ready, EverReady: s.everReady,
		Restarts: s.restarts, Fails: s.fails, LastExit: s.lastExit, StartErr: s.startErr, StartedAt: s.startedAt,
	}
}

// failing reports a process that keeps crashing or cannot start at all.
func (st supState) failing() bool {
	return !st.Ready && (st.StartErr != "" || st.Fails >= 2)
}

func (st supState) reason() string {
	if st.StartErr != "" {
		return st.StartErr
	}
	if st.LastExit != "" {
		return fmt.Sprintf("crashing (%d restarts), last exit: %s", st.Restarts, st.LastExit)
	}
	return ""
}

func (s *supervisor) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *supervisor) run() {
	defer close(s.done)
	backoff := s.rt.cfg.BackoffBase
	for {
		began := time.Now()
		s.runOnce()
		if s.stopping() {
			s.setState("stopped")
			return
		}
		s.mu.Lock()
		if time.Since(began) >= backoffResetTime {
			backoff = s.rt.cfg.BackoffBase
			s.fails = 0
		}
		s.fails++
		s.restarts++
		s.state = "backoff"
		s.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			s.setState("stopped")
			return
		}
		backoff = min(2*backoff, s.rt.cfg.BackoffMax)
	}
}

func (s *supervisor) setState(state string) {
	s.mu.Lock()
	s.state = state
	s.mu.Unlock()
}

// runOnce starts the process and returns once it has exited and been reaped.
func (s *supervisor) runOnce() {
	instance := s.log.nextInstance()
	s.mu.Lock()
	s.instance = instance
	s.ready = false
	s.state = "starting"
	s.mu.Unlock()

	argv := s.argv
	if s.id.set {
		// berth's shim runs first, already as the workload's uid, sets
		// no_new_privs and executes the command in place (same pid).
		path := argv[0]
		if !strings.Contains(path, "/") {
			p, err := exec.LookPath(path)
			if err != nil {
				s.startFailed(instance, err)
				return
			}
			path = p
		}
		argv = append([]string{s.rt.cfg.BerthBinary, ShimCommand, path}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...) // #nosec G204 -- running the service's own command (through berth's shim) is what the local runtime is for
	cmd.Dir = s.dir
	cmd.Env = s.env
	// Own process group so a stop reaches every descendant; Pdeathsig so the
	// child dies with berth even when berth is SIGKILLed (Go sets it after
	// the uid change, which would clear it). Credential: the user's own uid
	// and group, no supplementary groups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.id.credential()}
	dieWithBerth(cmd.SysProcAttr)
	stdout, err := openOutput(func(line string) { s.log.write(time.Now(), "stdout", instance, line) })
	if err != nil {
		s.startFailed(instance, err)
		return
	}
	stderr, err := openOutput(func(line string) { s.log.write(time.Now(), "stderr", instance, line) })
	if err != nil {
		stdout.closeWriter()
		stdout.finish(0)
		s.startFailed(instance, err)
		return
	}
	cmd.Stdout, cmd.Stderr = stdout.w, stderr.w
	err = cmd.Start()
	stdout.closeWriter()
	stderr.closeWriter()
	if err != nil {
		stdout.finish(2 * time.Second)
		stderr.finish(2 * time.Second)
		s.startFailed(instance, err)
		return
	}
	pid := cmd.Process.Pid
	pidFile := s.rt.writePidFile(s.pidName, instance, pid)

	now := time.Now()
	s.mu.Lock()
	s.pid, s.startedAt, s.startErr = pid, now, ""
	s.mu.Unlock()

	probeCtx, cancelProbe := context.WithCancel(context.Background())
	stopProbes := s.probes(probeCtx)
	s.waitOrStop(cmd, pid)
	cancelProbe()
	stopProbes()
	// The leader is reaped; descendants left in its group go too, so nothing
	// outlives its replica. The group id cannot be reused while they exist.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	// Something that left the group may still hold the pipes: not waited for.
	stdout.finish(2 * time.Second)
	stderr.finish(2 * time.Second)
	if pidFile != "" {
		_ = os.Remove(pidFile)
	}
	exit := cmd.ProcessState.String()
	s.mu.Lock()
	s.pid = 0
	s.ready = false
	s.lastExit = exit
	s.state = "exited"
	s.mu.Unlock()
	s.rt.log.Debug("process exited", "process", s.name, "pid", pid, "exit", exit)
}

func (s *supervisor) startFailed(instance int, err error) {
	msg := fmt.Sprintf("start %s: %v", s.argv[0], unwrapExec(err))
	s.log.write(time.Now(), "berth", instance, msg)
	s.mu.Lock()
	s.startErr = msg
	s.lastExit = msg
	s.state = "exited"
	s.mu.Unlock()
	s.rt.log.Warn("process cannot start", "process", s.name, "err", msg)
}

// unwrapExec drops exec's "exec: " prefix noise but keeps the reason.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return fmt.Errorf("%q: %w", ee.Name, ee.Err)
	}
	return err
}

// waitOrStop returns once the process has exited and been reaped: by
// itself, or stopped by halt (SIGTERM to its group, SIGKILL after the
// grace). It waits in the supervisor's goroutine on the exit's pidfd.
func (s *supervisor) waitOrStop(cmd *exec.Cmd, pid int) {
	w := watchExit(cmd.Process)
	if w == nil {
		s.waitOrStopBlocking(cmd, pid)
		return
	}
	defer w.close()
	s.mu.Lock()
	s.exit = w // set before stopping() is asked: a halt from now on interrupts the wait
	s.mu.Unlock()
	exited := false
	for !exited && !s.stopping() {
		var err error
		if exited, err = w.wait(); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			s.mu.Lock()
			s.exit = nil
			s.mu.Unlock()
			s.waitOrStopBlocking(cmd, pid)
			return
		}
	}
	s.mu.Lock()
	s.exit = nil // no interrupt from here on: the grace below is the deadline
	s.mu.Unlock()
	if !exited {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		w.until(time.Now().Add(s.rt.cfg.StopGrace))
		if ok, _ := w.wait(); !ok {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	_ = cmd.Wait()
}

// waitOrStopBlocking is waitOrStop without a pidfd: Wait blocks a thread.
func (s *supervisor) waitOrStopBlocking(cmd *exec.Cmd, pid int) {
	waitCh := make(chan error, 1)
	go func() { waitCh <- cmd.Wait() }()
	select {
	case <-waitCh:
	case <-s.stop:
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		t := time.NewTimer(s.rt.cfg.StopGrace)
		select {
		case <-waitCh:
			t.Stop()
		case <-t.C:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-waitCh
		}
	}
}

// probes marks the process ready once its probe passes (without one: once
// it still runs after settleTime) and probes again every ProbeInterval,
// from timers, until ctx ends: no goroutine waits between probes. The
// returned stop waits for a probe under way.
func (s *supervisor) probes(ctx context.Context) (stop func()) {
	var mu sync.Mutex
	var pending sync.WaitGroup // the armed timer or its probe under way
	var t *time.Timer
	fire := func() {
		defer pending.Done()
		if s.probe == nil {
			s.setReady(ctx, true)
			return
		}
		s.setReady(ctx, s.probe(ctx))
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() == nil {
			pending.Add(1)
			t.Reset(s.rt.cfg.ProbeInterval)
		}
	}
	first := time.Duration(0)
	if s.probe == nil {
		first = settleTime
	}
	mu.Lock()
	pending.Add(1)
	t = time.AfterFunc(first, fire)
	mu.Unlock()
	return func() {
		mu.Lock()
		if t.Stop() {
			pending.Done() // it will not fire
		}
		mu.Unlock()
		pending.Wait()
	}
}

func (s *supervisor) setReady(ctx context.Context, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return // the process is gone; a late probe must not mark it ready
	}
	s.ready = ok
	if ok {
		s.everReady = true
		s.state = "running"
	} else if s.state == "running" {
		s.state = "starting"
	}
}

// kill SIGKILLs the current process group; the supervisor restarts it.
func (s *supervisor) kill() bool {
	s.mu.Lock()
	pid := s.pid
	s.mu.Unlock()
	if pid <= 0 {
		return false
	}
	return syscall.Kill(-pid, syscall.SIGKILL) == nil
}

// readBufBytes is the read buffer of a pipe read by a goroutine of its own
// (no output hub): a long line is gathered apart, up to maxLineBytes, and
// that memory is let go once the line ends. A buffer of maxLineBytes per
// pipe was most of berth's heap with thousands of processes.
const readBufBytes = 2 << 10

// readLines calls emit with each line of r (without "\n" or "\r\n"); a line
// longer than maxLineBytes is cut to its first maxLineBytes, the rest
// dropped; a last line without "\n" is emitted too.
func readLines(r io.Reader, emit func(string)) {
	ls := lineSplitter{emit: emit}
	buf := make([]byte, readBufBytes)
	for {
		n, err := r.Read(buf)
		ls.feed(buf[:n])
		if err != nil {
			ls.end()
			return
		}
	}
}

// lineSplitter cuts output, as it comes in chunks, into lines for emit:
// only a line not complete yet is kept (up to maxLineBytes).
type lineSplitter struct {
	emit func(string)
	long []byte // the line so far, when a chunk ended inside it
	open bool   // long holds a started line (it may be empty of bytes kept)
}

func (ls *lineSplitter) feed(chunk []byte) {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			ls.keep(chunk)
			return
		}
		line := chunk[:i]
		if ls.open {
			ls.keep(line)
			line, ls.long, ls.open = ls.long, nil, false
		}
		ls.emit(strings.TrimSuffix(string(line[:min(len(line), maxLineBytes)]), "\r"))
		chunk = chunk[i+1:]
	}
}

func (ls *lineSplitter) keep(b []byte) {
	ls.open = true
	if len(ls.long) < maxLineBytes {
		ls.long = append(ls.long, b[:min(len(b), maxLineBytes-len(ls.long))]...)
	}
}

// end emits a last line without "\n".
func (ls *lineSplitter) end() {
	if ls.open {
		ls.emit(strings.TrimSuffix(string(ls.long), "\r"))
		ls.long, ls.open = nil, false
	}
}

// procStat is what berth reads of /proc/<pid>/stat.
type procStat struct {
	State     byte
	PGID      int
	UTime     uint64 // clock ticks
	STime     uint64
	StartTime uint64 // clock ticks after boot: with the pid, identifies a process
	RSSPages  int64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) (procStat, error) {
	// comm (field 2) may hold spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("parse /proc stat: no comm")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return procStat{}, errors.New("parse /proc stat: short")
	}
	// f[0] is field 3 (state), so field n is f[n-3].
	var st procStat
	var err error
	st.State = f[0][0]
	if st.PGID, err = strconv.Atoi(f[5-3]); err != nil {
		return st, fmt.Errorf("parse /proc stat pgrp: %w", err)
	}
	st.UTime, _ = strconv.ParseUint(f[14-3], 10, 64)
	st.STime, _ = strconv.ParseUint(f[15-3], 10, 64)
	if st.StartTime, err = strconv.ParseUint(f[22-3], 10, 64); err != nil {
		return st, fmt.Errorf("parse /proc stat starttime: %w", err)
	}
	st.RSSPages, _ = strconv.ParseInt(f[24-3], 10, 64)
	return st, nil
}

func (r *Runtime) runDir() string { return filepath.Join(r.cfg.DataDir, "run") }

// writePidFile records pid and start time so that a berth restarted after a
// crash can find and kill what it left behind. It returns the file's path.
func (r *Runtime) writePidFile(name string, instance, pid int) string {
	st, err := readProcStat(pid)
	if err != nil {
		r.log.Warn("read process start time", "process", name, "pid", pid, "err", err)
		return ""
	}
	path := filepath.Join(r.runDir(), fmt.Sprintf("%s.%d.pid", name, instance))
	if err := os.WriteFile(path, fmt.Appendf(nil, "%d %d\n", pid, st.StartTime), 0o600); err != nil {
		r.log.Warn("write pid file", "process", name, "err", err)
		return ""
	}
	return path
}

// killLeftovers kills the process groups named by pid files of a previous
// berth (when the pid still is the same process) and removes the files.
func (r *Runtime) killLeftovers() error {
	files, err := filepath.Glob(filepath.Join(r.runDir(), "*.pid"))
	if err != nil {
		return fmt.Errorf("list pid files: %w", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f) // #nosec G304 -- a pid file berth wrote in its own data directory
		if err != nil {
			return fmt.Errorf("read pid file: %w", err)
		}
		var pid int
		var start uint64
		if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err == nil && pid > 1 {
			r.killLeftover(pid, start)
		}
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove pid file: %w", err)
		}
	}
	return nil
}

func (r *Runtime) killLeftover(pid int, start uint64) {
	st, err := readProcStat(pid)
	switch {
	case err == nil && st.StartTime != start:
		return // the pid now belongs to another process
	case err == nil && st.State != 'Z':
		r.log.Warn("killing process left behind", "pid", pid)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	default:
		// Leader gone: members of its group may remain. The group id cannot
		// have been reused while any of them exists.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := readProcStat(pid)
		if err != nil || st.State == 'Z' || st.StartTime != start {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.log.Warn("process left behind did not die", "pid", pid)
}
