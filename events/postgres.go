package events

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Channel is the NOTIFY channel berth processes share.
const Channel = "berth_events"

// maxInline is the largest envelope sent as the NOTIFY payload itself;
// PostgreSQL refuses payloads of 8000 bytes or more, so bigger events go
// into a table and only their id is notified.
const maxInline = 7900

// ListenerName is the application_name of the LISTEN connection (so an
// operator, or a test, can find it in pg_stat_activity).
const ListenerName = "berth-events-listener"

// envelope is what travels in a notification: the sending process and
// either the event or the id of its row in berth_event_payloads.
type envelope struct {
	Node  string     `json:"n"`
	Event *wireEvent `json:"e,omitempty"`
	ID    int64      `json:"id,omitempty"`
	// Beat says the sending process is alive (every peerBeat); Bye that it
	// closes cleanly, after it sent everything it had queued.
	Beat bool `json:"beat,omitempty"`
	Bye  bool `json:"bye,omitempty"`
}

// peerBeat is how often a process tells the others it is alive; one not
// heard from for peerLost is taken for dead (see watchPeers).
const (
	peerBeat = 2 * time.Second
	peerLost = 3 * peerBeat
)

// wireEvent is berth.Event with Data kept as JSON, so a received event
// encodes to exactly what was published.
type wireEvent struct {
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Time  time.Time       `json:"time"`
	Owner string          `json:"owner,omitempty"`
	Data  json.RawMessage `json:"data"`
}

func (w *wireEvent) event() berth.Event {
	return berth.Event{Topic: w.Topic, Type: w.Type, Time: w.Time, Owner: w.Owner, Data: w.Data}
}

// Postgres is a Local bus whose events also reach every other berth process
// on the same database. Each process delivers its own events directly and
// ignores its own notifications.
type Postgres struct {
	*Local
	url  string
	node string
	db   *sql.DB
	log  *slog.Logger
	out  chan []byte

	cancel     context.CancelFunc
	stopping   chan struct{} // closed by Close: the sender drains, then returns
	sending    sync.WaitGroup
	listening  sync.WaitGroup
	reconnects atomic.Int64
	sentBig    atomic.Int64
	peersLost  atomic.Int64
	closeOnce  sync.Once

	linked  atomic.Bool   // the listener is connected
	beatNow chan struct{} // a newcomer beat: answer it at once
	peersMu sync.Mutex
	peers   map[string]time.Time // other processes that beat: when last heard from
}

var _ Bus = (*Postgres)(nil)

// NewPostgres connects to the database at url, creates the payload table
// when missing and returns once the process is listening.
func NewPostgres(ctx context.Context, url string, logger *slog.Logger) (*Postgres, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open event bus: %w", err)
	}
	db.SetMaxOpenConns(2)
	if err := ensureTable(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Postgres{Local: NewLocal(), url: url, node: hex.EncodeToString(id), db: db,
		log: logger.With("component", "events"), out: make(chan []byte, 4096), cancel: cancel, stopping: make(chan struct{}),
		peers: map[string]time.Time{}, beatNow: make(chan struct{}, 1)}

	ready := make(chan error, 1)
	p.listening.Add(1)
	p.sending.Add(1)
	go p.listen(loopCtx, ready) // #nosec G118 -- the listener outlives New's ctx by design; Close cancels loopCtx
	go p.send(loopCtx)
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("listen for events: %w", err)
	}
	// Listening first: the answers to this process's first beat reach it.
	p.listening.Add(1)
	go p.watchPeers(loopCtx)
	return p, nil
}

func ensureTable(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create event payload table: %w", err)
	}
	defer tx.Rollback()
	// Two processes starting at once would race on CREATE TABLE IF NOT EXISTS.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316800001)`); err != nil {
		return fmt.Errorf("create event payload table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS berth_event_payloads (
		id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create event payload table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create event payload table: %w", err)
	}
	return nil
}

// Kind is "postgres".
func (p *Postgres) Kind() string { return "postgres" }

// Reconnects counts how often the listener connection was re-established.
func (p *Postgres) Reconnects() int64 { return p.reconnects.Load() }

// PeersLost counts the other processes that fell silent without a goodbye
// (each time, subscribers here were told to resync).
func (p *Postgres) PeersLost() int64 { return p.peersLost.Load() }

