// Command chaos measures berth under failure (make bench-chaos): two
// `berth serve` replicas (the real binary) on one PostgreSQL
// (internal/pgtest) under steady mixed load, the leader SIGKILLed every
// 30 s for 5 minutes and restarted; then PostgreSQL restarted under the
// same load; then the Kubernetes API server restarted in the middle of a
// rollout (internal/kubetest). It is a benchmark, not a test: it prints
// failover times (p50/p99), failed requests by class, duplicate or
// missing workloads (store against /proc), audit rows missing for
// acknowledged writes, WebSocket clients that missed a resync, and
// same-run latency ratios. It exits non-zero on errors, not on a bad figure.
//
//	go run ./bench/chaos -berth bin/berth [-duration 1m -every 20s] (a quick run)
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver: the store and pg_locks, read from outside berth
)

type options struct {
	berth                string
	duration, every      time.Duration
	warmup, think        time.Duration
	pgRestarts           int
	pgDown, pgGap        time.Duration
	kubeRounds, kubeReps int
	kubeDown             time.Duration
	skipKube, skipHA     bool
	keep                 bool
	logLevel             string
}

func main() {
	var o options
	flag.StringVar(&o.berth, "berth", "bin/berth", "berth binary")
	flag.DurationVar(&o.duration, "duration", 5*time.Minute, "HA phase: how long the leader is killed again and again")
	flag.DurationVar(&o.every, "every", 30*time.Second, "HA phase: one leader SIGKILL every")
	flag.DurationVar(&o.warmup, "warmup", 20*time.Second, "steady load before the first kill (the steady-state reference)")
	flag.DurationVar(&o.think, "think", 250*time.Millisecond, "a reader's pause between requests (writers pause 4×)")
	flag.IntVar(&o.pgRestarts, "pg-restarts", 3, "PostgreSQL restarts under load")
	flag.DurationVar(&o.pgDown, "pg-down", 5*time.Second, "how long PostgreSQL stays down")
	flag.DurationVar(&o.pgGap, "pg-gap", 20*time.Second, "steady load between PostgreSQL restarts")
	flag.IntVar(&o.kubeRounds, "kube-rounds", 3, "rollouts with and without a kube-apiserver restart (each)")
	flag.IntVar(&o.kubeReps, "kube-replicas", 10, "replicas of the rolled-out service")
	flag.DurationVar(&o.kubeDown, "kube-down", 5*time.Second, "how long kube-apiserver stays down")
	flag.BoolVar(&o.skipKube, "skip-kube", false, "skip the kube-apiserver restart phase")
	flag.BoolVar(&o.skipHA, "skip-ha", false, "skip the HA and PostgreSQL phases")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (replicas' logs and data, PostgreSQL's log) and print its path")
	flag.StringVar(&o.logLevel, "log-level", "debug", "the replicas' log level (debug: a line per request, with its id)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-chaos:", err)
		os.Exit(1)
	}
}

var begin = time.Now()

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
}

func run(o options) error {
	if _, err := os.Stat(o.berth); err != nil {
		return fmt.Errorf("berth binary: %w (make build)", err)
	}
	bin, err := filepath.Abs(o.berth)
	if err != nil {
		return err
	}
	ctx := context.Background()
	loads := []float64{loadavg()}
	var ha *haResult
	if !o.skipHA {
		if ha, err = runHA(ctx, o, bin, &loads); err != nil {
			return err
		}
	}
	var kr *kubeResult
	if !o.skipKube {
		if kr, err = runKube(ctx, o, bin, &loads); err != nil {
			return err
		}
	}
	loads = append(loads, loadavg())
	printSummary(o, ha, kr, loads)
	return nil
}

// haResult is what the HA and PostgreSQL phases measured.
type haResult struct {
	kills   []*kill
	pg      []*pgRestart
	records []*record
	subs    []*subscriber
	diff    workloadDiff
	lost    []lostWrite // acknowledged writes the store does not hold
	// acknowledged writes overwritten by an earlier write whose client
	// had given up on it (no answer) and that landed later
	overwritten []lostWrite
	// writes answered with an error whose change the store holds
	failedStored []string
	unaud        []*record
	settle       time.Duration
	services     int
	logs         *replicaLogs // nil: unreadable
}

