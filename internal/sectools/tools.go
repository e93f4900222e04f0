// Package sectools runs berth's security checks (`make security`): gosec over
// the module, govulncheck against a local copy of the Go vulnerability
// database, and every fuzz target for a short time. The tools and the
// database are built from pinned Go modules (tools/gosec, tools/govulncheck,
// tools/vulndb) once per machine and cached under ~/.cache/berth, so a warm
// run costs only the checks.
package sectools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/toolcache"
)

// Tool is a command built from a pinned module in tools/<Module>. These
// type-check our code with the go/types they were compiled with, so their
// cache key holds the Go version (ByGo).
type Tool = toolcache.GoTool

var (
	Gosec       = Tool{Module: "gosec", ModPath: "github.com/securego/gosec/v2", Pkg: "github.com/securego/gosec/v2/cmd/gosec", ByGo: true}
	Govulncheck = Tool{Module: "govulncheck", ModPath: "golang.org/x/vuln", Pkg: "golang.org/x/vuln/cmd/govulncheck", ByGo: true}
	// indexDB writes a directory of OSV entries out as a database in the
	// layout govulncheck reads from a file:// URL (index/db.json,
	// index/modules.json, index/vulns.json, ID/<id>.json).
	indexDB = Tool{Module: "vulndb", ModPath: "golang.org/x/vulndb", Pkg: "golang.org/x/vulndb/cmd/indexdb", ByGo: true}
)

// ErrNoGo means the go command, which builds the tools, is missing.
var ErrNoGo = toolcache.ErrNoGo

// EnsureVulnDB returns the directory of the local Go vulnerability database
// (for govulncheck's -db file://…), writing it first when missing: the OSV
// entries of the pinned golang.org/x/vulndb module (data/osv) indexed by
// the module's own cmd/indexdb.
func EnsureVulnDB(ctx context.Context, log io.Writer) (string, error) {
	version, err := indexDB.Version()
	if err != nil {
		return "", fmt.Errorf("build vulnerability database: %w", err)
	}
	cache, err := toolcache.Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "vulndb-"+version)
	db := filepath.Join(dir, "db")
	if dbComplete(db) {
		return db, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("build vulnerability database %s: %w", version, err)
	}
	unlock, err := toolcache.Lock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return "", fmt.Errorf("build vulnerability database %s: %w", version, err)
	}
	defer unlock()
	if dbComplete(db) {
		return db, nil
	}
	if err := buildVulnDB(ctx, log, db, version); err != nil {
		return "", fmt.Errorf("build vulnerability database %s: %w", version, err)
	}
	return db, nil
}

// dbComplete reports whether db holds a database: it is renamed into place
// only once written whole.
func dbComplete(db string) bool {
	_, err := os.Stat(filepath.Join(db, "index", "modules.json"))
	return err == nil
}

func buildVulnDB(ctx context.Context, log io.Writer, db, version string) error {
	indexer, err := indexDB.Ensure(ctx, log)
	if err != nil {
		return err
	}
	src, err := moduleDir(ctx, indexDB)
	if err != nil {
		return err
	}
	tmp := db + ".build"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, indexer, "-vulns", filepath.Join(src, "data", "osv"), "-out", tmp) // #nosec G204 -- indexer is the binary built above
	if err := toolcache.Build(cmd, log); err != nil {
		return err
	}
	// indexdb also writes a gzipped copy of every file for serving over
	// HTTP; govulncheck reads only the .json files from a directory.
	var gz []string
	if err := filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json.gz") {
			gz = append(gz, p)
		}
		return err
	}); err != nil {
		return err
	}
	for _, p := range gz {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	// The OSV files in the module carry no modification times (the
	// database's builder takes them from git history), so index/db.json
	// says 0001-01-01; the pinned commit's time is when the data is from,
	// and govulncheck prints it.
	if t, ok := pseudoVersionTime(version); ok {
		b, err := json.Marshal(struct {
			Modified time.Time `json:"modified"`
		}{t})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", "db.json"), b, 0o600); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(db); err != nil {
		return err
	}
	return os.Rename(tmp, db)
}

var pseudoRE = regexp.MustCompile(`-(\d{14})-[0-9a-f]{12}$`)

// pseudoVersionTime is the commit time in a pseudo-version
// (v0.0.0-20261105234957-e22db6528018: 2026-11-05 23:49:57 UTC).
func pseudoVersionTime(v string) (time.Time, bool) {
	m := pseudoRE.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102150405", m[1])
	return t, err == nil
}

// moduleDir is the module cache directory of t's pinned module (downloaded
// first when missing).
func moduleDir(ctx context.Context, t Tool) (string, error) {
	mod, err := toolcache.Module(t.Module)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", t.ModPath) // #nosec G204 -- t.ModPath is one of the constants above
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("download %s: %w\n%s", t.ModPath, err, out.Bytes())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return "", fmt.Errorf("download %s: %w", t.ModPath, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("download %s: %s", t.ModPath, info.Error)
	}
	return info.Dir, nil
}
