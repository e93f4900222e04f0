// Command ws benchmarks berth's live events: N WebSocket clients subscribed
// to "metrics" on loopback, latency from publish to receipt (p50/p99), the
// server's and the clients' CPU per tick, and the server's RSS. The server
// is a child process wired like `berth serve` (SQLite, local runtime,
// in-process bus, hub, API); the same-run reference is the in-process bus
// latency measured inside it, without WebSocket. The clients speak raw RFC
// 6455 and, by default, are read by one epoll loop per core (-client raw: a
// goroutine each; -client lib: coder/websocket) so that their CPU, on the
// same cores, stays small; the kernel stamps each frame's arrival on the
// client's socket, so the figures split the server's latency ("delivered")
// from the clients' ("read"). Both processes raise their file-descriptor
// limit. It prints medians of several runs, each run measuring every client
// count in turn. Linux only (epoll, /proc).
//
//	go run ./bench/ws -clients 1000,10000 -runs 3
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// targets are issue 15's: p99 by client count, and the server's RSS.
var targets = map[int]float64{1000: 50, 10000: 200}

const rssTarget = 500

func main() {
	counts := flag.String("clients", "1000,10000", "client counts, comma-separated (each is measured in every run)")
	runs := flag.Int("runs", 3, "runs (medians are printed)")
	n := flag.Int("events", 40, "metric ticks published per run")
	every := flag.Duration("every", 0, "interval between ticks (default: 50ms per 1,000 clients, so every count gets 20,000 frames a second)")
	kind := flag.String("client", "epoll", "epoll (raw clients read by one epoll loop per core, kernel receive stamps), raw (a goroutine per raw client) or lib (coder/websocket)")
	profile := flag.String("cpuprofile", "", "write the server's CPU profile during publishing of the first run to <prefix>-<clients>.pprof, the clients' to <prefix>-clients-<clients>.pprof")
	serve := flag.Bool("serve", false, "internal: run the server child")
	flag.Parse()
	var ns []int
	for _, s := range strings.Split(*counts, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "-clients: %q is not a positive count\n", s)
			os.Exit(2)
		}
		ns = append(ns, v)
	}
	if *serve {
		if err := server(ns[0], *profile); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		return
	}
	dial := dialRaw
	switch *kind {
	case "lib":
		dial = dialLib
	case "raw", "epoll":
	default:
		fmt.Fprintf(os.Stderr, "-client: %q is not epoll, raw or lib\n", *kind)
		os.Exit(2)
	}
	if err := raiseNoFile(slices.Max(ns)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	interval := func(clients int) time.Duration {
		if *every > 0 {
			return *every
		}
		return time.Duration(max(clients, 1000)/1000) * 50 * time.Millisecond
	}
	all := map[int][]*result{}
	for i := range *runs {
		for _, c := range ns {
			prof := ""
			if *profile != "" && i == 0 {
				prof = fmt.Sprintf("%s-%d.pprof", *profile, c)
			}
			r, err := run(c, *n, interval(c), dial, *kind == "epoll", prof)
			if err != nil {
				fmt.Fprintf(os.Stderr, "run %d, %d clients: %v\n", i+1, c, err)
				os.Exit(1)
			}
			fmt.Printf("run %d: %5d clients, %d/%d frames: read p50 %.2f ms p99 %.2f ms | delivered p50 %.2f ms p99 %.2f ms | tick fully delivered median %.1f ms, max %.1f ms | bus alone p50 %.3f ms p99 %.3f ms | CPU per tick server %.1f ms, clients %.1f ms | server waited for a CPU %.1f ms per tick | server RSS %.0f MB connected, peak %.0f MB | load %.2f\n",
				i+1, c, r.got, r.want, r.p50, r.p99, r.d50, r.d99, r.last50, r.lastMax, r.ref50, r.ref99, r.cpuTick, r.clientCPUTick, r.waitTick, r.rss, r.peak, r.load)
			all[c] = append(all[c], r)
		}
	}
	fmt.Printf("medians of %d runs, %d ticks per run, %s clients (read: publish to the client having read the event; delivered: publish to the event in the client's socket, the server's share):\n", *runs, *n, *kind)
	for _, c := range ns {
		rs := all[c]
		m := func(f func(*result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return median(v)
		}
		target := ""
		if t, ok := targets[c]; ok {
			target = fmt.Sprintf(" (target < %.0f ms)", t)
		}
		fmt.Printf("  %5d clients, a tick every %s: read p50 %.2f ms, p99 %.2f ms%s | delivered p50 %.2f ms, p99 %.2f ms | tick fully delivered %.1f ms | bus alone p50 %.3f ms, p99 %.3f ms | p99 WebSocket/bus %.0fx | CPU per tick server %.1f ms, clients %.1f ms | server waited for a CPU %.1f ms per tick | server RSS peak %.0f MB (target < %d MB) | load %.2f\n",
			c, interval(c), m(func(r *result) float64 { return r.p50 }), m(func(r *result) float64 { return r.p99 }), target,
			m(func(r *result) float64 { return r.d50 }), m(func(r *result) float64 { return r.d99 }),
			m(func(r *result) float64 { return r.last50 }),
			m(func(r *result) float64 { return r.ref50 }), m(func(r *result) float64 { return r.ref99 }),
			m(func(r *result) float64 { return r.p99 / max(r.ref99, 0.001) }),
			m(func(r *result) float64 { return r.cpuTick }), m(func(r *result) float64 { return r.clientCPUTick }),
			m(func(r *result) float64 { return r.waitTick }),
			m(func(r *result) float64 { return r.peak }), rssTarget, m(func(r *result) float64 { return r.load }))
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(float64(len(v))*p))]
}

