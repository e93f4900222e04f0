package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthhq/berth/bench/internal/stat"
	"github.com/berthhq/berth/internal/berthproc"
)

// envCommand is the environments' workload: berth calls an environment
// RUNNING once its port accepts connections, so a small perl listens on it
// and accepts (closing at once: a full backlog would fail the probe; a few
// MB each, as a sleep is for the services). A port another program of this
// shared machine holds is retried, not a crash: exiting (98, EADDRINUSE)
// left an environment in ERROR and failed whole runs.
const envCommand = `["perl", "-MIO::Socket::INET", "-e", "my $s; until ($s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ARGV[0], Listen => 8, ReuseAddr => 1)) { sleep 1 } while (my $c = $s->accept) { close $c }", "$PORT"]`

// localConfig is berth with the local target, a "bench" template whose
// workload listens on its port, and a sampler ticking every interval (pprof
// on: the heap profile).
func localConfig(interval time.Duration) string {
	return fmt.Sprintf("pprof: true\nmetricsInterval: %s\ntargets:\n  - name: local\n    type: local\n    templates:\n      bench:\n        command: %s\n", interval, envCommand)
}

// localRun is one berth holding n running services and n running
// environments.
type localRun struct {
	rss     float64 // median VmRSS over the sampler ticks after all ran, MiB
	anon    float64 // RssAnon at the end, MiB
	heap    float64 // Go heap in use (pprof inuse_space total), MiB
	start   time.Duration
	profile string // the heap profile's path
	top     string // go tool pprof -top of it
}

// workers is how many creates run at once: SQLite serialises writes, and
// with hundreds of workloads running beside the sync loop's writes, 16 at
// once make some wait past the busy timeout.
const workers = 4

// benchLocal starts bin, creates n services (one replica of sleep each)
// and n environments of the sleeping template, waits until all run (checked
// in /proc: berth's children), lets the sampler tick ticks times, and reads
// berth's RSS at each tick and its heap profile at the end.
func benchLocal(ctx context.Context, bin, keep string, n, ticks int, interval time.Duration) (r localRun, err error) {
	dir, err := os.MkdirTemp("", "bench-scale-local-")
	if err != nil {
		return localRun{}, err
	}
	defer os.RemoveAll(dir)
	// As root, berth runs each workload as its owner's uid, in a directory
	// under the data dir: the workload's uid must reach it.
	if err := os.Chmod(dir, 0o755); err != nil { // #nosec G302 -- a directory the workloads' uids must traverse
		return r, err
	}
	s, err := berthproc.Start(bin, dir, localConfig(interval))
	if err != nil {
		return localRun{}, err
	}
	defer s.Stop()
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nberth's log ends:\n%s", err, logTail(filepath.Join(dir, "berth.log"), 20))
		}
	}()
	t0 := time.Now()
	if err := stat.Parallel(n, workers, func(i int) error {
		return s.Do("PUT", fmt.Sprintf("/api/v1/services/svc-%d", i), map[string]any{"command": []string{"sleep", "3600"}, "replicas": 1}, nil)
	}); err != nil {
		return r, fmt.Errorf("create services: %w", err)
	}
	if err := stat.Parallel(n, workers, func(i int) error {
		return s.Do("POST", "/api/v1/environments", map[string]any{"name": fmt.Sprintf("env-%d", i), "template": "bench"}, nil)
	}); err != nil {
		return r, fmt.Errorf("create environments: %w", err)
	}
	step("  %d services and %d environments created after %.1fs", n, n, time.Since(t0).Seconds())
	if err := stat.Poll(10*time.Minute, 5*time.Second, fmt.Sprintf("%d services and %d environments RUNNING", n, n), func() error {
		svc, err := countRunning(s, "/api/v1/services", n)
		if err != nil {
			return err
		}
		env, err := countRunning(s, "/api/v1/environments", n)
		if err != nil {
			return err
		}
		if svc < n || env < n {
			step("  %d services and %d environments RUNNING", svc, env)
			return fmt.Errorf("%d services and %d environments RUNNING", svc, env)
		}
		return nil
	}); err != nil {
		return r, err
	}
	r.start = time.Since(t0)
	// From outside berth: its sleeping descendants (a workload that is
	// being restarted at that moment is back within the poll).
	if err := stat.Poll(time.Minute, time.Second, "berth's workloads in /proc", func() error {
		if got := descendants(s.Pid(), "sleep"); got < n {
			return fmt.Errorf("berth reports every service RUNNING but /proc shows %d of its sleep processes, want %d", got, n)
		}
		if got := descendants(s.Pid(), "perl"); got < n {
			return fmt.Errorf("berth reports every environment RUNNING but /proc shows %d of its perl processes, want %d", got, n)
		}
		return nil
	}); err != nil {
		return r, err
	}
	var rss []float64
	for range ticks {
		time.Sleep(interval) // a sampler tick: what it keeps is what is measured
		rss = append(rss, stat.RSSMB(s.Pid()))
	}
	r.rss = stat.Median(rss)
	r.anon = berthproc.ProcStatusMB(s.Pid(), "RssAnon")
	r.profile = keep
	if err := heapProfile(s, keep); err != nil {
		return r, err
	}
	r.top, r.heap, err = pprofTop(ctx, keep)
	return r, err
}

