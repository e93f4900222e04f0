package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
	"github.com/coder/websocket"
)

// wsDial opens /ws with a single-use ticket, as a browser would.
func wsDial(t *testing.T, b *Berth, token string, topics ...string) *websocket.Conn {
	t.Helper()
	code, m := doAs[api.WSTicket](b, token, "POST", "/api/v1/ws-ticket", nil)
	if code != 200 && code != 201 {
		t.Fatalf("ws-ticket: %d %+v", code, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.URL, "http")+"/ws?ticket="+m.Ticket, nil)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	sub, _ := json.Marshal(map[string]any{"action": "subscribe", "topics": topics})
	if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	// Until the hub replies, an event on those topics may pass it by: a
	// change made right after wsDial returned was missed under load (CI).
	for {
		_, raw, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the hub to confirm the subscription to %v: %v", topics, err)
		}
		var r struct{ Type, Message string }
		if json.Unmarshal(raw, &r) == nil && r.Type == "subscribed" {
			return c
		}
		if r.Type == "error" {
			t.Fatalf("subscribe to %v: %s", topics, r.Message)
		}
	}
}

// waitEvent reads until an event matches or the deadline passes.
func waitEvent(t *testing.T, c *websocket.Conn, what string, match func(m map[string]any) bool) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, raw, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil && match(m) {
			return m
		}
	}
}

// TestEventsAcrossReplicas: two berth processes on one PostgreSQL database;
// a change made through one reaches a WebSocket client of the other.
func TestEventsAcrossReplicas(t *testing.T) {
	db := postgresURL(t)
	key := "BERTH_SECRET_KEY=ZTJlLXNoYXJlZC1rZXktb2YtMzItYnl0ZXMtLS0tLS0="
	a := StartBerth(t, "", db, key)
	b := StartBerth(t, "", db, key)

	// A ticket from one replica opens a WebSocket on the other, once.
	code, m := doAs[api.WSTicket](a, a.Token(), "POST", "/api/v1/ws-ticket", nil)
	if code != 200 {
		t.Fatalf("ws-ticket on a: %d %+v", code, m)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	onB, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(b.URL, "http")+"/ws?ticket="+m.Ticket, nil)
	if err != nil {
		t.Fatalf("a ticket from replica a does not open /ws on replica b: %v", err)
	}
	onB.CloseNow()
	if again, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(a.URL, "http")+"/ws?ticket="+m.Ticket, nil); err == nil {
		again.CloseNow()
		t.Errorf("a ticket used on replica b was accepted again on replica a")
	}

	ws := wsDial(t, b, b.Token(), "services", "audit")
	a.MustDo(201, "PUT", "/api/v1/services/job", map[string]any{"command": []string{"sleep", "600"},
		"secrets": map[string]string{"TOKEN": "e2e-SECRET-event-token"}})
	ev := waitEvent(t, ws, "service event from the other replica", func(m map[string]any) bool {
		return m["topic"] == "services" && strings.Contains(mustJSON(m["data"]), `"job"`)
	})
	if strings.Contains(mustJSON(ev), "e2e-SECRET-event-token") {
		t.Errorf("an event carries a secret value: %v", ev)
	}
	waitEvent(t, ws, "audit entry from the other replica", func(m map[string]any) bool {
		return m["topic"] == "audit" && strings.Contains(mustJSON(m["data"]), "service.apply")
	})

	// A viewer subscribed to audit sees none of the admin's entries.
	b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "vic", "password": "viewer-password-1", "role": "viewer"})
	vws := wsDial(t, b, b.Login("vic", "viewer-password-1"), "audit", "services")
	a.MustDo(200, "POST", "/api/v1/services/job/scale", map[string]int{"replicas": 2})
	// The scale writes an audit entry before the service event goes out;
	// the viewer must get the service event and never the admin's entry.
	sawAudit := false
	waitEvent(t, vws, "service event for the viewer", func(m map[string]any) bool {
		if m["topic"] == "audit" {
			sawAudit = true
		}
		return m["topic"] == "services" && strings.Contains(str(m, "type"), "scale")
	})
	a.MustDo(200, "POST", "/api/v1/services/job/scale", map[string]int{"replicas": 1})
	waitEvent(t, vws, "second service event", func(m map[string]any) bool {
		if m["topic"] == "audit" {
			sawAudit = true
		}
		return m["topic"] == "services" && strings.Contains(str(m, "type"), "scale")
	})
	if sawAudit {
		t.Errorf("a viewer received another user's audit entry")
	}
	// The single-use ticket cannot be replayed.
	code, m = doAs[api.WSTicket](b, b.Token(), "POST", "/api/v1/ws-ticket", nil)
	if code >= 300 {
		t.Fatal(code, m)
	}
	url := "ws" + strings.TrimPrefix(b.URL, "http") + "/ws?ticket=" + m.Ticket
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c1, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1.CloseNow()
	if c2, _, err := websocket.Dial(ctx, url, nil); err == nil {
		c2.CloseNow()
		t.Errorf("a ticket was accepted twice")
	}
	// Overview and status through the real binary.
	ov := getJSON[api.Overview](b, "/api/v1/overview")
	st := getJSON[api.Status](b, "/api/v1/status")
	if len(ov.Targets) != 1 || ov.Targets[0].Name != "local" || ov.Totals.Services.Total != 1 || ov.GeneratedAt.IsZero() ||
		st.Version == "" || st.Store.Kind != "postgres" || !st.Store.Reachable || len(st.Targets) != 1 || st.Events.Bus != "postgres" {
		t.Errorf("overview %s / status %s", mustJSON(ov), mustJSON(st))
	}

	// Replica a crashes: what it had not yet sent to b is lost with it, so
	// b's clients are told to re-read, whatever they subscribed to.
	a.Kill()
	ev = waitEvent(t, vws, "a resync after replica a was killed", func(m map[string]any) bool {
		return m["topic"] == "resync"
	})
	if ev["type"] != "events.peerlost" {
		t.Errorf("resync after a crash: %v", ev)
	}
}
