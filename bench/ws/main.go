// Command ws benchmarks berth's live events: N WebSocket clients subscribed
// to "metrics" on loopback, latency from publish to receipt (p50/p99), and
// the server process's CPU and RSS during the run. The server is a child
// process wired like `berth serve` (SQLite, local runtime, in-process bus,
// hub, API); the same-run reference is the in-process bus latency measured
// inside it, without WebSocket. It prints medians of several runs.
//
//	go run ./bench/ws -clients 1000 -runs 3
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/events"
	"github.com/berthhq/berth/httpapi"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/wshub"
	"github.com/coder/websocket"
)

func main() {
	clients := flag.Int("clients", 1000, "WebSocket clients")
	runs := flag.Int("runs", 3, "runs (medians are printed)")
	n := flag.Int("events", 40, "metric ticks published per run")
	every := flag.Duration("every", 50*time.Millisecond, "interval between ticks")
	serve := flag.Bool("serve", false, "internal: run the server child")
	flag.Parse()
	if *serve {
		if err := server(*clients); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		return
	}
	var p50s, p99s, ref50s, ref99s, cpus, rsss []float64
	for i := range *runs {
		r, err := run(*clients, *n, *every)
		if err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			os.Exit(1)
		}
		fmt.Printf("run %d: %d clients, %d/%d frames: p50 %.2f ms p99 %.2f ms | bus alone p50 %.3f ms p99 %.3f ms | server CPU %.0f%% of a core, RSS peak %.0f MB\n",
			i+1, *clients, r.got, r.want, r.p50, r.p99, r.ref50, r.ref99, r.cpu, r.rss)
		p50s, p99s, ref50s, ref99s, cpus, rsss = append(p50s, r.p50), append(p99s, r.p99), append(ref50s, r.ref50), append(ref99s, r.ref99), append(cpus, r.cpu), append(rsss, r.rss)
	}
	fmt.Printf("median of %d runs: WebSocket p50 %.2f ms, p99 %.2f ms (target < 100 ms) | reference in-process bus p50 %.3f ms, p99 %.3f ms | server CPU %.0f%%, RSS %.0f MB (target < 200 MB)\n",
		*runs, median(p50s), median(p99s), median(ref50s), median(ref99s), median(cpus), median(rsss))
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(float64(len(v))*p))]
}

type result struct {
	got, want                        int
	p50, p99, ref50, ref99, cpu, rss float64
}

func run(clients, n int, every time.Duration) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-serve", "-clients", strconv.Itoa(clients)) // #nosec G204 G702 -- the benchmark runs its own binary as the server
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
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/ws"

	var mu sync.Mutex
	var lat []float64
	var wg, ready sync.WaitGroup
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	conns := make([]*websocket.Conn, 0, clients)
	for range clients {
		c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
		c.SetReadLimit(1 << 20)
		conns = append(conns, c)
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","topics":["metrics"]}`)); err != nil {
			return nil, err
		}
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			subscribed := false
			for got := 0; got < n; {
				_, b, err := c.Read(ctx)
				at := time.Now()
				if err != nil {
					if !subscribed {
						ready.Done()
					}
					return
				}
				// Only the head matters: read "time" without decoding the
				// data, so the clients' own CPU does not dominate the figures.
				ts, ok := eventTime(b)
				if !ok {
					subscribed = true
					ready.Done()
					continue
				}
				got++
				mu.Lock()
				lat = append(lat, float64(at.Sub(ts).Microseconds())/1000)
				mu.Unlock()
			}
		}()
	}
	ready.Wait()
	pid := cmd.Process.Pid
	cpu0, t0 := cpuTicks(pid), time.Now()
	fmt.Fprintf(stdin, "publish %d %s\n", n, every)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(n)*every + 30*time.Second):
	}
	cpu1, t1 := cpuTicks(pid), time.Now()
	rss := peakRSS(pid)
	if !out.Scan() {
		return nil, fmt.Errorf("server gave no reference")
	}
	var ref50, ref99 float64
	if _, err := fmt.Sscan(out.Text(), &ref50, &ref99); err != nil {
		return nil, fmt.Errorf("server gave reference %q: %w", out.Text(), err)
	}
	for _, c := range conns {
		_ = c.CloseNow()
	}
	r := &result{got: len(lat), want: n * clients, p50: pct(lat, 0.5), p99: pct(lat, 0.99), ref50: ref50, ref99: ref99,
		cpu: 100 * float64(cpu1-cpu0) / 100 / t1.Sub(t0).Seconds(), rss: rss}
	return r, nil
}

