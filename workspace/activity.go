package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// activity tracks IDE use: the time of the last request and the open
// connections that have carried at least one IDE request (health probes
// alone do not make a connection "active").
type activity struct {
	mu   sync.Mutex
	last time.Time
	ide  map[net.Conn]struct{}
}

func newActivity() *activity { return &activity{ide: make(map[net.Conn]struct{})} }

type connKey struct{}

func (a *activity) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func (a *activity) connState(c net.Conn, s http.ConnState) {
	if s == http.StateClosed || s == http.StateHijacked {
		a.mu.Lock()
		delete(a.ide, c)
		a.mu.Unlock()
	}
}

// closeAll forgets every connection (the server has shut down).
func (a *activity) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.ide)
}

// touch records an IDE request on the connection carried by ctx.
func (a *activity) touch(ctx context.Context, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = now
	if c, ok := ctx.Value(connKey{}).(net.Conn); ok {
		a.ide[c] = struct{}{}
	}
}

func (a *activity) snapshot() snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := snapshot{ActiveIDEConnections: len(a.ide)}
	if !a.last.IsZero() {
		t := a.last.UTC()
		s.LastIDEActivity = &t
	}
	return s
}

// snapshot and report are the body of POST /api/v1/environments/{id}/activity.
// lastSSHActivity is always sent as null: this server has no SSH.
type snapshot struct {
	LastIDEActivity      *time.Time `json:"lastIDEActivity,omitempty"`
	LastSSHActivity      *time.Time `json:"lastSSHActivity"`
	ActiveIDEConnections int        `json:"activeIDEConnections"`
	ActiveSSHConnections int        `json:"activeSSHConnections"`
}

type report struct {
	Snapshot  snapshot  `json:"snapshot"`
	Timestamp time.Time `json:"timestamp"`
}

type reporter struct {
	cfg Config
	act *activity
}

// loop reports shortly after start and then every ReportEvery until ctx is done.
func (r *reporter) loop(ctx context.Context) {
	t := time.NewTimer(min(firstReport, r.cfg.ReportEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.report(ctx)
			t.Reset(r.cfg.ReportEvery)
		}
	}
}

// report sends one snapshot; failures are logged and the next tick retries.
func (r *reporter) report(ctx context.Context) {
	if err := r.send(ctx); err != nil && ctx.Err() == nil {
		r.cfg.Logger.Warn("report activity", "err", err)
	}
}

func (r *reporter) send(ctx context.Context) error {
	body, err := json.Marshal(report{Snapshot: r.act.snapshot(), Timestamp: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("encode activity: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.ActivityURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post activity: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if r.cfg.ActivityToken != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.ActivityToken)
	}
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post activity: %w", err) // *url.Error: URL and cause, never headers
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post activity: %s", resp.Status)
	}
	return nil
}
