package wshub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/events"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
	"github.com/coder/websocket"
)

// fanout is a hub on a real bus and store behind a real HTTP server; every
// connection is an admin.
type fanout struct {
	hub *Hub
	bus *events.Local
	url string
}

func newFanout(t *testing.T, cfg Config) *fanout {
	t.Helper()
	bus := events.NewLocal()
	cfg.Source, cfg.Tickets = bus, storetest.Open(t, store.SQLite, nil)
	if cfg.MaxPerUser == 0 {
		cfg.MaxPerUser = 100
	}
	h := New(cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.Serve(w, r, berth.Actor{UserID: "u-admin", Username: "admin", Role: berth.RoleAdmin}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(func() { h.Close(); srv.Close(); _ = bus.Close() })
	return &fanout{hub: h, bus: bus, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

// smallReceiveBuffer is a dial option: a 64 KB socket receive buffer.
var smallReceiveBuffer = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
	DialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) // #nosec G115 -- a file descriptor
		}); cerr != nil {
			return cerr
		}
		return err
	}}).DialContext,
}}}

// dial connects and subscribes to topics, and returns once the hub said so.
func (f *fanout) dial(t *testing.T, topics ...string) *websocket.Conn {
	t.Helper()
	return f.dialWith(t, nil, topics...)
}

func (f *fanout) dialWith(t *testing.T, opts *websocket.DialOptions, topics ...string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Short)
	defer cancel()
	c, _, err := websocket.Dial(ctx, f.url, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	cmd := fmt.Sprintf(`{"action":"subscribe","topics":["%s"]}`, strings.Join(topics, `","`))
	if err := c.Write(ctx, websocket.MessageText, []byte(cmd)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || !bytes.HasPrefix(b, []byte(`{"type":"subscribed"`)) {
		t.Fatalf("subscribe answered %q, %v", b, err)
	}
	return c
}

func read(t *testing.T, c *websocket.Conn) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Short)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDispatchEncodesOnce: an event is encoded once whatever the number of
// clients, every subscriber gets the same bytes, and clients of other
// topics (or that unsubscribed) get nothing.
func TestDispatchEncodesOnce(t *testing.T) {
	f := newFanout(t, Config{})
	var metrics []*websocket.Conn
	for range 30 {
		metrics = append(metrics, f.dial(t, "metrics"))
	}
	others := []*websocket.Conn{f.dial(t, "services"), f.dial(t, "services")}
	gone := f.dial(t, "metrics", "services")
	if err := gone.Write(context.Background(), websocket.MessageText, []byte(`{"action":"unsubscribe","topics":["metrics"]}`)); err != nil {
		t.Fatal(err)
	}
	if b := read(t, gone); !bytes.HasPrefix(b, []byte(`{"type":"unsubscribed"`)) {
		t.Fatalf("unsubscribe answered %s", b)
	}
	before := f.hub.encoded.Load()
	for i := range 5 {
		f.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: map[string]int{"i": i}})
	}
	f.bus.Publish(context.Background(), berth.Event{Topic: "services", Type: "marker"})
	for i := range 5 {
		var first []byte
		for n, c := range metrics {
			b := read(t, c)
			if !bytes.Contains(b, fmt.Appendf(nil, `"data":{"i":%d}`, i)) {
				t.Fatalf("client %d: event %d is %s", n, i, b)
			}
			if first == nil {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Fatalf("client %d got other bytes than client 0:\n%s\n%s", n, b, first)
			}
		}
	}
	// Subscribers of services (and the one that left metrics) see the
	// marker first: no metrics event reached them.
	for n, c := range append(others, gone) {
		if b := read(t, c); !bytes.Contains(b, []byte(`"type":"marker"`)) {
			t.Fatalf("services client %d got %s before the marker", n, b)
		}
	}
	if got := f.hub.encoded.Load() - before; got != 6 {
		t.Fatalf("6 events to %d clients were encoded %d times, want 6", len(metrics)+3, got)
	}
}