// eventTime finds an event's "time" (replies have none).
func eventTime(b []byte) (time.Time, bool) {
	i := bytes.Index(b, []byte(`"time":"`))
	if i < 0 || !bytes.HasPrefix(b, []byte(`{"topic"`)) {
		return time.Time{}, false
	}
	b = b[i+8:]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:j]))
	return t, err == nil
}

// cpuTicks is utime+stime of pid in clock ticks (100 per second on Linux).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// peakRSS is VmHWM of pid in MB.
func peakRSS(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// server runs berth's stack as cmd/berth/serve.go wires it, prints
// "<url> <token>", publishes ticks on request and answers with the
// in-process bus latency.
func server(clients int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-ws-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	sealer, err := secret.NewSealer(secret.DeriveKey(key, "seal"))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, filepath.Join(dir, "berth.db"), sealer)
	if err != nil {
		return err
	}
	defer st.Close()
	rt, err := local.New(local.Config{DataDir: filepath.Join(dir, "local")})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	bus := events.NewLocal()
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Events: bus})
	if err != nil {
		return err
	}
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: secret.DeriveKey(key, "jwt"), TTL: time.Hour}}
	if _, err := acc.Bootstrap(ctx, "bench-password-1"); err != nil {
		return err
	}
	token, _, _, err := acc.Login(ctx, "admin", "bench-password-1")
	if err != nil {
		return err
	}
	// Every bench client is the admin: the per-user cap must not be what is measured.
	hub := wshub.New(wshub.Config{Source: bus, Tickets: st, Logs: httpapi.FollowLogs(c), MaxClients: clients + 10, MaxPerUser: clients + 10})
	api := httpapi.NewServer(httpapi.Deps{Core: c, Accounts: acc, Audit: st, Events: bus, Hub: hub, Version: "bench", Started: time.Now()})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(api.CloseStreams)
	ln, err := netListen()
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Printf("http://%s %s\n", ln.Addr(), token)

	// A tick of ten services with two replicas each, as the sampler publishes.
	tick := metrics.Tick{}
	for i := range 10 {
		s := metrics.ServiceSample{Target: "local", Name: fmt.Sprintf("svc-%d", i), Values: map[string]float64{"cpu": 0.25, "memory": 1.5e8, "ready_replicas": 2, "desired_replicas": 2}}
		for r := range 2 {
			s.Replicas = append(s.Replicas, metrics.ReplicaSample{Name: fmt.Sprintf("svc-%d-%d", i, r), Values: map[string]float64{"cpu": 0.12, "memory": 7.5e7}})
		}
		tick.Services = append(tick.Services, s)
	}
	ref := bus.Subscribe(4096)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var n int
		var every time.Duration
		f := strings.Fields(in.Text())
		if len(f) != 3 || f[0] != "publish" {
			continue
		}
		n, _ = strconv.Atoi(f[1])
		every, _ = time.ParseDuration(f[2])
		var lat []float64
		for range n {
			now := time.Now()
			tick.Time = now
			bus.Publish(ctx, berth.Event{Topic: "metrics", Type: "metric.tick", Time: now, Data: tick})
			e := <-ref.C
			lat = append(lat, float64(time.Since(e.Time).Nanoseconds())/1e6)
			time.Sleep(every) // the publish rate under test, not a wait for a condition
		}
		fmt.Printf("%f %f\n", pct(lat, 0.5), pct(lat, 0.99))
	}
	return nil
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
