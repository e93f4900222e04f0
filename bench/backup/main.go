// Command backup benchmarks `berth backup` and `berth restore` on SQLite
// stores holding N raw metric points (metric_points, 1,000 series), for two
// sizes: each command runs as a child process, and its peak RSS is the
// kernel's high-water mark of that child (getrusage's ru_maxrss, the
// VmHWM /proc/PID/status shows at its end). It prints medians of several
// runs per size and the same-run ratios of the two sizes: peak RSS should
// stay flat (ratio near 1) while the rows grow by the ratio of the sizes.
//
//	go build -o bin/berth ./cmd/berth && go run ./bench/backup -berth bin/berth -sizes 250000,2000000 -runs 3
package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
	_ "modernc.org/sqlite"
)

const series = 1000

func main() {
	bin := flag.String("berth", "bin/berth", "the berth binary to run")
	sizes := flag.String("sizes", "250000,2000000", "two row counts of metric_points, comma-separated")
	runs := flag.Int("runs", 3, "runs per size (medians are printed)")
	pass := flag.String("passphrase", "bench passphrase", "backup passphrase (empty: not encrypted)")
	flag.Parse()
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "bench backup: bad -sizes")
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	if err := run(*bin, ns, *runs, *pass); err != nil {
		fmt.Fprintln(os.Stderr, "bench backup:", err)
		os.Exit(1)
	}
}

// result is one size's medians.
type result struct {
	rows                    int
	fileMB                  float64
	backupS, restoreS       float64
	backupRSS, restoreRSSMB float64
}

func run(bin string, sizes []int, runs int, pass string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	if _, err := crand.Read(key); err != nil {
		return err
	}
	env := append(os.Environ(), secret.EnvKey+"="+hex.EncodeToString(key), "BERTH_BACKUP_PASSPHRASE="+pass)
	var results []result
	for _, n := range sizes {
		r, err := measure(bin, env, key, n, runs)
		if err != nil {
			return fmt.Errorf("%d rows: %w", n, err)
		}
		results = append(results, r)
		fmt.Printf("%9d rows  file %7.1f MB  backup %6.1f s %6.1f MB peak RSS  restore %6.1f s %6.1f MB peak RSS  (medians of %d)\n",
			r.rows, r.fileMB, r.backupS, r.backupRSS, r.restoreS, r.restoreRSSMB, runs)
	}
	if len(results) == 2 {
		a, b := results[0], results[1]
		fmt.Printf("same-run ratios (%d vs %d rows): rows ×%.1f, file ×%.1f, backup time ×%.1f, backup peak RSS ×%.2f, restore time ×%.1f, restore peak RSS ×%.2f\n",
			b.rows, a.rows, float64(b.rows)/float64(a.rows), b.fileMB/a.fileMB, b.backupS/a.backupS, b.backupRSS/a.backupRSS, b.restoreS/a.restoreS, b.restoreRSSMB/a.restoreRSSMB)
	}
	return nil
}

func measure(bin string, env []string, key []byte, n, runs int) (result, error) {
	dir, err := os.MkdirTemp("", "bench-backup-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	t0 := time.Now()
	if err := fill(src, key, n); err != nil {
		return result{}, fmt.Errorf("fill: %w", err)
	}
	fmt.Fprintf(os.Stderr, "filled %d rows in %s\n", n, time.Since(t0).Round(time.Millisecond))
	r := result{rows: n}
	var bs, brss, rs, rrss []float64
	file := filepath.Join(dir, "berth.backup")
	for i := range runs {
		d, rss, out, err := child(bin, env, "backup", "--to", file, "--data-dir", src)
		if err != nil {
			return r, fmt.Errorf("backup: %w: %s", err, out)
		}
		if !strings.Contains(out, fmt.Sprintf("%d rows", n+series)) {
			return r, fmt.Errorf("backup did not copy %d rows: %s", n+series, out)
		}
		bs, brss = append(bs, d), append(brss, rss)
		info, err := os.Stat(file)
		if err != nil {
			return r, err
		}
		r.fileMB = float64(info.Size()) / 1e6
		dst := filepath.Join(dir, fmt.Sprintf("dst%d", i))
		d, rss, out, err = child(bin, env, "restore", "--from", file, "--data-dir", dst)
		if err != nil {
			return r, fmt.Errorf("restore: %w: %s", err, out)
		}
		if got, err := countPoints(filepath.Join(dst, "berth.db")); err != nil || got != n {
			return r, fmt.Errorf("restored %d metric points (%v), want %d", got, err, n)
		}
		rs, rrss = append(rs, d), append(rrss, rss)
		if err := os.RemoveAll(dst); err != nil {
			return r, err
		}
	}
	r.backupS, r.backupRSS, r.restoreS, r.restoreRSSMB = median(bs), median(brss), median(rs), median(rrss)
	return r, nil
}

// child runs berth with args and answers its wall time (s), its peak RSS
// (MB) and its output.
func child(bin string, env []string, args ...string) (float64, float64, string, error) {
	cmd := exec.CommandContext(context.Background(), bin, args...) // #nosec G204 -- the benchmark's own berth binary
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0).Seconds()
	if err != nil {
		return 0, 0, out.String(), err
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, "", fmt.Errorf("no rusage")
	}
	return d, float64(ru.Maxrss) * 1024 / 1e6, out.String(), nil // ru_maxrss is in KiB on Linux
}

// fill makes a migrated berth store in dir holding n raw metric points
// spread over the series, a minute apart.
func fill(dir string, key []byte, n int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ctx := context.Background()
	sealer, err := secret.NewSealer(secret.DeriveKey(key, "seal"))
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "berth.db")
	st, err := store.Open(ctx, path, sealer)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after Commit a no-op
	for i := 1; i <= series; i++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO metric_series (id, target, kind, name, metric) VALUES (?, 'local', 'service', ?, 'cpu')`, i, fmt.Sprintf("svc-%04d", i)); err != nil {
			return err
		}
	}
	// Generated inside SQLite (a recursive CTE), far faster than one
	// INSERT per row from Go.
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	if _, err := tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ? - 1)
		INSERT INTO metric_points (series_id, res, ts, value, min_value, max_value, p95, n)
		SELECT i % ? + 1, 0, ? + (i / ?) * 60, v, v, v, v, 1 FROM (SELECT i, abs(random() % 400000) / 100000.0 AS v FROM seq)`,
		n, series, base, series); err != nil {
		return err
	}
	return tx.Commit()
}

func countPoints(path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT COUNT(*) FROM metric_points").Scan(&n)
	return n, err
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
