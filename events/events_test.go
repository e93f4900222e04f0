package events_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/events"
	"github.com/berthhq/berth/internal/pgtest"
)

// TestMain doubles as the second berth process of the cross-process test:
// re-executed with BERTH_EVENTS_CHILD set, it runs child instead of the tests.
func TestMain(m *testing.M) {
	if url := os.Getenv("BERTH_EVENTS_CHILD"); url != "" {
		run := child
		if os.Getenv("BERTH_EVENTS_CHILD_WAIT") != "" {
			run = waitingChild
		}
		if err := run(url); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

// child listens, says "ready", answers the parent's ping with a small and a
// big event (over NOTIFY's 8000-byte limit) and exits.
func child(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bus, err := events.NewPostgres(ctx, url, nil)
	if err != nil {
		return err
	}
	defer bus.Close()
	sub := bus.Subscribe(16)
	fmt.Println("ready")
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-sub.C:
			if e.Type != "ping" {
				continue
			}
			bus.Publish(ctx, berth.Event{Topic: "services", Type: "pong", Data: map[string]string{"from": "child"}})
			bus.Publish(ctx, berth.Event{Topic: "metrics", Type: "pong.big", Owner: "u-1", Data: strings.Repeat("x", 20000)})
			return nil // Close sends what is queued
		}
	}
}

// waitingChild listens, says "ready" and waits: SIGTERM closes its bus
// cleanly (a replica's graceful stop), SIGKILL is a crash.
func waitingChild(url string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	bus, err := events.NewPostgres(ctx, url, nil)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	return bus.Close()
}

// startChild runs this test binary as another berth process (TestMain's
// child, with env added) and returns once it says it is listening.
func startChild(ctx context.Context, t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("child said %q, %v", line, err)
	}
	return cmd
}

func recv(t *testing.T, sub *events.Subscription, d time.Duration) berth.Event {
	t.Helper()
	select {
	case e, ok := <-sub.C:
		if !ok {
			t.Fatal("subscription closed")
		}
		return e
	case <-time.After(d):
		t.Fatalf("no event within %s", d)
	}
	return berth.Event{}
}

func TestLocalBus(t *testing.T) {
	bus := events.NewLocal()
	defer bus.Close()
	a, b := bus.Subscribe(4), bus.Subscribe(1)
	type payload struct{ N int }
	p := &payload{N: 1}
	bus.Publish(context.Background(), berth.Event{Topic: "services", Type: "service.updated", Data: p})
	p.N = 2 // the event keeps what was published
	for _, sub := range []*events.Subscription{a, b} {
		e := recv(t, sub, time.Second)
		if e.Time.IsZero() || e.Topic != "services" {
			t.Fatalf("event = %+v", e)
		}
		if raw, _ := json.Marshal(e.Data); string(raw) != `{"N":1}` {
			t.Fatalf("data = %s, want {\"N\":1}", raw)
		}
	}
	// b has room for one event: the second is dropped, a publisher never waits.
	done := make(chan struct{})
	go func() {
		for i := range 3 {
			bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: i})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a full subscriber")
	}
	if got := b.Dropped(); got != 2 {
		t.Fatalf("b dropped %d, want 2", got)
	}
	for i := range 3 {
		if e := recv(t, a, time.Second); string(e.Data.(json.RawMessage)) != fmt.Sprint(i) {
			t.Fatalf("a got %s, want %d", e.Data, i)
		}
	}
	a.Close()
	if _, ok := <-a.C; ok {
		t.Fatal("closed subscription still delivers")
	}
	bus.Close()
	<-b.C // the one event it had room for
	if _, ok := <-b.C; ok {
		t.Fatal("closing the bus left a subscription open")
	}
}