type result struct {
	got, want              int
	p50, p99, ref50, ref99 float64
	// d50, d99: publish to delivery in the client's socket (epoll clients;
	// NaN otherwise); last50, lastMax: per tick, publish to its delivery
	// to the last client (the server's time to write a tick to everyone).
	d50, d99, last50, lastMax float64
	// CPU of the server and of the clients, in ms per tick published.
	cpuTick, clientCPUTick float64
	// waitTick: ms per tick the server's threads waited for a CPU, ready
	// to run (summed over its threads).
	waitTick        float64
	rss, peak, load float64
}

type dialer func(ctx context.Context, addr, token string) (benchClient, error)

func run(clients, n int, every time.Duration, dial dialer, epoll bool, profile string) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{"-serve", "-clients", strconv.Itoa(clients)}
	if profile != "" {
		args = append(args, "-cpuprofile", profile)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...) // #nosec G204 G702 -- the benchmark runs its own binary as the server
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdoutPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	out := bufio.NewScanner(stdoutPipe)
	var url, token string
	if !out.Scan() {
		return nil, fmt.Errorf("server said nothing")
	}
	if _, err := fmt.Sscan(out.Text(), &url, &token); err != nil {
		return nil, fmt.Errorf("server said %q", out.Text())
	}
	conns, err := dialAll(ctx, clients, strings.TrimPrefix(url, "http://"), token, dial)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	if err != nil {
		return nil, err
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	r := &result{want: n * clients, rss: statusMB(pid, "VmRSS"), load: loadAvg()}

	readCtx, stopReading := context.WithTimeout(ctx, time.Duration(n)*every+60*time.Second)
	defer stopReading()
	var (
		samples [][]sample
		lasts   map[int64]float64
		readErr error
		read    sync.WaitGroup
	)
	if epoll {
		raws := make([]*rawClient, len(conns))
		for i, c := range conns {
			raws[i] = c.(*rawClient)
		}
		read.Go(func() { samples, lasts, readErr = readEpoll(readCtx, raws, n) })
	} else {
		samples = make([][]sample, len(conns))
		for i, c := range conns {
			read.Go(func() {
				for _, l := range c.readEvents(readCtx, n) {
					samples[i] = append(samples[i], sample{read: l, delivered: math.NaN()})
				}
			})
		}
	}
	if profile != "" {
		f, err := os.Create(strings.TrimSuffix(profile, fmt.Sprintf("-%d.pprof", clients)) + fmt.Sprintf("-clients-%d.pprof", clients)) // #nosec G304 -- the benchmark's own -cpuprofile flag
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, self0, wait0 := cpuTicks(pid), cpuTicks("self"), runDelay(pid)
	if _, err := fmt.Fprintf(stdin, "publish %d %s\n", n, every); err != nil {
		return nil, err
	}
	read.Wait()
	if readErr != nil {
		return nil, readErr
	}
	cpu1, self1, wait1 := cpuTicks(pid), cpuTicks("self"), runDelay(pid)
	r.waitTick = (wait1 - wait0) / float64(n)
	// clock ticks are 10 ms
	r.cpuTick = float64(cpu1-cpu0) * 10 / float64(n)
	r.clientCPUTick = float64(self1-self0) * 10 / float64(n)
	r.peak = statusMB(pid, "VmHWM")
	if !out.Scan() {
		return nil, fmt.Errorf("server gave no reference")
	}
	if _, err := fmt.Sscan(out.Text(), &r.ref50, &r.ref99); err != nil {
		return nil, fmt.Errorf("server gave reference %q: %w", out.Text(), err)
	}
	if profile != "" {
		_, _ = io.WriteString(stdin, "stop\n")
		out.Scan()
		fmt.Printf("server of %d clients: %s\n", clients, out.Text())
	}
	var lat, del, last []float64
	for _, ss := range samples {
		for _, s := range ss {
			lat = append(lat, s.read)
			if !math.IsNaN(s.delivered) {
				del = append(del, s.delivered)
			}
		}
	}
	for _, v := range lasts {
		last = append(last, v)
	}
	r.got, r.p50, r.p99 = len(lat), pct(lat, 0.5), pct(lat, 0.99)
	r.d50, r.d99, r.last50, r.lastMax = pct(del, 0.5), pct(del, 0.99), pct(last, 0.5), pct(last, 1)
	return r, nil
}

// dialAll connects and subscribes the clients, a few at a time.
func dialAll(ctx context.Context, clients int, addr, token string, dial dialer) ([]benchClient, error) {
	conns := make([]benchClient, clients)
	errs := make(chan error, 8)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dial(ctx, addr, token)
				if err != nil {
					select {
					case errs <- fmt.Errorf("client %d: %w", i, err):
					default:
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()
	out := slices.DeleteFunc(conns, func(c benchClient) bool { return c == nil })
	select {
	case err := <-errs:
		return out, err
	default:
		return out, nil
	}
}
