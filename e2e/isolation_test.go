package e2e

import (
	"database/sql"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"
	_ "modernc.org/sqlite"
)

// procIdentity is what /proc/<pid>/status says of who a process is.
type procIdentity struct {
	uid, gid   []string // real, effective, saved, filesystem
	groups     string
	noNewPrivs string
}

func readIdentity(t *testing.T, pid int) procIdentity {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of %d: %v", pid, err)
	}
	var id procIdentity
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Uid":
			id.uid = strings.Fields(v)
		case "Gid":
			id.gid = strings.Fields(v)
		case "Groups":
			id.groups = strings.TrimSpace(v)
		case "NoNewPrivs":
			id.noNewPrivs = strings.TrimSpace(v)
		}
	}
	return id
}

// isolatedUID checks that pid runs unprivileged as one uid (real, effective,
// saved, filesystem), with the group of the same number, no supplementary
// groups and no_new_privs, and returns the uid.
func isolatedUID(t *testing.T, what string, pid int) int {
	t.Helper()
	id := readIdentity(t, pid)
	if len(id.uid) != 4 || len(id.gid) != 4 {
		t.Fatalf("%s (pid %d): status without Uid/Gid: %+v", what, pid, id)
	}
	uid, _ := strconv.Atoi(id.uid[0])
	for i := range 4 {
		if id.uid[i] != id.uid[0] || id.gid[i] != id.uid[0] {
			t.Errorf("%s (pid %d): Uid %v Gid %v, want one uid and the group of the same number", what, pid, id.uid, id.gid)
			break
		}
	}
	if uid < 1_900_000_000 || uid > 1_900_065_535 {
		t.Errorf("%s (pid %d) runs as uid %d, outside the default range 1900000000-1900065535", what, pid, uid)
	}
	if id.groups != "" {
		t.Errorf("%s (pid %d) has supplementary groups %q", what, pid, id.groups)
	}
	if id.noNewPrivs != "1" {
		t.Errorf("%s (pid %d): NoNewPrivs %q, want 1", what, pid, id.noNewPrivs)
	}
	return uid
}

func onePid(t *testing.T, what string, find func() []int) int {
	t.Helper()
	var pid int
	Eventually(t, 45*time.Second, "one process of "+what+", past berth's shim", func() (bool, string) {
		ps := find()
		if len(ps) != 1 {
			return false, fmt.Sprint(ps)
		}
		// The shim (berth __berth-exec) sets no_new_privs, then becomes the command.
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ps[0]))
		pid = ps[0]
		return !strings.Contains(string(cmdline), "__berth-exec"), string(cmdline)
	})
	return pid
}

