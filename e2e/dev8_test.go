package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// The Dev8 agent's documented fields of an environment: all present, always.
var dev8EnvFields = []string{"id", "userId", "name", "status", "cloudProvider", "cloudRegion", "aciContainerGroupId",
	"aciPublicIp", "azureFileShareName", "vsCodeUrl", "cpuCores", "memoryGB", "storageGB", "baseImage",
	"createdAt", "updatedAt", "lastAccessedAt"}

var dev8Secrets = map[string]string{
	"githubToken":        "ghp_e2eSECRETgithubtoken000",
	"codeServerPassword": "e2e-SECRET-code-password",
	"anthropicApiKey":    "sk-ant-e2eSECRETanthropic",
	"openaiApiKey":       "sk-proj-e2eSECRETopenai",
	"geminiApiKey":       "AIza-e2eSECRETgemini",
}

func storeKinds(t *testing.T) map[string]func() string {
	return map[string]func() string{
		"sqlite":   func() string { return "" },
		"postgres": func() string { return postgresURL(t) },
	}
}

// TestDev8Flow walks the Dev8 agent contract end to end on both stores:
// create, get, list, activity, stop, start, delete — with a real workspace
// process checked from outside berth.
func TestDev8Flow(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dbURL := storeKinds(t)[kind]()
			b := StartBerth(t, "", dbURL)
			dev8Flow(t, b, localWorkspace(b))
		})
	}
}

// dev8Target is where dev8Flow runs its environment, and how the flow
// checks the workspace from outside berth at each step.
type dev8Target struct {
	provider string // the request's cloudProvider
	// running: the environment is RUNNING at url (first time); restarted:
	// RUNNING again after stop/start; stopped: the workload must go
	// (wait for it); deleted: nothing may be left (wait for it).
	running, restarted func(t *testing.T, id, url string)
	stopped, deleted   func(t *testing.T, id string)
}

// localWorkspace: a real workspace process, reached over HTTP through
// berth's proxy (its vsCodeUrl), as the environment's owner.
func localWorkspace(b *Berth) dev8Target {
	var client *http.Client
	return dev8Target{
		provider: "LOCAL",
		running: func(t *testing.T, id, url string) {
			if pids := processesOfEnv(id); len(pids) != 1 {
				t.Fatalf("want exactly 1 workspace process for %s, found %v", id, pids)
			}
			var base string
			client, base = openEnv(t, b, b.Token(), id)
			if url != base {
				t.Errorf("vsCodeUrl = %q, want the proxy's %q", url, base)
			}
			// Through the proxy, the workspace still asks for the
			// environment's codeServerPassword.
			if code, _ := send(t, client, "GET", url, ""); code != 401 {
				t.Fatalf("workspace without its password: %d, want 401", code)
			}
			putWith(t, client, url+"notes.txt", "kept across stop/start")
		},
		stopped: func(t *testing.T, id string) {
			Eventually(t, 20*time.Second, "workspace process gone", func() (bool, string) {
				p := processesOfEnv(id)
				return len(p) == 0, "pids " + mustJSON(p)
			})
		},
		restarted: func(t *testing.T, id, url string) {
			if got := getWith(t, client, url+"notes.txt"); got != "kept across stop/start" {
				t.Errorf("workspace file after stop/start = %q", got)
			}
		},
		deleted: func(t *testing.T, id string) {
			Eventually(t, 20*time.Second, "no process after delete", func() (bool, string) {
				return len(processesOfEnv(id)) == 0, ""
			})
		},
	}
}

