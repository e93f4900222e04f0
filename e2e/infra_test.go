package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestInfrastructure: the inventory lists services, environments and the
// processes behind them; start/stop/delete act on {type}/{id}; what makes
// no sense answers NOT_SUPPORTED.
func TestInfrastructure(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/web", webSpec(2, "hi"))
	waitRunning(t, b, "web", 2)
	env := b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "dev"})
	envID := str(env, "environment", "id")
	Eventually(t, 30*time.Second, "environment RUNNING", func() (bool, string) {
		s := str(b.MustDo(200, "GET", "/api/v1/environments/"+envID, nil), "environment", "status")
		return s == "RUNNING", s
	})

	inv := b.MustDo(200, "GET", "/api/v1/infrastructure", nil)
	byType := map[string][]map[string]any{}
	for _, r := range inv["resources"].([]any) {
		m := r.(map[string]any)
		byType[str(m, "type")] = append(byType[str(m, "type")], m)
	}
	if len(byType["service"]) != 1 || len(byType["environment"]) != 1 || len(byType["process"]) != 3 ||
		str(byType["service"][0], "details", "readyReplicas") != "2" {
		t.Fatalf("inventory by type: services %d, environments %d, processes %d: %v",
			len(byType["service"]), len(byType["environment"]), len(byType["process"]), inv)
	}
	if ts := inv["targets"].([]any); len(ts) != 1 || str(ts[0].(map[string]any), "reachable") != "true" {
		t.Errorf("targets = %v", ts)
	}
	if m := b.MustDo(200, "GET", "/api/v1/infrastructure?type=process", nil); num(m, "total") != 3 {
		t.Errorf("type filter: %v", m)
	}

	b.MustDo(200, "POST", "/api/v1/infrastructure/service/web/stop", nil)
	waitProcs(t, "web", 0)
	b.MustDo(200, "POST", "/api/v1/infrastructure/service/web/start", nil)
	waitProcs(t, "web", 2)
	b.MustDo(200, "POST", "/api/v1/infrastructure/environment/"+envID+"/stop", nil)
	Eventually(t, 20*time.Second, "environment process gone", func() (bool, string) { return len(processesOfEnv(envID)) == 0, "" })

	// Deleting a process is like deleting a pod: it comes back, with a new pid.
	before := waitProcs(t, "web", 2)
	b.MustDo(200, "DELETE", "/api/v1/infrastructure/process/web-0", nil)
	Eventually(t, 30*time.Second, "replica replaced", func() (bool, string) {
		now := processesOf("web")
		return len(now) == 2 && fmt.Sprint(now) != fmt.Sprint(before), fmt.Sprint(now)
	})
	if code, m := b.Do(b.Token(), "POST", "/api/v1/infrastructure/process/web-0/start", nil); code != 501 || m["error"] != "NOT_SUPPORTED" {
		t.Errorf("start a process: %d %v", code, m)
	}
	b.MustDo(200, "DELETE", "/api/v1/infrastructure/environment/"+envID, nil)
	if code, _ := b.Do(b.Token(), "GET", "/api/v1/environments/"+envID, nil); code != 404 {
		t.Errorf("environment still there after infrastructure delete: %d", code)
	}
}

// TestLogsFollow: ?follow=true streams NDJSON lines as replicas write them.
func TestLogsFollow(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	svc := b.MustDo(201, "PUT", "/api/v1/services/web", webSpec(1, "hi"))
	_ = svc
	s := waitRunning(t, b, "web", 1)
	port := num(s["instances"].([]any)[0].(map[string]any), "port")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.URL+"/api/v1/services/web/logs?follow=true&tail=1", nil)
	req.Header.Set("Authorization", "Bearer "+b.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	// The node server logs each request: make one after the stream started.
	go func() {
		time.Sleep(300 * time.Millisecond)
		if r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/follow-me", port)); err == nil {
			r.Body.Close()
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct{ Replica, Line string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not NDJSON: %q", sc.Text())
		}
		if strings.Contains(line.Line, "/follow-me") {
			if line.Replica != "web-0" {
				t.Errorf("replica = %q", line.Replica)
			}
			return
		}
	}
	t.Fatalf("stream ended without the new line: %v", sc.Err())
}

// TestActivityToken: the workspace reports with a token scoped to its own
// environment; the token is read here from the workspace process's
// environment, as the workspace itself reads it.
func TestActivityToken(t *testing.T) {
	b := StartBerth(t, "", "")
	var ids []string
	for _, n := range []string{"one", "two"} {
		m := b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": n})
		ids = append(ids, str(m, "environment", "id"))
	}
	token := ""
	Eventually(t, 30*time.Second, "workspace process", func() (bool, string) {
		pids := processesOfEnv(ids[0])
		if len(pids) != 1 {
			return false, fmt.Sprint(pids)
		}
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if v, ok := strings.CutPrefix(string(kv), "BERTH_ACTIVITY_TOKEN="); ok {
				token = v
			}
		}
		return token != "", "no token in environ"
	})
	body := map[string]any{"snapshot": map[string]any{"activeIDEConnections": 1}}
	if code, m := b.Do(token, "POST", "/api/v1/environments/"+ids[0]+"/activity", body); code != 200 {
		t.Errorf("own activity token: %d %v", code, m)
	}
	if code, _ := b.Do(token, "POST", "/api/v1/environments/"+ids[1]+"/activity", body); code != 401 {
		t.Errorf("token of another environment: %d, want 401", code)
	}
	if code, _ := b.Do(token, "GET", "/api/v1/environments/"+ids[0], nil); code != 401 {
		t.Errorf("activity token reads the API: %d, want 401", code)
	}
	if strings.Contains(b.stderr.String(), token) {
		t.Errorf("server log contains an activity token")
	}
}

// TestEnvironmentLogsAndRestart: an environment's output is readable, and
// restart replaces its process.
func TestEnvironmentLogsAndRestart(t *testing.T) {
	b := StartBerth(t, "", "")
	id := str(b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "dev"}), "environment", "id")
	var before []int
	Eventually(t, 30*time.Second, "environment RUNNING", func() (bool, string) {
		s := str(b.MustDo(200, "GET", "/api/v1/environments/"+id, nil), "environment", "status")
		before = processesOfEnv(id)
		return s == "RUNNING" && len(before) == 1, s
	})
	logs := b.MustDo(200, "GET", "/api/v1/environments/"+id+"/logs?tail=20", nil)
	if !strings.Contains(mustJSON(logs["lines"]), "workspace server listening") {
		t.Errorf("environment logs = %v", logs)
	}
	b.MustDo(200, "POST", "/api/v1/environments/"+id+"/restart", nil)
	Eventually(t, 30*time.Second, "new workspace process", func() (bool, string) {
		now := processesOfEnv(id)
		return len(now) == 1 && now[0] != before[0], fmt.Sprint(now)
	})
	if code, m := b.Do(b.Token(), "GET", "/api/v1/environments/env-nosuch/logs", nil); code != 404 {
		t.Errorf("logs of a missing environment: %d %v", code, m)
	}
}