func wantMode(t *testing.T, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("stat %s: %v", path, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != mode || (uid >= 0 && int(st.Uid) != uid) || (gid >= 0 && int(st.Gid) != gid) {
		t.Errorf("%s: mode %04o owner %d:%d, want %04o %d:%d (-1: any)", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// logText returns what berth captured of a workload (service or environment).
func logText(b *Berth, path string) string {
	return mustJSON(b.MustDo(200, "GET", path+"/logs?tail=500", nil))
}

var rcLine = regexp.MustCompile(`(finding[0-9]-[a-z-]+) rc=([0-9]+)`)

// checkRefused asserts that every probe of a hostile workload ran (its
// "<probe> rc=N" line is in the log), failed, and that the log holds
// none of the secrets.
func checkRefused(t *testing.T, who, logs string, probes []string, secrets map[string]string) {
	t.Helper()
	rcs := map[string]string{}
	for _, m := range rcLine.FindAllStringSubmatch(logs, -1) {
		rcs[m[1]] = m[2]
	}
	for _, p := range probes {
		rc, ok := rcs[p]
		if !ok {
			t.Errorf("%s: probe %s did not run; log: %s", who, p, logs)
		} else if rc == "0" {
			t.Errorf("%s: probe %s succeeded; log: %s", who, p, logs)
		}
	}
	for name, v := range secrets {
		if v != "" && strings.Contains(logs, v) {
			t.Errorf("%s: the log holds %s", who, name)
		}
	}
}

// TestIsolation: with berth as root, the attacks of issue 9 fail. The
// admin's service and operators A's and B's environments run as three
// distinct unprivileged uids (checked in /proc/<pid>/status and in the
// database), with no_new_privs and no supplementary groups, also after
// berth is killed and started again; reading berth's environment, its key
// and database, A's workspace process's environment and A's files fails;
// the data dir, database files and key are private (also when an older
// berth left them open), workload directories belong to their uids.
func TestIsolation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestIsolation needs root: berth switches uids only as root")
	}
	dataDir := t.TempDir()
	wdir := workloadDirFor(dataDir)
	script := filepath.Join(e2eDir, "hostile-"+strings.ReplaceAll(t.Name(), "/", "-")+".sh")
	cfgFile := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`targets:
  - name: local
    type: local
    templates:
      hostile:
        command: [sh, %q]
`, script)), 0o600); err != nil {
		t.Fatal(err)
	}
	b := StartBerth(t, dataDir, "", "BERTH_CONFIG_FILE="+cfgFile)
	keyFile, dbFile := filepath.Join(dataDir, "secret.key"), filepath.Join(dataDir, "berth.db")
	rawKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"admin password": adminPassword, "BERTH_ADMIN_PASSWORD": "BERTH_ADMIN_PASSWORD",
		"key file (base64)": base64.StdEncoding.EncodeToString(rawKey)[:20], "key file": strings.TrimSpace(string(rawKey)),
		"database header": "SQLite format 3", "A's GitHub token": "ghp_e2eSECRETtokenOfA", "A's Anthropic key": "sk-ant-e2eSECRETkeyOfA",
	}
	step := steps(t, b.use)
	// What the steps learn and later steps check again.
	var (
		svcPid, aPid, bPid     int    // the first processes of evil, A's and B's environments
		svcUID, aUID, bUID     int    // their uids
		aID, aUser, bID, bUser string // the environments and their owners
		notes                  string // A's private file
		svcLogs, bLogs         string // what evil and B's environment logged
	)
	probes1 := []string{"finding1-environ", "finding1-relkey", "finding1-key", "finding1-db", "finding1-ls"}
	probes2 := []string{"finding2-environ", "finding2-a-environ", "finding2-a-file", "finding2-ls", "finding2-key", "finding2-db"}
	// From outside: modes and owners.
	checkModes := func(t *testing.T) {
		t.Helper()
		wantMode(t, dataDir, 0o700, 0, -1)
		for _, f := range []string{keyFile, dbFile, dbFile + "-wal", dbFile + "-shm"} {
			wantMode(t, f, 0o600, 0, -1)
		}
		for _, d := range []string{wdir, filepath.Join(wdir, "local"), filepath.Join(wdir, "local", "environments"), filepath.Join(wdir, "local", "services")} {
			wantMode(t, d, 0o711, 0, -1)
		}
		for _, w := range []struct {
			top  string
			uid  int
			subs []string
		}{
			{filepath.Join(wdir, "local", "services", "evil"), svcUID, []string{"work", "home"}},
			{filepath.Join(wdir, "local", "environments", aID), aUID, []string{"workspace", "home"}},
			{filepath.Join(wdir, "local", "environments", bID), bUID, []string{"workspace", "home"}},
		} {
			wantMode(t, w.top, 0o750, 0, w.uid)
			for _, s := range w.subs {
				wantMode(t, filepath.Join(w.top, s), 0o700, w.uid, w.uid)
			}
		}
	}
	// The uids are recorded in the store, one per user.
	checkStore := func(t *testing.T) {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+dbFile+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT user_id, uid FROM workload_uids`)
		if err != nil {
			t.Fatalf("read workload_uids: %v", err)
		}
		defer rows.Close()
		got := map[string]int{}
		for rows.Next() {
			var u string
			var uid int
			rows.Scan(&u, &uid)
			got[u] = uid
		}
		if len(got) != 3 || got[aUser] != aUID || got[bUser] != bUID {
			t.Errorf("workload_uids = %v, want 3 rows with %s=%d, %s=%d (and the admin's %d)", got, aUser, aUID, bUser, bUID, svcUID)
		}
	}

	// Finding 1, run by a service of the admin (admins may run commands):
	// it must still run unprivileged, as the admin user's own uid.
	step("an admin service runs unprivileged", func(t *testing.T) {
		finding1 := `tr '\0' ' ' </proc/$PPID/environ; echo "finding1-environ rc=$?"; ` +
			`base64 $BERTH_CONFIG_DIR/../../../../../../secret.key; echo "finding1-relkey rc=$?"; ` +
			`base64 ` + keyFile + `; echo "finding1-key rc=$?"; ` +
			`head -c 64 ` + dbFile + `; echo "finding1-db rc=$?"; ` +
			`ls ` + dataDir + `; echo "finding1-ls rc=$?"; exec sleep 3600`
		b.MustDo(201, "PUT", "/api/v1/services/evil", map[string]any{"command": []string{"sh", "-c", finding1}})
		svcPid = onePid(t, "service evil", func() []int { return processesOf("evil") })
	})

	// Operators A and B: A runs the default workspace (berth workspace),
	// with secrets in its environment and a file in its workspace.
	step("operators environments, one uid per user", func(t *testing.T) {
		for _, u := range []string{"opa", "opb"} {
			b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": u, "password": "operator-password", "role": "operator"})
		}
		tokA, tokB := b.Login("opa", "operator-password"), b.Login("opb", "operator-password")
		code, m := b.Do(tokA, "POST", "/api/v1/environments", map[string]any{"name": "a-dev",
			"githubToken": secrets["A's GitHub token"], "anthropicApiKey": secrets["A's Anthropic key"]})
		if code != 201 {
			t.Fatalf("A creates an environment: %d %v", code, m)
		}
		aID, aUser = str(m, "environment", "id"), str(m, "environment", "userId")
		aPid = onePid(t, "A's environment", func() []int { return processesOfEnv(aID) })
		aWorkspace := filepath.Join(wdir, "local", "environments", aID, "workspace")

		// Finding 2, run by B's environment (an admin's template): the
		// environment of A's workspace process, A's files, berth's files.
		if err := os.WriteFile(script, []byte(`tr '\0' ' ' </proc/$PPID/environ; echo "finding2-environ rc=$?"
	tr '\0' ' ' </proc/`+strconv.Itoa(aPid)+`/environ; echo "finding2-a-environ rc=$?"
	cat `+aWorkspace+`/notes.txt; echo "finding2-a-file rc=$?"
	ls `+filepath.Join(wdir, "local", "environments")+`; echo "finding2-ls rc=$?"
	base64 `+keyFile+`; echo "finding2-key rc=$?"
	head -c 64 `+dbFile+`; echo "finding2-db rc=$?"
	exec `+berthBin+` workspace --addr 127.0.0.1:$PORT --dir "$WORKSPACE"
	`), 0o644); err != nil {
			t.Fatal(err)
		}
		// A's file: world-readable itself, inside A's private workspace.
		Eventually(t, 30*time.Second, "A's environment RUNNING", func() (bool, string) {
			s := str(b.MustDo(200, "GET", "/api/v1/environments/"+aID, nil), "environment", "status")
			return s == "RUNNING", s
		})
		aUID = isolatedUID(t, "A's workspace", aPid)
		notes = filepath.Join(aWorkspace, "notes.txt")
		if err := os.WriteFile(notes, []byte("A's private notes: e2eSECRETnotes\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(notes, aUID, aUID)
		secrets["A's notes"] = "e2eSECRETnotes"

		code, m = b.Do(tokB, "POST", "/api/v1/environments", map[string]any{"name": "b-dev", "template": "hostile"})
		if code != 201 {
			t.Fatalf("B creates an environment: %d %v", code, m)
		}
		bID, bUser = str(m, "environment", "id"), str(m, "environment", "userId")
		bPid = onePid(t, "B's environment", func() []int { return processesOfEnv(bID) })
		Eventually(t, 30*time.Second, "B's environment RUNNING", func() (bool, string) {
			s := str(b.MustDo(200, "GET", "/api/v1/environments/"+bID, nil), "environment", "status")
			return s == "RUNNING", s
		})

		svcUID = isolatedUID(t, "service evil", svcPid)
		bUID = isolatedUID(t, "B's environment", bPid)
		if svcUID == aUID || svcUID == bUID || aUID == bUID {
			t.Errorf("uids are not one per user: admin %d, A %d, B %d", svcUID, aUID, bUID)
		}
	})

	step("the hostile commands are refused", func(t *testing.T) {
		Eventually(t, 30*time.Second, "the hostile commands' output in the logs", func() (bool, string) {
			svcLogs, bLogs = logText(b, "/api/v1/services/evil"), logText(b, "/api/v1/environments/"+bID)
			return strings.Contains(svcLogs, "finding1-ls rc=") && strings.Contains(bLogs, "finding2-db rc="), svcLogs + bLogs
		})
		checkRefused(t, "admin's service", svcLogs, probes1, secrets)
		checkRefused(t, "B's environment", bLogs, probes2, secrets)
		for _, what := range []string{"/proc/", "secret.key", "berth.db"} {
			if !regexp.MustCompile(regexp.QuoteMeta(what) + `[^"]*: Permission denied`).MatchString(svcLogs + bLogs) {
				t.Errorf("no EACCES reading %s in the logs: %s %s", what, svcLogs, bLogs)
			}
		}
		for _, what := range []string{"/proc/" + strconv.Itoa(aPid) + "/environ", "notes.txt"} {
			if !strings.Contains(bLogs, what+": Permission denied") {
				t.Errorf("B reading %s: no EACCES in %s", what, bLogs)
			}
		}
	})

	// From outside: modes and owners.
	step("modes and owners from outside", func(t *testing.T) {
		checkModes(t)
	})

	// The uids are recorded in the store, one per user.
	step("uids in the store", func(t *testing.T) {
		checkStore(t)
	})

	// berth dies (SIGKILL), an older berth's modes are put back, berth
	// starts again: the same uids, the modes fixed, A's files still A's.
	step("a restart keeps the uids and fixes the modes", func(t *testing.T) {
		b.Kill()
		os.Chmod(dataDir, 0o755)
		for _, f := range []string{dbFile, dbFile + "-wal", dbFile + "-shm"} {
			if err := os.Chmod(f, 0o644); err != nil {
				t.Errorf("open up %s: %v", f, err)
			}
		}
		b.Restart()
		Eventually(t, 45*time.Second, "workloads back after the restart", func() (bool, string) {
			s, a, bb := processesOf("evil"), processesOfEnv(aID), processesOfEnv(bID)
			return len(s) == 1 && s[0] != svcPid && len(a) == 1 && a[0] != aPid && len(bb) == 1 && bb[0] != bPid, fmt.Sprint(s, a, bb)
		})
		if got := isolatedUID(t, "service evil after restart", onePid(t, "service evil", func() []int { return processesOf("evil") })); got != svcUID {
			t.Errorf("service evil runs as %d after the restart, was %d", got, svcUID)
		}
		if got := isolatedUID(t, "A's environment after restart", onePid(t, "A's environment", func() []int { return processesOfEnv(aID) })); got != aUID {
			t.Errorf("A's environment runs as %d after the restart, was %d", got, aUID)
		}
		if got := isolatedUID(t, "B's environment after restart", onePid(t, "B's environment", func() []int { return processesOfEnv(bID) })); got != bUID {
			t.Errorf("B's environment runs as %d after the restart, was %d", got, bUID)
		}
		checkModes(t)
		checkStore(t)
		// Log capture of the restarted workloads works: they ran their probes
		// again, as refused as before.
		Eventually(t, 30*time.Second, "the restarted workloads' output in the logs", func() (bool, string) {
			svcLogs, bLogs = logText(b, "/api/v1/services/evil"), logText(b, "/api/v1/environments/"+bID)
			return strings.Count(svcLogs, "finding1-ls rc=") >= 2 && strings.Count(bLogs, "finding2-db rc=") >= 2, svcLogs + bLogs
		})
		checkRefused(t, "admin's service after the restart", svcLogs, probes1, secrets)
		checkRefused(t, "B's environment after the restart", bLogs, probes2, secrets)
	})

	// Stop and start keep A's workspace, A's.
	step("stop and start keep A workspace", func(t *testing.T) {
		b.MustDo(200, "POST", "/api/v1/environments/"+aID+"/stop", nil)
		Eventually(t, 30*time.Second, "A's environment stopped", func() (bool, string) {
			return len(processesOfEnv(aID)) == 0, fmt.Sprint(processesOfEnv(aID))
		})
		b.MustDo(200, "POST", "/api/v1/environments/"+aID+"/start", nil)
		aPid2 := onePid(t, "A's environment after start", func() []int { return processesOfEnv(aID) })
		if got := isolatedUID(t, "A's environment after start", aPid2); got != aUID {
			t.Errorf("A's environment runs as %d after stop/start, was %d", got, aUID)
		}
		if b, err := os.ReadFile(notes); err != nil || !strings.Contains(string(b), "e2eSECRETnotes") {
			t.Errorf("A's notes after stop/start: %q %v", b, err)
		}
		wantMode(t, notes, 0o644, aUID, aUID)
	})
}

