package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// subscriber is a WebSocket client on the audit topic, as the dashboard's
// ws.js: when its connection drops it reconnects (its home replica first,
// else the other) and re-reads what it shows, which is a resync; so is a
// "resync" event from the server.
type subscriber struct {
	id       int
	replicas []*replica // home first
	token    string

	mu      sync.Mutex
	seen    map[string]time.Time // audit entries' request ids → when received
	marks   []time.Time          // resyncs: (re)connections, disconnections, resync events
	connect int                  // connections made
	resyncs int                  // resync events received
}

func newSubscriber(id int, home, other *replica, token string) *subscriber {
	return &subscriber{id: id, replicas: []*replica{home, other}, token: token, seen: map[string]time.Time{}}
}

func (s *subscriber) mark(t time.Time) {
	s.mu.Lock()
	s.marks = append(s.marks, t)
	s.mu.Unlock()
}

// run keeps a subscription until ctx ends.
func (s *subscriber) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		rep := s.replicas[0]
		if i%2 == 1 {
			rep = s.replicas[1]
		}
		if err := s.session(ctx, rep); err != nil && ctx.Err() == nil {
			pause(ctx, 200*time.Millisecond) // ws.js backs off too
		}
	}
}

// session is one connection: subscribe, then read until it breaks. A
// disconnection is a resync mark: the client re-reads when it reconnects.
func (s *subscriber) session(ctx context.Context, rep *replica) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(rep.url, "http") + "/ws"
	conn, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + s.token}}})
	if err != nil {
		return err
	}
	conn.SetReadLimit(1 << 20)
	defer func() {
		_ = conn.CloseNow()
		s.mark(time.Now())
	}()
	sub, _ := json.Marshal(map[string]any{"action": "subscribe", "topics": []string{"audit"}})
	if err := conn.Write(dctx, websocket.MessageText, sub); err != nil {
		return err
	}
	subscribed := false
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			Topic, Type string
			Data        struct {
				RequestID string `json:"requestId"`
			}
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		now := time.Now()
		switch {
		case m.Topic == "" && m.Type == "subscribed" && !subscribed:
			// Subscribed: what the client shows is re-read now (ws.js emits
			// its "resync" on open).
			subscribed = true
			s.mu.Lock()
			s.connect++
			s.marks = append(s.marks, now)
			s.mu.Unlock()
		case m.Topic == "resync":
			s.mu.Lock()
			s.resyncs++
			s.marks = append(s.marks, now)
			s.mu.Unlock()
		case m.Topic == "audit" && m.Data.RequestID != "":
			s.mu.Lock()
			if _, ok := s.seen[m.Data.RequestID]; !ok {
				s.seen[m.Data.RequestID] = now
			}
			s.mu.Unlock()
		}
	}
}

// missed counts the acknowledged writes whose audit event s never received
// although no resync (reconnection, disconnection, resync event) came at or
// after the write's start: what it shows stays wrong without it knowing.
func (s *subscriber) missed(writes []*record) (missed []*record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range writes {
		if _, ok := s.seen[w.reqID]; ok {
			continue
		}
		covered := false
		for _, m := range s.marks {
			if !m.Before(w.start) {
				covered = true
				break
			}
		}
		if !covered {
			missed = append(missed, w)
		}
	}
	return missed
}
