// Package berthproc runs a berth binary for the benchmarks: `berth serve`
// on a free loopback port with a given berth.yaml, logged in as admin, and
// a small JSON client for its API.
package berthproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Password is the admin password the server starts with.
const Password = "bench-admin-password"

// Server is a running berth, logged in as admin.
type Server struct {
	URL, Token string
	cmd        *exec.Cmd
	client     *http.Client
}

// Start runs bin with config as berth.yaml in dir (data under dir/data, its
// log in dir/berth.log). BERTH_* and the Go runtime's knobs (GOGC,
// GOMEMLIMIT, GODEBUG) of the caller's environment are passed on.
func Start(bin, dir, config string) (*Server, error) {
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("write berth.yaml: %w", err)
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", filepath.Join(dir, "berth.yaml")) // #nosec G204 -- the harness runs the berth binary under test
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "BERTH_ADMIN_PASSWORD=" + Password,
		"BERTH_RATE_LIMIT=-1", "BERTH_LOG_LEVEL=warn"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BERTH_") || strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") || strings.HasPrefix(kv, "GODEBUG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	logPath := filepath.Join(dir, "berth.log")
	logf, err := os.Create(logPath) // #nosec G304 -- the log the test harness writes
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start berth %s: %w", bin, err)
	}
	s := &Server{cmd: cmd, client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	re := regexp.MustCompile(`is running at (http://\S+)`)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			s.URL = m[1]
			break
		}
	}
	go io.Copy(io.Discard, out)
	if s.URL == "" {
		s.Stop()
		log, _ := os.ReadFile(logPath) // #nosec G304 -- the log the test harness writes
		return nil, fmt.Errorf("berth did not start: %s", bytes.TrimSpace(log))
	}
	var login struct{ Token string }
	if err := s.Do("POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": Password}, &login); err != nil {
		s.Stop()
		return nil, fmt.Errorf("log in to berth: %w", err)
	}
	s.Token = login.Token
	return s, nil
}

// Pid is the server's process id (for its RSS).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop ends the server and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// Do sends a JSON request and decodes the answer into out (when not nil);
// a status of 300 or more is an error carrying the body.
func (s *Server) Do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return err
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// ProcStatusMB is a kB field of /proc/<pid>/status (VmRSS, RssAnon,
// RssFile…) in MiB, -1 when it cannot be read.
func ProcStatusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				return -1
			}
			return float64(kb) / 1024
		}
	}
	return -1
}