// Publish delivers e here at once and queues it for the other processes;
// when the queue is full the event stays local and a warning is logged.
func (p *Postgres) Publish(_ context.Context, e berth.Event) {
	e, ok := normalize(e, p.now)
	if !ok {
		p.log.Error("publish event: data cannot be encoded", "topic", e.Topic, "type", e.Type)
		return
	}
	p.deliver(e)
	msg, err := json.Marshal(envelope{Node: p.node, Event: &wireEvent{Topic: e.Topic, Type: e.Type, Time: e.Time,
		Owner: e.Owner, Data: e.Data.(json.RawMessage)}})
	if err != nil {
		return
	}
	select {
	case p.out <- msg:
	default:
		p.log.Warn("event queue to other berth processes is full: event kept local", "topic", e.Topic, "type", e.Type)
	}
}

// send notifies queued events in publish order over one connection.
func (p *Postgres) send(ctx context.Context) {
	defer p.sending.Done()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stopping:
			// What was published before Close still reaches the others.
			drainCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			for {
				select {
				case msg := <-p.out:
					if err := p.notify(drainCtx, msg); err != nil {
						p.log.Warn("notify event on close", "err", err)
						return
					}
				default:
					// Everything is sent: the others need not resync when
					// this listener goes.
					bye, _ := json.Marshal(envelope{Node: p.node, Bye: true})
					if err := p.notify(drainCtx, bye); err != nil {
						p.log.Warn("notify goodbye on close", "err", err)
					}
					return
				}
			}
		case <-prune.C:
			// Readers fetch a payload right after its notification; ten minutes is ample.
			if _, err := p.db.ExecContext(ctx, `DELETE FROM berth_event_payloads WHERE created_at < now() - interval '10 minutes'`); err != nil && ctx.Err() == nil {
				p.log.Warn("prune event payloads", "err", err)
			}
		case msg := <-p.out:
			for attempt := 0; attempt < 3; attempt++ {
				err := p.notify(ctx, msg)
				if err == nil || ctx.Err() != nil {
					break
				}
				p.log.Warn("notify event", "attempt", attempt+1, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
				}
			}
		}
	}
}

func (p *Postgres) notify(ctx context.Context, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if len(msg) > maxInline {
		var id int64
		if err := p.db.QueryRowContext(ctx, `INSERT INTO berth_event_payloads (payload) VALUES ($1) RETURNING id`, string(msg)).Scan(&id); err != nil {
			return fmt.Errorf("store event payload: %w", err)
		}
		p.sentBig.Add(1)
		msg, _ = json.Marshal(envelope{Node: p.node, ID: id})
	}
	if _, err := p.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, Channel, string(msg)); err != nil {
		return fmt.Errorf("notify %s: %w", Channel, err)
	}
	return nil
}

// listen holds the LISTEN connection and re-establishes it, with backoff,
// whenever it is lost. Events notified while it was down are lost; a
// TopicResync event after the reconnect says so.
func (p *Postgres) listen(ctx context.Context, ready chan<- error) {
	defer p.listening.Done()
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		conn, err := p.connect(ctx)
		if err != nil {
			if first {
				ready <- err
				return
			}
			p.log.Warn("event listener: reconnect", "err", err, "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		if first {
			ready <- nil
			first = false
		} else {
			// The others were not heard while this listener was down: they
			// get a fresh grace, and this reconnect's resync covers the gap.
			p.peersMu.Lock()
			for node := range p.peers {
				p.peers[node] = time.Now()
			}
			p.peersMu.Unlock()
			p.reconnects.Add(1)
			p.log.Info("event listener reconnected")
			// What the others notified meanwhile is gone: tell subscribers
			// to re-read instead of showing a stale picture.
			p.deliver(berth.Event{Topic: berth.TopicResync, Type: berth.EventsReconnected, Time: time.Now(),
				Data: map[string]string{"reason": "this replica lost its link to the other replicas; events may have been missed"}})
		}
		backoff = 100 * time.Millisecond
		p.linked.Store(true)
		err = p.receive(ctx, conn)
		p.linked.Store(false)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		if ctx.Err() == nil {
			p.log.Warn("event listener connection lost", "err", err)
		}
	}
}

