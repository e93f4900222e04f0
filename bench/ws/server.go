package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
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
)

// server runs berth's stack as cmd/berth/serve.go wires it, prints
// "<url> <token>", then serves commands on stdin:
//
//	publish <n> <every>  publish n metric ticks, answer "<bus p50> <bus p99>"
//	                     (the in-process bus latency, the same-run reference)
//	stop                 end the CPU profile (-cpuprofile), write a heap profile
//	                     beside it, answer with the stacks' and heap's sizes
func server(clients int, profile string) error {
	if err := raiseNoFile(clients); err != nil {
		return err
	}
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Printf("http://%s %s\n", ln.Addr(), token)

	tick := benchTick()
	ref := bus.Subscribe(4096)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 3 && f[0] == "publish":
			n, _ := strconv.Atoi(f[1])
			every, _ := time.ParseDuration(f[2])
			if profile != "" {
				if err := startProfile(profile); err != nil {
					return err
				}
			}
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
		case len(f) == 1 && f[0] == "stop":
			pprof.StopCPUProfile()
			if err := writeHeap(strings.TrimSuffix(profile, ".pprof") + ".heap"); err != nil {
				return err
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Printf("stacks %.0f MB, heap in use %.0f MB, goroutines %d\n", float64(m.StackInuse)/(1<<20), float64(m.HeapInuse)/(1<<20), runtime.NumGoroutine())
		}
	}
	return nil
}

func writeHeap(path string) error {
	f, err := os.Create(path) // #nosec G304 -- the benchmark's own -cpuprofile flag
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

func startProfile(path string) error {
	f, err := os.Create(path) // #nosec G304 -- the benchmark's own -cpuprofile flag
	if err != nil {
		return err
	}
	return pprof.StartCPUProfile(f)
}

// benchTick is a tick of ten services with two replicas each, as the
// sampler publishes it (about 2 KB of JSON).
func benchTick() metrics.Tick {
	tick := metrics.Tick{}
	for i := range 10 {
		s := metrics.ServiceSample{Target: "local", Name: fmt.Sprintf("svc-%d", i), Values: map[string]float64{"cpu": 0.25, "memory": 1.5e8, "ready_replicas": 2, "desired_replicas": 2}}
		for r := range 2 {
			s.Replicas = append(s.Replicas, metrics.ReplicaSample{Name: fmt.Sprintf("svc-%d-%d", i, r), Values: map[string]float64{"cpu": 0.12, "memory": 7.5e7}})
		}
		tick.Services = append(tick.Services, s)
	}
	return tick
}