// TestPostgresTwoProcesses runs a second process on the same database: each
// sees the other's events, big ones included, and not its own twice.
func TestPostgresTwoProcesses(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bus, err := events.NewPostgres(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	sub := bus.Subscribe(64)

	cmd := startChild(ctx, t, "BERTH_EVENTS_CHILD="+url)
	defer cmd.Wait()

	bus.Publish(ctx, berth.Event{Topic: "services", Type: "ping"})
	if e := recv(t, sub, time.Second); e.Type != "ping" {
		t.Fatalf("own event delivered as %q first", e.Type)
	}
	got := map[string]berth.Event{}
	for len(got) < 2 {
		e := recv(t, sub, 20*time.Second)
		if e.Type == "ping" {
			t.Fatal("own event delivered twice (once back from NOTIFY)")
		}
		got[e.Type] = e
	}
	if raw, _ := json.Marshal(got["pong"].Data); string(raw) != `{"from":"child"}` {
		t.Fatalf("pong data = %s", raw)
	}
	big := got["pong.big"]
	var s string
	if err := json.Unmarshal(big.Data.(json.RawMessage), &s); err != nil || len(s) != 20000 || big.Owner != "u-1" || big.Topic != "metrics" {
		t.Fatalf("big event = topic %q owner %q data %d bytes, %v", big.Topic, big.Owner, len(s), err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// TestPostgresReconnect kills the listener's backend: the bus reconnects and
// events flow again.
func TestPostgresReconnect(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recvBus, err := events.NewPostgres(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer recvBus.Close()
	sendBus, err := events.NewPostgres(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sendBus.Close()
	sub := recvBus.Subscribe(64)

	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var killed int
	if err := db.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, events.ListenerName).Scan(&killed); err != nil || killed != 2 {
		t.Fatalf("terminated %d listeners, %v; want 2", killed, err)
	}
	// Events notified while a listener is down are lost: publish until one
	// arrives. Before it, subscribers hear that they may have missed some.
	deadline := time.Now().Add(30 * time.Second)
	resync := false
	for i := 0; ; i++ {
		sendBus.Publish(ctx, berth.Event{Topic: "audit", Type: "after.reconnect", Data: i})
		select {
		case e := <-sub.C:
			if e.Topic == berth.TopicResync {
				// The other process's listener vanished too: a peer-lost
				// resync may come besides this process's own.
				resync = resync || e.Type == berth.EventsReconnected
				continue
			}
			if e.Type != "after.reconnect" {
				t.Fatalf("got %q", e.Type)
			}
			if recvBus.Reconnects() < 1 {
				t.Fatal("event arrived but no reconnect was counted")
			}
			if !resync {
				t.Fatal("events flow again, but no resync event told subscribers that some were lost")
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event after killing the listener (reconnects: %d)", recvBus.Reconnects())
		}
	}
}

// TestPostgresPeerLost: a process that stops cleanly says goodbye and the
// others' subscribers carry on; one that is killed (its queued events are
// lost with it) makes them resync once its heartbeats stop.
func TestPostgresPeerLost(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func() *exec.Cmd { return startChild(ctx, t, "BERTH_EVENTS_CHILD="+url, "BERTH_EVENTS_CHILD_WAIT=1") }
	// The children are older than this process's bus: a replica started
	// after the others still watches them.
	graceful, crashing := start(), start()
	bus, err := events.NewPostgres(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	sub := bus.Subscribe(64)
	time.Sleep(3 * time.Second) // both children's heartbeats were heard

	if err := graceful.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := graceful.Wait(); err != nil {
		t.Fatalf("graceful child: %v", err)
	}
	// A previous release beside this one (rolling upgrade) sends events
	// but no heartbeats: it is not watched, so its silence is no crash.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, events.Channel,
		`{"n":"previous-release","e":{"topic":"services","type":"service.updated","time":"2026-12-03T00:00:00Z","data":{}}}`); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, sub, 5*time.Second); e.Type != "service.updated" {
		t.Fatalf("the previous release's event arrived as %s %s", e.Topic, e.Type)
	}
	select {
	case e := <-sub.C:
		t.Fatalf("after a clean stop and an old release's event: %s %s %v", e.Topic, e.Type, e.Data)
	case <-time.After(9 * time.Second): // past the silence that counts as lost
	}

	if err := crashing.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = crashing.Wait()
	killed := time.Now()
	e := recv(t, sub, 15*time.Second)
	if e.Topic != berth.TopicResync || e.Type != berth.EventsPeerLost || bus.PeersLost() != 1 {
		t.Fatalf("after a crash: %s %s %v (peers lost %d), want a resync", e.Topic, e.Type, e.Data, bus.PeersLost())
	}
	t.Logf("resync %s after the kill", time.Since(killed).Round(time.Millisecond))
}