// countRunning counts RUNNING items of a list of n (200 a page).
func countRunning(s *berthproc.Server, path string, n int) (int, error) {
	running := 0
	for page := 1; page <= (n+199)/200; page++ {
		var l struct {
			Services, Environments []struct{ Status string }
		}
		if err := s.Do("GET", fmt.Sprintf("%s?pageSize=200&page=%d", path, page), nil, &l); err != nil {
			return 0, err
		}
		for _, x := range append(l.Services, l.Environments...) {
			if x.Status == "RUNNING" {
				running++
			}
		}
	}
	return running, nil
}

// descendants counts the processes named comm descending from pid, from /proc.
func descendants(pid int, comm string) int {
	parent := map[int]int{}
	var sleeping []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var p int
		if _, err := fmt.Sscanf(e.Name(), "%d", &p); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")) // #nosec G304 -- /proc
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces: split after the last ')'.
		st := string(b)
		i := strings.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		var state string
		var ppid int
		if _, err := fmt.Sscanf(st[i+2:], "%s %d", &state, &ppid); err != nil {
			continue
		}
		parent[p] = ppid
		if strings.HasSuffix(st[:i], "("+comm) {
			sleeping = append(sleeping, p)
		}
	}
	n := 0
	for _, p := range sleeping {
		for q, hops := parent[p], 0; q > 1 && hops < 8; q, hops = parent[q], hops+1 {
			if q == pid {
				n++
				break
			}
		}
	}
	return n
}

// heapProfile saves berth's /debug/pprof/heap (admin-only) to path.
func heapProfile(s *berthproc.Server, path string) error {
	return saveProfile(s, "heap?gc=1", path)
}

// cpuProfile saves berth's CPU profile over the next d to path.
func cpuProfile(s *berthproc.Server, d time.Duration, path string) error {
	return saveProfile(s, fmt.Sprintf("profile?seconds=%d", max(1, int(d.Seconds()))), path)
}