// TestSlowClientDroppedOnce: a client that stops reading is dropped once
// its queue is full — counted once, however many events found the queue
// full, and told with 1008 to reconnect (the dashboard then re-reads) —
// while a reading client gets every event, each before the next is sent.
func TestSlowClientDroppedOnce(t *testing.T) {
	f := newFanout(t, Config{QueueSize: 4})
	fast, slow := f.dial(t, "metrics"), f.dial(t, "metrics")
	pad := strings.Repeat("x", 64<<10) // fills the slow client's socket buffers fast
	// Until the drop and 20 events more, each event once the fast client
	// has the previous one. The slow client reads soon after: the close
	// frame waits (5 s at most) behind the write its full socket blocks.
	for i, extra := 0, 0; extra < 20; i++ {
		if i == 2000 {
			t.Fatal("slow client never dropped")
		}
		if f.hub.Dropped() > 0 {
			extra++
		}
		f.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: map[string]any{"i": i, "pad": pad}})
		if b := read(t, fast); !bytes.Contains(b, fmt.Appendf(nil, `"i":%d,`, i)) {
			t.Fatalf("fast client: event %d is %.80s", i, b)
		}
	}
	if d := f.hub.Dropped(); d != 1 {
		t.Fatalf("dropped %d, want 1", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Process)
	defer cancel()
	for {
		_, _, err := slow.Read(ctx)
		if err == nil {
			continue // what was buffered before the close frame
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "reconnect") {
			t.Fatalf("slow client ended with %v, want 1008 telling it to reconnect", err)
		}
		break
	}
	testutil.Eventually(t, testutil.Short, "the slow client to be gone", func() (bool, string) {
		return f.hub.Clients() == 1, fmt.Sprintf("%d clients", f.hub.Clients())
	})
}

// TestWriteTimeout: a client whose queue is not full but whose socket
// stays full (it stopped reading) is closed by the watchdog after
// WriteTimeout, though no write has a deadline of its own.
func TestWriteTimeout(t *testing.T) {
	f := newFanout(t, Config{QueueSize: 1000, WriteTimeout: 300 * time.Millisecond})
	stuck := f.dial(t, "metrics")
	pad := strings.Repeat("x", 1<<20)
	for i := range 40 { // 40 MB: more than the loopback socket buffers hold
		f.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: map[string]any{"i": i, "pad": pad}})
	}
	testutil.Eventually(t, testutil.Process, "the stuck client to be closed", func() (bool, string) {
		return f.hub.Clients() == 0, fmt.Sprintf("%d clients, %d dropped", f.hub.Clients(), f.hub.Dropped())
	})
	// From the client's side: the connection ends before all 40 arrived.
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Process)
	defer cancel()
	got := 0
	for ; ; got++ {
		if _, _, err := stuck.Read(ctx); err != nil {
			break
		}
	}
	if got >= 40 {
		t.Fatalf("the stuck client got all %d events: no write ever stalled", got)
	}
	if f.hub.Dropped() != 0 {
		t.Fatalf("a write timeout counted as %d drops (the queue never filled)", f.hub.Dropped())
	}
}

// TestIdleClientsHoldNoWriter: a writer goroutine runs only while a client
// has frames queued: idle connections cost their reader only.
func TestIdleClientsHoldNoWriter(t *testing.T) {
	f := newFanout(t, Config{})
	var cs []*websocket.Conn
	for range 20 {
		cs = append(cs, f.dial(t, "metrics"))
	}
	f.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick"})
	for _, c := range cs {
		if b := read(t, c); !bytes.Contains(b, []byte("metric.tick")) {
			t.Fatalf("got %s", b)
		}
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	testutil.Eventually(t, testutil.Short, "no goroutine of a client but its reader", func() (bool, string) {
		n := goroutines("wshub.(*client).", "wshub.(*client).readLoop(")
		return n == 0, fmt.Sprintf("%d goroutines besides the readers", n)
	})
	if d := f.hub.Dropped(); d != 0 || f.hub.Clients() != 20 {
		t.Fatalf("%d clients, %d dropped", f.hub.Clients(), d)
	}
}

// goroutines counts the goroutines whose stack holds fn but not except.
func goroutines(fn, except string) int {
	buf := make([]byte, 1<<22)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, fn) && !strings.Contains(g, except) {
			n++
		}
	}
	return n
}

