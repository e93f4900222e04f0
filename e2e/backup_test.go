package e2e

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/store"
)

// backupCounts reads a backup file whole and answers its manifest with the
// trailer's row counts (checked against the rows read).
func backupCounts(t *testing.T, raw []byte, pass string) *backup.Manifest {
	t.Helper()
	r, err := backup.Open(bytes.NewReader(raw), pass)
	if err != nil {
		t.Fatalf("read the backup: %v", err)
	}
	if err := r.Tables(func(store.TableData) error { return nil }); err != nil {
		t.Fatalf("read the backup: %v", err)
	}
	return r.Manifest
}

// runBerthCmd runs a berth maintenance command with env and answers its
// output and error.
func runBerthCmd(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// keeperSpec is a service whose process holds a secret in its environment.
func keeperSpec() map[string]any {
	return map[string]any{"command": []string{"sleep", "3600"}, "replicas": 1,
		"env": map[string]string{"MODE": "kept"}, "secrets": map[string]string{"KEEPER_TOKEN": "e2e-SECRET-keeper-token"}}
}

// stableAnswers are API answers that a restore must give back unchanged.
func stableAnswers(t *testing.T, b *Berth) map[string]string {
	out := map[string]string{}
	for _, p := range []string{"/api/v1/services/keeper/revisions", "/api/v1/users", "/api/v1/services/keeper/config"} {
		code, raw := b.DoRaw(b.Token(), "GET", p, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", p, code, raw)
		}
		out[p] = string(raw)
	}
	m := b.MustDo(200, "GET", "/api/v1/services/keeper", nil)
	svc := m["service"].(map[string]any)
	out["service"] = fmt.Sprint(svc["name"], svc["revision"], svc["replicas"], svc["spec"])
	return out
}

// TestBackupRestore, on SQLite and PostgreSQL: `berth backup` runs beside
// a serving berth while clients keep writing (API keys, each with an audit
// entry); the encrypted backup restores into an empty store of a new data
// dir (the secret key copied over) whose berth gives the same answers and
// starts the service again with its secret in the process's environment
// (read from /proc). Restores are refused into a non-empty store, without
// the passphrase, with a wrong passphrase, without the secret key, from a
// file cut short, and from a newer schema. The backup's temp file is gone
// (renamed). The restored table counts equal the backup's trailer
// (counted with SQL, outside berth).
func TestBackupRestore(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { testBackupRestore(t, kind) })
	}
}