// saveProfile saves berth's /debug/pprof/<what> (admin-only) to path.
func saveProfile(s *berthproc.Server, what, path string) error {
	req, err := http.NewRequest("GET", s.URL+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", what, resp.Status)
	}
	f, err := os.Create(path) // #nosec G304 -- the benchmark's own output
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// pprofTop is `go tool pprof -top` of a heap profile by inuse_space (its
// first lines) and the total in use, MiB.
func pprofTop(ctx context.Context, path string) (string, float64, error) {
	return pprofTopOf(ctx, path, "-sample_index=inuse_space")
}

// pprofTopOf is `go tool pprof -top` of a profile, and its total in MiB (a
// heap profile's).
func pprofTopOf(ctx context.Context, path string, args ...string) (string, float64, error) {
	args = append(append([]string{"tool", "pprof", "-top", "-nodecount=12"}, args...), path)
	out, err := exec.CommandContext(ctx, "go", args...).Output() // #nosec G204 -- the benchmark's own profile
	if err != nil {
		return "", 0, fmt.Errorf("go tool pprof %s: %w", path, err)
	}
	var total float64
	for _, line := range strings.Split(string(out), "\n") {
		// "Showing nodes accounting for 40.51MB, 97.53% of 41.54MB total"
		if i := strings.Index(line, " of "); strings.HasPrefix(line, "Showing nodes") && i > 0 {
			total = parseSize(strings.TrimSuffix(strings.Fields(line[i+4:])[0], ""))
		}
	}
	return string(out), total, nil
}

// parseSize reads pprof's 41.54MB / 512kB / 3GB in MiB.
func parseSize(s string) float64 {
	var v float64
	var unit string
	if _, err := fmt.Sscanf(s, "%f%s", &v, &unit); err != nil {
		return -1
	}
	switch unit {
	case "B":
		return v / (1 << 20)
	case "kB":
		return v / 1024
	case "GB":
		return v * 1024
	}
	return v
}

// localPart runs benchLocal o.runs times per binary, interleaved so both
// see the same load, and prints the medians, the ratio and the heap's top.
func localPart(ctx context.Context, o options) error {
	bins := []string{o.berth}
	if o.baseline != "" {
		bins = append(bins, o.baseline)
	}
	res := make([][]localRun, len(bins))
	for r := range o.runs {
		for b, bin := range bins {
			step("local run %d/%d: %s, %d services + %d environments", r+1, o.runs, bin, o.localN, o.localN)
			lr, err := benchLocal(ctx, bin, filepath.Join(o.out, fmt.Sprintf("local-heap-%d-%d.pb.gz", b, r)), o.localN, o.ticks, o.interval)
			if err != nil {
				return err
			}
			step("  RSS %.0f MB (anon %.0f), heap in use %.1f MB, all running after %.1fs", lr.rss, lr.anon, lr.heap, lr.start.Seconds())
			res[b] = append(res[b], lr)
		}
	}
	med := func(runs []localRun, f func(localRun) float64) float64 {
		var xs []float64
		for _, x := range runs {
			xs = append(xs, f(x))
		}
		return stat.Median(xs)
	}
	rss := func(x localRun) float64 { return x.rss }
	heap := func(x localRun) float64 { return x.heap }
	start := func(x localRun) float64 { return x.start.Seconds() }
	ref, ratio, refHeap, ratioHeap, refStart := "-", "-", "-", "-", "-"
	if len(bins) > 1 {
		ref, ratio = fmt.Sprintf("%.0f MB", med(res[1], rss)), fmt.Sprintf("%.2fx", med(res[0], rss)/med(res[1], rss))
		refHeap, ratioHeap = fmt.Sprintf("%.1f MB", med(res[1], heap)), fmt.Sprintf("%.2fx", med(res[0], heap)/med(res[1], heap))
		refStart = fmt.Sprintf("%.1f s", med(res[1], start))
	}
	fmt.Printf("\nlocal: %d services (one sleeping replica each) + %d environments running, sampler every %s, RSS over %d ticks; %s\n",
		o.localN, o.localN, o.interval, o.ticks, stat.Loadavg())
	if len(bins) > 1 {
		fmt.Printf("baseline: %s (runs interleaved with %s)\n", o.baseline, o.berth)
	}
	fmt.Println()
	stat.PrintTable("baseline", []stat.Row{
		{"berth RSS (median of runs)", fmt.Sprintf("%.0f MB", med(res[0], rss)), ref, ratio, "< 150 MB", stat.Verdict(med(res[0], rss) < 150)},
		{"Go heap in use (pprof, info)", fmt.Sprintf("%.1f MB", med(res[0], heap)), refHeap, ratioHeap, "-", "-"},
		{"create → all RUNNING (info)", fmt.Sprintf("%.1f s", med(res[0], start)), refStart, "-", "-", "-"},
	})
	last := res[0][len(res[0])-1]
	fmt.Printf("\nheap of %s, last run (%s):\n%s", o.berth, last.profile, last.top)
	if len(bins) > 1 {
		last = res[1][len(res[1])-1]
		fmt.Printf("\nheap of the baseline %s, last run (%s):\n%s", o.baseline, last.profile, last.top)
	}
	return nil
}

// logTail is the last n lines of berth's log.
func logTail(path string, n int) string {
	b, _ := os.ReadFile(path) // #nosec G304 -- the log berthproc writes
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