func runHA(ctx context.Context, o options, bin string, loads *[]float64) (*haResult, error) {
	dir, err := os.MkdirTemp("", "bench-chaos-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		defer step("kept %s (a/berth.log, b/berth.log, postgres.log)", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// Isolated workloads (berth runs as root) pass through to their own
	// directories below: 0711, as berth's workload root is.
	if err := os.Chmod(dir, 0o711); err != nil { // #nosec G302 -- a directory passed through, never listed
		return nil, err
	}
	step("starting PostgreSQL")
	pg, err := pgtest.Start()
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	if o.keep {
		defer copyFile(pg.LogPath(), filepath.Join(dir, "postgres.log"))
	}
	db, err := sql.Open("pgx", pg.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	var reps []*replica
	for _, name := range []string{"a", "b"} {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		rdir := filepath.Join(dir, name)
		if err := os.MkdirAll(rdir, 0o711); err != nil { // #nosec G301 -- passed through by isolated workloads, never listed
			return nil, err
		}
		reps = append(reps, &replica{name: name, target: "host-" + name, addr: addr, url: "http://" + addr, dir: rdir, bin: bin,
			http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}},
			env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + rdir, "BERTH_ADMIN_PASSWORD=chaos-admin-password",
				"BERTH_RATE_LIMIT=-1", "BERTH_LOG_LEVEL=" + o.logLevel, "BERTH_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key),
				"BERTH_DATABASE_URL=" + pg.URL("postgres")}})
	}
	defer func() {
		for _, r := range reps {
			r.stop()
		}
	}()
	for _, r := range reps { // one after the other: the first migrates and bootstraps the admin
		step("starting replica %s (%s)", r.name, r.addr)
		if err := r.start(); err != nil {
			return nil, err
		}
		if _, err := r.waitReady(ctx, 90*time.Second); err != nil {
			return nil, err
		}
	}
	var login struct{ Token string }
	if err := reps[0].api(ctx, "", "POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "chaos-admin-password"}, &login); err != nil {
		return nil, err
	}
	groups, all, err := createServices(ctx, reps, login.Token)
	if err != nil {
		return nil, err
	}
	res := &haResult{services: len(all)}
	step("%d services on %d local targets running; starting the load", len(all), len(reps))

	l := &load{token: login.Token, replicas: reps, think: o.think}
	loadCtx, stopLoad := context.WithCancel(ctx)
	wsCtx, stopWS := context.WithCancel(ctx)
	defer stopLoad()
	defer stopWS()
	var wg, wsWG sync.WaitGroup
	for i := range 6 {
		wg.Go(func() { l.reader(loadCtx, all, i) })
	}
	for i := range 2 {
		wg.Go(func() { l.logReader(loadCtx, all, i) })
	}
	for i := range 4 {
		wg.Go(func() { l.scaler(loadCtx, groups[fmt.Sprintf("scale-%d", i)], i) })
		wg.Go(func() { l.applier(loadCtx, groups[fmt.Sprintf("apply-%d", i)], i) })
	}
	for i := range 4 {
		s := newSubscriber(i, reps[i%2], reps[(i+1)%2], login.Token)
		res.subs = append(res.subs, s)
		wsWG.Go(func() { s.run(wsCtx) })
	}
	pause(ctx, o.warmup)

	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * o.every)
		if !at.Before(start.Add(o.duration)) {
			break
		}
		pause(ctx, time.Until(at))
		k, err := killLeader(ctx, db, reps, step)
		if k != nil {
			res.kills = append(res.kills, k)
			step("kill %d: %s SIGKILLed; lock taken %s, %s leads %s, loops run %s; %d of its workloads outlived it; restarted, ready in %s",
				i+1, k.victim.name, since(k.at, k.lockAt), k.survivor.name, since(k.at, k.leaderAt), since(k.at, k.loopsAt),
				k.survivors, since(k.restartAt, k.readyAt))
		}
		if err != nil {
			return nil, err
		}
		*loads = append(*loads, loadavg())
	}
	for i := range o.pgRestarts {
		pause(ctx, o.pgGap)
		pr, err := restartPostgres(ctx, pg, db, reps, o.pgDown)
		if err != nil {
			return nil, err
		}
		res.pg = append(res.pg, pr)
		step("PostgreSQL restart %d: down %s; not ready seen on %d replicas; ready again %s after it was back; leader %s, loops %s",
			i+1, since(pr.stopAt, pr.upAt), len(pr.notReady), since(pr.upAt, latest(pr.readyAt)), since(pr.upAt, pr.leaderAt), since(pr.upAt, pr.loopsAt))
		*loads = append(*loads, loadavg())
	}
	for _, k := range res.kills {
		if k.back != nil {
			<-k.back
		}
	}
	pause(ctx, 10*time.Second) // a steady tail
	stopLoad()
	wg.Wait()
	pause(ctx, 5*time.Second) // events of the last writes reach the subscribers
	stopWS()
	wsWG.Wait()
	res.records = l.snapshot()

	step("load stopped (%d requests); waiting for the workloads to settle", len(res.records))
	settleStart := time.Now()
	for {
		stored, err := storedServices(ctx, db)
		if err != nil {
			return nil, err
		}
		res.diff = compareWorkloads(stored, processTable())
		if res.diff.clean() || time.Since(settleStart) > 90*time.Second {
			res.settle = time.Since(settleStart)
			res.lost, res.overwritten, res.failedStored = lostWrites(res.records, stored)
			break
		}
		pause(ctx, time.Second)
	}
	audited, err := auditedRequests(ctx, db)
	if err != nil {
		return nil, err
	}
	for _, r := range res.records {
		if r.write && r.ok() && !audited[r.reqID] {
			res.unaud = append(res.unaud, r)
		}
	}
	if res.logs, err = readLogs(reps); err != nil {
		step("replica logs: %v", err)
	}
	return res, nil
}

