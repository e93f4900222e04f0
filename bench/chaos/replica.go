package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// replica is one `berth serve` process of the benchmark: a fixed address
// and data dir across restarts, its own local target (a local target is per
// host: each replica stands for one host), the shared PostgreSQL and key.
type replica struct {
	name, target, addr, url, dir, bin string
	env                               []string
	http                              *http.Client
	config                            string // berth.yaml; default: one local target named target

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	downAt  time.Time // when it was killed; zero while it runs
	started int
}

// berthConfig is the berth.yaml of a replica: its one local target, fast
// sync (the default 2 s) and metrics sampling kept default.
func (r *replica) berthConfig() string {
	if r.config != "" {
		return r.config
	}
	return fmt.Sprintf("defaultTarget: %s\nwsMaxClientsPerUser: 200\ntargets:\n  - name: %s\n    type: local\n", r.target, r.target)
}

// start runs the replica (not waiting for it); its log is appended to
// dir/berth.log across restarts.
func (r *replica) start() error {
	if err := os.WriteFile(filepath.Join(r.dir, "berth.yaml"), []byte(r.berthConfig()), 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, "berth.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// #nosec G204 -- the benchmark runs the berth binary it was given
	cmd := exec.Command(r.bin, "serve", "--listen", r.addr, "--data-dir", filepath.Join(r.dir, "data"),
		"--config", filepath.Join(r.dir, "berth.yaml"))
	cmd.Env = r.env
	cmd.Dir = r.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// With the benchmark dies every berth it started (and with berth its workloads).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start replica %s: %w", r.name, err)
	}
	r.mark(fmt.Sprintf("bench-chaos: started (pid %d)", cmd.Process.Pid))
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done, r.downAt = cmd, done, time.Time{}
	r.started++
	r.mu.Unlock()
	return nil
}

// kill SIGKILLs the replica and waits until it is gone; it returns the time
// just before the signal and the time it was reaped.
func (r *replica) kill() (at, gone time.Time) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	at = time.Now()
	r.downAt = at
	r.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
	r.mark(fmt.Sprintf("bench-chaos: SIGKILLed at %s (pid %d)", at.Format(time.RFC3339Nano), cmd.Process.Pid))
	return at, time.Now()
}

// stop ends the replica gracefully (SIGTERM: it drains and stops its workloads).
func (r *replica) stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (r *replica) pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// ready asks /readyz; true on 200.
func (r *replica) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/readyz", nil)
	resp, err := r.http.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady polls /readyz until it answers 200 and returns when it did.
func (r *replica) waitReady(ctx context.Context, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		if r.ready(ctx) {
			return time.Now(), nil
		}
		r.mu.Lock()
		done := r.done
		r.mu.Unlock()
		select {
		case <-done:
			return time.Time{}, fmt.Errorf("replica %s exited: %s", r.name, r.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("replica %s not ready after %s: %s", r.name, limit, r.logTail())
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// leading reads berth_leader from the replica's /metrics (what Prometheus
// and the alert rules see).
func (r *replica) leading(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/metrics", nil)
	resp, err := r.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "berth_leader "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, errors.New("no berth_leader in /metrics")
}

func (r *replica) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "berth.log")) // #nosec G304 -- the log this benchmark writes
	b = bytes.TrimSpace(b)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// api sends one JSON request with the admin token and decodes a 2xx answer
// into out; a status of 300 or more is an error with the body.
func (r *replica) api(ctx context.Context, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s on %s: %d %s", method, path, r.name, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
