package core

import (
	"context"
	"sync"
	"time"
)

// Probe is the answer of one dependency (the store or a target) to a ping.
type Probe struct {
	Name     string // the store's kind ("sqlite", "postgres") or the target's name
	Provider string // of a target
	Region   string
	Default  bool
	Latency  time.Duration
	Err      error // nil: reachable
}

// Probe pings the store and every target in parallel, for /readyz and
// /api/v1/status. It reads no one's data, so it needs no actor (an
// exception to the actor rule, as Targets is).
func (c *Core) Probe(ctx context.Context) (store Probe, targets []Probe) {
	store.Name = "store"
	if k, ok := c.store.(interface{ Kind() string }); ok {
		store.Name = k.Kind()
	}
	infos := c.Targets()
	targets = make([]Probe, len(infos))
	var wg sync.WaitGroup
	for i, t := range infos {
		targets[i] = Probe{Name: t.Name, Provider: t.Provider, Region: t.Region, Default: t.Default}
		wg.Add(1)
		go func() { defer wg.Done(); ping(ctx, c.runtimes[t.Name].Ping, &targets[i]) }()
	}
	ping(ctx, c.store.Ping, &store)
	wg.Wait()
	return store, targets
}

func ping(ctx context.Context, fn func(context.Context) error, p *Probe) {
	start := time.Now()
	p.Err = fn(ctx)
	p.Latency = time.Since(start)
}
