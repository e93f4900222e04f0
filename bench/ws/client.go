package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
	"unsafe"

	"github.com/coder/websocket"
)

// A benchClient is one subscriber: it reads n events and keeps, for each,
// its receipt time and the event's "time" — nothing else is decoded, so the
// clients' own CPU (they share the machine with the server) stays small.
type benchClient interface {
	// readEvents reads until n events arrived (or the connection ends)
	// and returns their latencies in ms.
	readEvents(ctx context.Context, n int) []float64
	close()
}

// subscribe is the one command every client sends (the dashboard's first).
var subscribe = []byte(`{"action":"subscribe","topics":["metrics"]}`)

// rawClient speaks just enough of RFC 6455 over a TCP connection: one
// upgrade request, masked text frames out, and frames in read into one
// reused buffer (no allocation per message). It answers pings, as the
// dashboard's browser does.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	mask [4]byte
}

func dialRaw(ctx context.Context, addr, token string) (benchClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\n" +
		"Authorization: Bearer " + token + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("send upgrade: %w", err)
	}
	c := &rawClient{conn: conn, br: bufio.NewReaderSize(conn, 4096), buf: make([]byte, 8192)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("read upgrade answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_ = conn.Close()
		return nil, fmt.Errorf("upgrade answered %s", resp.Status)
	}
	_, _ = rand.Read(c.mask[:])
	if err := c.write(0x1, subscribe); err != nil {
		_ = conn.Close()
		return nil, err
	}
	// The reply says the subscription holds: from then on it gets every tick.
	op, p, err := c.readFrame()
	if err != nil || op != 0x1 || !bytes.HasPrefix(p, []byte(`{"type":"subscribed"`)) {
		_ = conn.Close()
		return nil, fmt.Errorf("subscribe answered %q (%v)", p, err)
	}
	return c, nil
}

// write sends one masked frame (clients must mask).
func (c *rawClient) write(op byte, p []byte) error {
	if len(p) > 125 {
		return errors.New("raw client: frame too long")
	}
	_, err := c.conn.Write(c.frame(op, p))
	return err
}

// frame is a masked frame of at most 125 bytes (longer ones are cut).
func (c *rawClient) frame(op byte, p []byte) []byte {
	p = p[:min(len(p), 125)]
	f := make([]byte, 0, 6+len(p))
	f = append(f, 0x80|op, 0x80|byte(len(p))) // #nosec G115 -- at most 125
	f = append(f, c.mask[:]...)
	for i, b := range p {
		f = append(f, b^c.mask[i%4])
	}
	return f
}

// frame reads one frame into c.buf; servers never mask.
func (c *rawClient) readFrame() (op byte, payload []byte, err error) {
	var h [8]byte
	if _, err = io.ReadFull(c.br, h[:2]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err = io.ReadFull(c.br, h[:2]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err = io.ReadFull(c.br, h[:8]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	if int(n) > cap(c.buf) {
		c.buf = make([]byte, n)
	}
	payload = c.buf[:n]
	_, err = io.ReadFull(c.br, payload)
	return op, payload, err
}

func (c *rawClient) readEvents(ctx context.Context, n int) []float64 {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	defer stop()
	lat := make([]float64, 0, n)
	for len(lat) < n {
		op, p, err := c.readFrame()
		at := time.Now()
		if err != nil {
			return lat
		}
		switch op {
		case 0x1:
			if ts, ok := eventTime(p); ok {
				lat = append(lat, float64(at.Sub(ts).Microseconds())/1000)
			}
		case 0x9:
			if c.write(0xA, p) != nil {
				return lat
			}
		case 0x8:
			return lat
		}
	}
	return lat
}

func (c *rawClient) close() { _ = c.conn.Close() }

func (c *rawClient) tcp() *net.TCPConn {
	t, _ := c.conn.(*net.TCPConn)
	return t
}

// libClient is the coder/websocket client (Read allocates each message):
// -client lib, to show what a heavier client costs the measurement.
type libClient struct{ c *websocket.Conn }

func dialLib(ctx context.Context, addr, token string) (benchClient, error) {
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.SetReadLimit(1 << 20)
	if err := c.Write(ctx, websocket.MessageText, subscribe); err != nil {
		return nil, err
	}
	if _, b, err := c.Read(ctx); err != nil || !bytes.HasPrefix(b, []byte(`{"type":"subscribed"`)) {
		_ = c.CloseNow()
		return nil, fmt.Errorf("subscribe answered %q (%v)", b, err)
	}
	return &libClient{c}, nil
}

func (l *libClient) readEvents(ctx context.Context, n int) []float64 {
	lat := make([]float64, 0, n)
	for len(lat) < n {
		_, b, err := l.c.Read(ctx)
		at := time.Now()
		if err != nil {
			return lat
		}
		if ts, ok := eventTime(b); ok {
			lat = append(lat, float64(at.Sub(ts).Microseconds())/1000)
		}
	}
	return lat
}

func (l *libClient) close() { _ = l.c.CloseNow() }

// eventTime finds an event's "time" (replies have no topic).
func eventTime(b []byte) (time.Time, bool) {
	if !bytes.HasPrefix(b, []byte(`{"topic"`)) {
		return time.Time{}, false
	}
	i := bytes.Index(b, []byte(`"time":"`))
	if i < 0 {
		return time.Time{}, false
	}
	b = b[i+8:]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return time.Time{}, false
	}
	// No copy: Parse keeps nothing of its input.
	t, err := time.Parse(time.RFC3339Nano, unsafe.String(&b[0], j)) // #nosec G103 -- b is not written while Parse runs

	return t, err == nil
}