func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.RuntimeParams["application_name"] = ListenerName
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+Channel); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (p *Postgres) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var env envelope
		if err := json.Unmarshal([]byte(n.Payload), &env); err != nil {
			p.log.Warn("event listener: undecodable notification", "err", err)
			continue
		}
		if env.Node == p.node {
			continue
		}
		// Only processes that beat are watched: a previous release beside
		// this one during a rolling upgrade never does, and would look dead
		// after each event it sends.
		p.peersMu.Lock()
		_, watched := p.peers[env.Node]
		if env.Beat || watched {
			p.peers[env.Node] = time.Now()
		}
		if env.Beat && !watched {
			select {
			case p.beatNow <- struct{}{}:
			default:
			}
		}
		if env.Bye {
			delete(p.peers, env.Node)
		}
		p.peersMu.Unlock()
		if env.Beat || env.Bye {
			continue
		}
		if env.Event == nil && env.ID != 0 {
			if env.Event, err = p.fetch(ctx, conn, env.ID); err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				p.log.Warn("event listener: fetch payload", "id", env.ID, "err", err)
				continue
			}
		}
		if env.Event != nil {
			p.deliver(env.Event.event())
		}
	}
}

// watchPeers says this process is alive every peerBeat, and tells
// subscribers to resync when another process falls silent for peerLost
// without a goodbye: it was killed, or lost the database, and the events
// it published but had not notified yet (they go out after its own
// delivery) are lost to every other process. A process that closes cleanly
// sends its queue, then a goodbye, and is not reported. Beats go over
// NOTIFY like events, so this needs nothing of PostgreSQL but the channel.
func (p *Postgres) watchPeers(ctx context.Context) {
	defer p.listening.Done()
	tick := time.NewTicker(peerBeat)
	defer tick.Stop()
	beat, _ := json.Marshal(envelope{Node: p.node, Beat: true})
	// The first beat goes at once, and a beat from a process not heard
	// before is answered at once (beatNow): a newcomer learns of the
	// others without waiting a period, so one killed in its first seconds
	// is watched too.
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-p.stopping:
				return // the goodbye follows the queue
			case <-tick.C:
			case <-p.beatNow:
			}
		}
		if err := p.notify(ctx, beat); err != nil && ctx.Err() == nil {
			p.log.Warn("notify heartbeat", "err", err)
		}
		if !p.linked.Load() {
			continue // nothing is heard meanwhile; the reconnect resyncs
		}
		var lost []string
		now := time.Now()
		p.peersMu.Lock()
		for node, seen := range p.peers {
			if now.Sub(seen) > peerLost {
				lost = append(lost, node)
				delete(p.peers, node)
			}
		}
		p.peersMu.Unlock()
		if len(lost) > 0 {
			p.peersLost.Add(int64(len(lost)))
			p.log.Warn("another berth process fell silent without a goodbye: subscribers resync", "processes", lost)
			p.deliver(berth.Event{Topic: berth.TopicResync, Type: berth.EventsPeerLost, Time: now,
				Data: map[string]string{"reason": "another replica stopped abruptly; events it had not sent yet may be lost"}})
		}
	}
}

func (p *Postgres) fetch(ctx context.Context, conn *pgx.Conn, id int64) (*wireEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var payload string
	if err := conn.QueryRow(ctx, `SELECT payload FROM berth_event_payloads WHERE id = $1`, id).Scan(&payload); err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal([]byte(payload), &env); err != nil || env.Event == nil {
		return nil, fmt.Errorf("decode event payload %d: %v", id, err)
	}
	return env.Event, nil
}

// Close sends what is still queued (for up to 3 s), stops listening and
// ends every subscription.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		close(p.stopping)
		p.sending.Wait()
		p.cancel()
		p.listening.Wait()
		_ = p.db.Close()
		_ = p.Local.Close()
	})
	return nil
}

// Open returns the bus for a store of kind "postgres" (LISTEN/NOTIFY on url)
// or any other kind (in-process).
func Open(ctx context.Context, storeKind, url string, logger *slog.Logger) (Bus, error) {
	if storeKind == "postgres" {
		return NewPostgres(ctx, url, logger)
	}
	return NewLocal(), nil
}