func testBackupRestore(t *testing.T, kind string) {
	var dbURL, restoreURL string
	if kind == "postgres" {
		dbURL, restoreURL = postgresURL(t), postgresURL(t)
	}
	b := StartBerth(t, "", dbURL)
	b.MustDo(201, "PUT", "/api/v1/services/keeper", keeperSpec())
	testutil.Eventually(t, 30*time.Second, "keeper runs", func() (bool, string) { return len(processesOf("keeper")) == 1, "" })
	want := stableAnswers(t, b)

	// Clients write while the backup runs.
	var writes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const writers = 3
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := b.Do(b.Token(), "POST", "/api/v1/apikeys", map[string]any{"name": fmt.Sprintf("w%d-%d", w, i), "role": "viewer"}); code == 201 {
					writes.Add(1)
				}
			}
		})
	}
	testutil.Eventually(t, 30*time.Second, "writes under way", func() (bool, string) { return writes.Load() >= 5, "" })
	file := filepath.Join(t.TempDir(), "berth.backup")
	env := []string{"BERTH_DATABASE_URL=" + dbURL, "BERTH_BACKUP_PASSPHRASE=correct horse"}
	before := writes.Load()
	out, errOut, err := runBerthCmd(t, env, "backup", "--to", file, "--data-dir", b.DataDir)
	after := writes.Load()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "cannot be decrypted") || !strings.Contains(errOut, "secret.key") {
		t.Errorf("backup did not warn about the secret key: %s", errOut)
	}
	t.Logf("backup: %s(writes during it: %d)", out, after-before)
	raw, _ := os.ReadFile(file)
	if bytes.Contains(raw, []byte("e2e-SECRET")) || bytes.Contains(raw, []byte("keeper")) {
		t.Error("the encrypted backup holds plain text of the store")
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("beside the backup: %v, want the backup alone (its temp file renamed)", entries)
	}
	// The row counts travel in the sealed trailer: read the file through.
	manifest := backupCounts(t, raw, "correct horse")
	// A key's audit entry is written after the key commits: the snapshot may
	// fall between the two for each writer's one key in flight.
	if manifest.Tables["api_keys"] < before || manifest.Tables["audit_log"]+writers < manifest.Tables["api_keys"] {
		t.Errorf("backup manifest %v: want at least the %d keys written before it, each but the %d in flight with its audit entry",
			manifest.Tables, before, writers)
	}
	b.Stop()

	dir := t.TempDir()
	copyKey(t, b.DataDir, dir)
	renv := []string{"BERTH_DATABASE_URL=" + restoreURL, "BERTH_BACKUP_PASSPHRASE=correct horse"}
	// A file cut short is refused (and, as the restore below needs an empty
	// store, left nothing behind).
	cut := filepath.Join(t.TempDir(), "cut.backup")
	if err := os.WriteFile(cut, raw[:len(raw)-20], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		env        []string
		dataDir    string
		from       string
	}{
		{"no passphrase", "passphrase", []string{"BERTH_DATABASE_URL=" + restoreURL}, dir, ""},
		{"wrong passphrase", "passphrase", []string{"BERTH_DATABASE_URL=" + restoreURL, "BERTH_BACKUP_PASSPHRASE=wrong"}, dir, ""},
		{"no secret key", "no secret key", renv, t.TempDir(), ""},
		{"the file cut short", "altered", renv, dir, cut},
	} {
		if _, e, err := runBerthCmd(t, c.env, "restore", "--from", cmp.Or(c.from, file), "--data-dir", c.dataDir); err == nil || !strings.Contains(e, c.want) {
			t.Errorf("restore with %s: err %v, %s", c.name, err, e)
		}
	}
	out, errOut, err = runBerthCmd(t, renv, "restore", "--from", file, "--data-dir", dir)
	if err != nil {
		t.Fatalf("restore: %v\n%s%s", err, out, errOut)
	}
	if _, e, err := runBerthCmd(t, renv, "restore", "--from", file, "--data-dir", dir); err == nil || !strings.Contains(e, "not empty") {
		t.Errorf("a second restore into the same store: err %v, %s", err, e)
	}
	counts := sqlCounts(t, kind, dir, restoreURL)
	for table, n := range manifest.Tables {
		if counts[table] != n {
			t.Errorf("restored %s: %d rows (SQL), the backup has %d", table, counts[table], n)
		}
	}

	r := StartBerth(t, dir, restoreURL)
	if got := stableAnswers(t, r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("answers after restore differ:\n got %v\nwant %v", got, want)
	}
	testutil.Eventually(t, 30*time.Second, "the restored keeper runs with its secret", func() (bool, string) {
		pids := processesOf("keeper")
		if len(pids) != 1 {
			return false, fmt.Sprint(pids)
		}
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
		return bytes.Contains(environ, []byte("KEEPER_TOKEN=e2e-SECRET-keeper-token")), "secret not in the environment"
	})
}

// TestRestoreRefusesNewerSchema: a backup naming a migration this berth
// does not carry is refused, and nothing is written.
func TestRestoreRefusesNewerSchema(t *testing.T) {
	b := StartBerth(t, "", "")
	b.Stop()
	file := filepath.Join(t.TempDir(), "plain.backup")
	if out, e, err := runBerthCmd(t, nil, "backup", "--to", file, "--data-dir", b.DataDir); err != nil {
		t.Fatalf("backup: %v %s %s", err, out, e)
	}
	raw, _ := os.ReadFile(file)
	parts := bytes.SplitN(raw, []byte("\n"), 3)
	var m map[string]any
	if err := json.Unmarshal(parts[1], &m); err != nil {
		t.Fatal(err)
	}
	m["migrations"] = append(m["migrations"].([]any), 9999)
	parts[1], _ = json.Marshal(m)
	if err := os.WriteFile(file, bytes.Join(parts, []byte("\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyKey(t, b.DataDir, dir)
	if _, e, err := runBerthCmd(t, nil, "restore", "--from", file, "--data-dir", dir); err == nil || !strings.Contains(e, "newer berth") || !strings.Contains(e, "9999") {
		t.Errorf("restore of a newer schema: err %v, %s", err, e)
	}
	if _, err := os.Stat(filepath.Join(dir, "berth.db")); err == nil {
		t.Error("a refused restore created the database")
	}
}

func copyKey(t *testing.T, from, to string) {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(from, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sqlCounts counts rows of every berth table with SQL, outside berth.
func sqlCounts(t *testing.T, kind, dataDir, url string) map[string]int64 {
	t.Helper()
	driver, dsn := "pgx", url
	list := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if kind == "sqlite" {
		driver, dsn = "sqlite", filepath.Join(dataDir, "berth.db")
		list = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(list)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := db.QueryRow(`SELECT COUNT(*) FROM "` + n + `"`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	return out
}
