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

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// TestInfrastructure: the inventory lists services, environments and the
// processes behind them; start/stop/delete act on {type}/{id}; what makes
// no sense answers NOT_SUPPORTED.
func TestInfrastructure(t *testing.T) {
	b := StartBerth(t, "", "")
	mustDo[api.ServiceResult](b, 201, "PUT", "/api/v1/services/web", webSpec(2, "hi"))
	waitRunning(t, b, "web", 2)
	env := mustDo[api.EnvironmentEnvelope](b, 201, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "dev"})
	envID := env.Environment.ID
	Eventually(t, 30*time.Second, "environment RUNNING", func() (bool, string) {
		s := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+envID).Environment.Status
		return s == berth.EnvRunning, string(s)
	})

	inv := getJSON[api.Inventory](b, "/api/v1/infrastructure")
	byType := map[string][]berth.Resource{}
	for _, r := range inv.Resources {
		byType[r.Type] = append(byType[r.Type], r)
	}
	if len(byType["service"]) != 1 || len(byType["environment"]) != 1 || len(byType["process"]) != 3 ||
		fmt.Sprint(byType["service"][0].Details["readyReplicas"]) != "2" || inv.Total != len(inv.Resources) {
		t.Fatalf("inventory by type: services %d, environments %d, processes %d: %s",
			len(byType["service"]), len(byType["environment"]), len(byType["process"]), mustJSON(inv))
	}
	if ts := inv.Targets; len(ts) != 1 || !ts[0].Reachable || ts[0].Name == "" {
		t.Errorf("targets = %+v", ts)
	}
	if m := getJSON[api.Inventory](b, "/api/v1/infrastructure?type=process"); m.Total != 3 {
		t.Errorf("type filter: %s", mustJSON(m))
	}

	if a := mustDo[api.InfraActionResult](b, 200, "POST", "/api/v1/infrastructure/service/web/stop", nil); a.Type != "service" || a.ID != "web" {
		t.Errorf("stop answer = %+v", a)
	}
	waitProcs(t, "web", 0)
	mustDo[api.InfraActionResult](b, 200, "POST", "/api/v1/infrastructure/service/web/start", nil)
	waitProcs(t, "web", 2)
	mustDo[api.InfraActionResult](b, 200, "POST", "/api/v1/infrastructure/environment/"+envID+"/stop", nil)
	Eventually(t, 20*time.Second, "environment process gone", func() (bool, string) { return len(processesOfEnv(envID)) == 0, "" })

	// Deleting a process is like deleting a pod: it comes back, with a new pid.
	before := waitProcs(t, "web", 2)
	mustDo[api.InfraActionResult](b, 200, "DELETE", "/api/v1/infrastructure/process/web-0", nil)
	Eventually(t, 30*time.Second, "replica replaced", func() (bool, string) {
		now := processesOf("web")
		return len(now) == 2 && fmt.Sprint(now) != fmt.Sprint(before), fmt.Sprint(now)
	})
	if code, e := doAs[api.Error](b, b.Token(), "POST", "/api/v1/infrastructure/process/web-0/start", nil); code != 501 || e.Error != berth.ENOTSUPPORTED {
		t.Errorf("start a process: %d %+v", code, e)
	}
	mustDo[api.InfraActionResult](b, 200, "DELETE", "/api/v1/infrastructure/environment/"+envID, nil)
	if code, _ := doAs[api.Error](b, b.Token(), "GET", "/api/v1/environments/"+envID, nil); code != 404 {
		t.Errorf("environment still there after infrastructure delete: %d", code)
	}
}

// TestLogsFollow: ?follow=true streams NDJSON lines as replicas write them.
func TestLogsFollow(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	mustDo[api.ServiceResult](b, 201, "PUT", "/api/v1/services/web", webSpec(1, "hi"))
	s := waitRunning(t, b, "web", 1)
	port := s.Instances[0].Port

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
		var line berth.LogLine
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
		m := mustDo[api.EnvironmentEnvelope](b, 201, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: n})
		ids = append(ids, m.Environment.ID)
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
	if code, m := doAs[api.Ack](b, token, "POST", "/api/v1/environments/"+ids[0]+"/activity", body); code != 200 || m.ID != ids[0] {
		t.Errorf("own activity token: %d %+v", code, m)
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
	id := mustDo[api.EnvironmentEnvelope](b, 201, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "dev"}).Environment.ID
	var before []int
	Eventually(t, 30*time.Second, "environment RUNNING", func() (bool, string) {
		s := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment.Status
		before = processesOfEnv(id)
		return s == berth.EnvRunning && len(before) == 1, string(s)
	})
	logs := getJSON[api.EnvironmentLogs](b, "/api/v1/environments/"+id+"/logs?tail=20")
	if logs.Environment != id || !strings.Contains(mustJSON(logs.Lines), "workspace server listening") {
		t.Errorf("environment logs = %+v", logs)
	}
	if a := mustDo[api.Ack](b, 200, "POST", "/api/v1/environments/"+id+"/restart", nil); a.ID != id {
		t.Errorf("restart answer = %+v", a)
	}
	Eventually(t, 30*time.Second, "new workspace process", func() (bool, string) {
		now := processesOfEnv(id)
		return len(now) == 1 && now[0] != before[0], fmt.Sprint(now)
	})
	if code, e := doAs[api.Error](b, b.Token(), "GET", "/api/v1/environments/env-nosuch/logs", nil); code != 404 || e.Error != berth.ENOTFOUND {
		t.Errorf("logs of a missing environment: %d %+v", code, e)
	}
}