// TestFramesStayWhole: the hub writes its pre-framed events itself while
// coder/websocket writes pings, pongs and the close frame on the same
// socket. Events are published to a client that does not read yet, so a
// write stops mid-frame (the socket is full) and a writer goroutine
// finishes it; right then the server pings (the library writes a frame) and
// waits 20 ms before the rest, and once the client reads it pings the
// server too. The client, which checks every frame, gets every event whole
// and in order, and every ping is answered. (Without the wire's lock the
// ping lands inside the cut frame and the client fails.)
func TestFramesStayWhole(t *testing.T) {
	f := newFanout(t, Config{PongTimeout: testutil.Process})
	serverPings := make(chan error, 100)
	f.hub.resumeHook = func(c *client) {
		go func() {
			ctx, cancel := context.WithTimeout(c.ctx, testutil.Process)
			defer cancel()
			serverPings <- c.conn.Ping(ctx)
		}()
		time.Sleep(20 * time.Millisecond)
	}
	// A small receive buffer, which the kernel then does not grow: the
	// events (9 MB) are more than it and the server's send buffer (at
	// most 4 MB here) hold.
	c := f.dialWith(t, smallReceiveBuffer, "metrics")
	c.SetReadLimit(8 << 20)
	const events = 8
	for i := range events {
		// 256 KB to 2 MB: more than the socket holds
		pad := strings.Repeat("y", 256<<10*(1+i))
		f.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: map[string]any{"i": i, "pad": pad}})
	}
	// (Publish hands the events over: the hub writes them meanwhile.)
	testutil.Eventually(t, testutil.Process, "a write to stop mid-frame", func() (bool, string) {
		return f.hub.deferred.Load() > 0, fmt.Sprintf("%d events encoded", f.hub.encoded.Load())
	})
	pings := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Process)
		defer cancel()
		for range 20 {
			if err := c.Ping(ctx); err != nil {
				pings <- err
				return
			}
		}
		pings <- nil
	}()
	for i := range events {
		b := read(t, c)
		if !bytes.Contains(b, fmt.Appendf(nil, `"i":%d,`, i)) || !bytes.HasSuffix(b, []byte(`"}}`)) {
			t.Fatalf("event %d: got %.80s…%s (%d bytes)", i, b, b[max(0, len(b)-20):], len(b))
		}
		if want := 256 << 10 * (1 + i); !bytes.Contains(b, []byte(`"pad":"`+strings.Repeat("y", want)+`"`)) {
			t.Fatalf("event %d does not hold its %d padding bytes whole", i, want)
		}
	}
	// The pings need the client's reader: read until they are answered.
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-pings:
		if err != nil {
			t.Fatalf("the client's ping: %v", err)
		}
	case <-time.After(testutil.Process):
		t.Fatal("the client's pings were not answered")
	}
	for range f.hub.deferred.Load() {
		select {
		case err := <-serverPings:
			if err != nil {
				t.Fatalf("the server's ping during a cut frame: %v", err)
			}
		case <-time.After(testutil.Process):
			t.Fatal("the server's pings were not answered")
		}
	}
	if d := f.hub.Dropped(); d != 0 {
		t.Fatalf("%d clients dropped", d)
	}
}

// TestParallelDispatchKeepsOrder: with more subscribers than one goroutine
// writes (Dispatch splits them over GOMAXPROCS), every client gets every
// event, once, in the order published.
func TestParallelDispatchKeepsOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	f := newFanout(t, Config{MaxPerUser: 1000})
	var cs []*websocket.Conn
	for range 3*minPart + 7 {
		cs = append(cs, f.dial(t, "metrics"))
	}
	const events = 10
	for i := range events {
		f.bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: map[string]int{"i": i}})
	}
	for n, c := range cs {
		for i := range events {
			if b := read(t, c); !bytes.Contains(b, fmt.Appendf(nil, `"data":{"i":%d}`, i)) {
				t.Fatalf("client %d: event %d is %s", n, i, b)
			}
		}
	}
}

// TestTLSConnection: a connection that is no socket (TLS) cannot be written
// without waiting; its frames go through a writer, and arrive in order.
func TestTLSConnection(t *testing.T) {
	bus := events.NewLocal()
	h := New(Config{Source: bus, Tickets: storetest.Open(t, store.SQLite, nil)})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.Serve(w, r, berth.Actor{UserID: "u-admin", Username: "admin", Role: berth.RoleAdmin}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(func() { h.Close(); srv.Close(); _ = bus.Close() })
	f := &fanout{hub: h, bus: bus, url: "wss" + strings.TrimPrefix(srv.URL, "https")}
	c := f.dialWith(t, &websocket.DialOptions{HTTPClient: srv.Client()}, "metrics")
	for i := range 5 {
		bus.Publish(context.Background(), berth.Event{Topic: "metrics", Type: "metric.tick", Data: map[string]int{"i": i}})
	}
	for i := range 5 {
		if b := read(t, c); !bytes.Contains(b, fmt.Appendf(nil, `"data":{"i":%d}`, i)) {
			t.Fatalf("event %d is %s", i, b)
		}
	}
	if d := h.deferred.Load(); d != 0 {
		t.Fatalf("%d frames counted as cut by a full socket on a TLS connection", d)
	}
}