// createServices applies the load's services: per target, six the scalers
// own, six the appliers own and two nobody writes.
func createServices(ctx context.Context, reps []*replica, token string) (map[string][]loadSvc, []loadSvc, error) {
	groups := map[string][]loadSvc{}
	var all []loadSvc
	for ti, r := range reps {
		for i := range 14 {
			s := loadSvc{name: fmt.Sprintf("%s-s%02d", r.target, i), owner: r}
			switch {
			case i < 6:
				g := fmt.Sprintf("scale-%d", ti*2+i%2)
				groups[g] = append(groups[g], s)
			case i < 12:
				g := fmt.Sprintf("apply-%d", ti*2+i%2)
				groups[g] = append(groups[g], s)
			}
			all = append(all, s)
			if err := r.api(ctx, token, "PUT", "/api/v1/services/"+s.name, serviceSpec(s, 0, 1), nil); err != nil {
				return nil, nil, err
			}
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		running := map[string]int{}
		for _, w := range processTable() {
			running[w.service]++
		}
		missing := 0
		for _, s := range all {
			if running[s.name] < 1 {
				missing++
			}
		}
		if missing == 0 {
			return groups, all, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%d services not running after 2 minutes", missing)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

// restartPostgres stops PostgreSQL for down under load, watching every
// replica's /readyz, starts it again and waits for both to be ready and
// for a leader whose loops run.
func restartPostgres(ctx context.Context, pg *pgtest.Server, db *sql.DB, reps []*replica, down time.Duration) (*pgRestart, error) {
	pr := &pgRestart{notReady: map[string]time.Time{}, readyAt: map[string]time.Time{}}
	var mu sync.Mutex
	var upAt time.Time
	up := func() time.Time { mu.Lock(); defer mu.Unlock(); return upAt }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { watchReady(ctx, reps, pr, &mu, up, stop) })
	pr.stopAt = time.Now()
	err := pg.Restart(func() { pause(ctx, down) })
	mu.Lock()
	upAt = time.Now()
	pr.upAt = upAt
	mu.Unlock()
	if err != nil {
		close(stop)
		wg.Wait()
		return nil, err
	}
	deadline := pr.upAt.Add(2 * time.Minute)
	for time.Now().Before(deadline) && (pr.leaderAt.IsZero() || pr.loopsAt.IsZero()) {
		now := time.Now()
		if pr.leaderAt.IsZero() && leader(ctx, reps) != nil {
			pr.leaderAt = now
		}
		if pr.loopsAt.IsZero() {
			if ok, err := heartbeatAfter(ctx, db, pr.upAt); err == nil && ok {
				pr.loopsAt = now
			}
		}
		pause(ctx, 50*time.Millisecond)
	}
	for time.Now().Before(deadline) {
		mu.Lock()
		n := 0
		for _, r := range reps {
			if _, ok := pr.readyAt[r.name]; ok {
				n++
			}
		}
		mu.Unlock()
		if n == len(reps) {
			break
		}
		pause(ctx, 100*time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, r := range reps {
		if _, ok := pr.notReady[r.name]; !ok {
			pr.readyNotSeenFor = append(pr.readyNotSeenFor, r.name)
		}
	}
	return pr, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// loadavg is the 1-minute load average of the machine.
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var v float64
	_, _ = fmt.Sscanf(strings.Fields(string(b))[0], "%g", &v)
	return v
}

func since(from, to time.Time) string {
	if to.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.2fs", to.Sub(from).Seconds())
}

func latest(m map[string]time.Time) time.Time {
	var t time.Time
	for _, v := range m {
		if v.After(t) {
			t = v
		}
	}
	return t
}

// copyFile copies a log out of a directory about to be removed (best effort).
func copyFile(from, to string) {
	b, err := os.ReadFile(from) // #nosec G304 -- PostgreSQL's log, kept on request
	if err == nil {
		_ = os.WriteFile(to, b, 0o600) // #nosec G703 -- a path in the benchmark's own temp dir
	}
}