// TestNotRootSingleTenant: a berth that is not root cannot switch uids. It
// says so at start, reports its local target singleTenant, refuses an
// operator's service and environment with FORBIDDEN saying why, and runs
// an admin's service as its own user.
func TestNotRootSingleTenant(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestNotRootSingleTenant starts berth as another user: it needs root")
	}
	const nobody = 65534
	dataDir, err := os.MkdirTemp(e2eDir, "nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir); os.RemoveAll(workloadDirFor(dataDir)) })
	for _, d := range []string{dataDir, workloadDirFor(dataDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	b := startBerthAs(t, &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}, dataDir, "")
	// stderr is copied by exec's goroutine, which may lag the stdout line
	// that said berth is running.
	testutil.Eventually(t, testutil.Process, "the warning at start", func() (bool, string) {
		out := b.stderr.String()
		return strings.Contains(out, "does not run as root"), out
	})
	var local map[string]any
	for _, tg := range b.MustDo(200, "GET", "/api/v1/targets", nil)["targets"].([]any) {
		if m := tg.(map[string]any); m["name"] == "local" {
			local = m
		}
	}
	if local == nil || local["singleTenant"] != true {
		t.Errorf("local target = %v, want singleTenant", local)
	}
	b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "opa", "password": "operator-password", "role": "operator"})
	op := b.Login("opa", "operator-password")
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/v1/services/ops", map[string]any{"command": []string{"sleep", "60"}}},
		{"POST", "/api/v1/environments", map[string]any{"name": "ops-env"}},
	} {
		code, m := b.Do(op, req.method, req.path, req.body)
		if code != 403 || m["error"] != "FORBIDDEN" || !strings.Contains(str(m, "message"), "berth's own user") {
			t.Errorf("operator %s %s: %d %v, want 403 saying why", req.method, req.path, code, m)
		}
	}
	if code, m := b.Do(b.Token(), "GET", "/api/v1/services/ops", nil); code != 404 {
		t.Errorf("refused service exists: %d %v", code, m)
	}
	b.MustDo(201, "PUT", "/api/v1/services/adm", map[string]any{"command": []string{"sleep", "60"}})
	pid := onePid(t, "service adm", func() []int { return processesOf("adm") })
	if id := readIdentity(t, pid); len(id.uid) != 4 || id.uid[0] != strconv.Itoa(nobody) {
		t.Errorf("admin's service on a non-root berth runs as %v, want berth's own uid %d", id.uid, nobody)
	}
}