func dev8Flow(t *testing.T, b *Berth, target dev8Target) {
	req := map[string]any{
		"name": "My Dev Environment", "cloudProvider": target.provider, "cloudRegion": "",
		"cpuCores": 2, "memoryGB": 4, "storageGB": 20, "baseImage": "node",
		"gitUserName": "John Doe", "gitUserEmail": "john@example.com", "sshPublicKey": "ssh-rsa AAAAB3e2e",
		"region": "eastus", // Dev8's Next.js sends fields the agent ignores: accepted
	}
	for k, v := range dev8Secrets {
		req[k] = v
	}

	// Bad input first: a clear error naming the field, and nothing created.
	bad := map[string]any{"name": "x", "cpuCores": 5}
	code, e := doAs[api.Error](b, b.Token(), "POST", "/api/v1/environments", bad)
	if code != 400 || e.Error != berth.EINVALID || e.Field != "cpuCores" || !strings.Contains(e.Message, "cpuCores") {
		t.Fatalf("cpuCores 5: got %d %+v", code, e)
	}
	if m := getJSON[api.EnvironmentList](b, "/api/v1/environments"); m.Total != 0 || len(m.Environments) != 0 {
		t.Fatalf("a rejected create left something behind: %s", mustJSON(m))
	}

	created := b.MustDo(201, "POST", "/api/v1/environments", req)
	if created["message"] != "Environment created successfully" {
		t.Errorf("message = %v", created["message"])
	}
	env := created["environment"].(map[string]any)
	for _, f := range dev8EnvFields {
		if _, ok := env[f]; !ok {
			t.Errorf("environment lacks Dev8 field %q: %v", f, env)
		}
	}
	id := str(env, "id")
	if !strings.HasPrefix(id, "env-") || env["cpuCores"] != float64(2) || env["storageGB"] != float64(20) ||
		env["cloudProvider"] != target.provider || env["name"] != "My Dev Environment" {
		t.Errorf("unexpected environment: %v", env)
	}
	assertNoSecrets(t, "create answer", mustJSON(created))

	// It runs: wait for RUNNING, then reach the workspace from outside berth.
	var url string
	Eventually(t, 60*time.Second, "environment RUNNING", func() (bool, string) {
		env := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment
		url = env.VSCodeURL
		return env.Status == berth.EnvRunning, string(env.Status) + " " + env.Message
	})
	target.running(t, id, url)

	list := getJSON[api.EnvironmentList](b, "/api/v1/environments?page=1&pageSize=20")
	if list.Total != 1 || list.Page.Page != 1 || list.PageSize != 20 || len(list.Environments) != 1 || list.Environments[0].ID != id {
		t.Errorf("list = %s", mustJSON(list))
	}
	assertNoSecrets(t, "list answer", mustJSON(list))

	before := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment.LastAccessedAt
	time.Sleep(1100 * time.Millisecond) // lastAccessedAt has second-level meaning for users; make the move visible
	now := time.Now().UTC().Format(time.RFC3339Nano)
	act := b.MustDo(200, "POST", "/api/v1/environments/"+id+"/activity", map[string]any{
		"snapshot":  map[string]any{"lastIDEActivity": now, "activeIDEConnections": 1, "activeSSHConnections": 0},
		"timestamp": now,
	})
	if act["id"] != id {
		t.Errorf("activity answer = %v", act)
	}
	after := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment.LastAccessedAt
	if !after.After(before) {
		t.Errorf("lastAccessedAt did not move: %s → %s", before, after)
	}

	stop := b.MustDo(200, "POST", "/api/v1/environments/"+id+"/stop", nil)
	if stop["id"] != id || str(stop, "message") == "" || len(stop) != 2 {
		t.Errorf("stop answer = %v, want {message, id}", stop)
	}
	target.stopped(t, id)
	if s := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment.Status; s != berth.EnvStopped {
		t.Errorf("status after stop = %s", s)
	}

	mustDo[api.Ack](b, 200, "POST", "/api/v1/environments/"+id+"/start", nil)
	Eventually(t, 60*time.Second, "environment RUNNING again", func() (bool, string) {
		env := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment
		url = env.VSCodeURL
		return env.Status == berth.EnvRunning, string(env.Status)
	})
	target.restarted(t, id, url)

	del := b.MustDo(200, "DELETE", "/api/v1/environments/"+id, nil)
	if del["id"] != id || len(del) != 2 {
		t.Errorf("delete answer = %v", del)
	}
	code, e = doAs[api.Error](b, b.Token(), "GET", "/api/v1/environments/"+id, nil)
	if code != 404 || e.Error != berth.ENOTFOUND || e.Message != `environment "`+id+`" not found` {
		t.Errorf("get after delete: %d %+v", code, e)
	}
	target.deleted(t, id)

	// Secrets never reach the logs, the audit log or the database file.
	audit := getJSON[api.AuditList](b, "/api/v1/logs?pageSize=200")
	assertNoSecrets(t, "audit log", mustJSON(audit))
	assertNoSecrets(t, "server log", b.stderr.String()+b.stdout.String())
	if b.DBURL == "" {
		filepath.Walk(b.DataDir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && strings.HasPrefix(info.Name(), "berth.db") {
				raw, _ := os.ReadFile(p)
				assertNoSecrets(t, "database file "+info.Name(), string(raw))
			}
			return nil
		})
	}
}

func assertNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for field, v := range dev8Secrets {
		if strings.Contains(text, v) {
			t.Errorf("%s contains the %s value", where, field)
		}
	}
}

// workspacePassword is sent as HTTP Basic auth to workspaces.
var workspacePassword = dev8Secrets["codeServerPassword"]

func put(t *testing.T, url, body string) {
	t.Helper()
	putWith(t, http.DefaultClient, url, body)
}

func putWith(t *testing.T, c *http.Client, url, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, strings.NewReader(body))
	req.SetBasicAuth("dev", workspacePassword)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	return getWith(t, http.DefaultClient, url)
}

func getWith(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("dev", workspacePassword) // ignored by services
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	io.Copy(&buf, resp.Body)
	return buf.String()
}
