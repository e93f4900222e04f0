package wshub

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// The hub writes its messages (events and replies) itself, as whole frames
// built once per message: an event to 10,000 clients is framed once, not
// 10,000 times, and each client's write hands the socket the same bytes.
// coder/websocket keeps reading, pings, pongs and the close handshake; of
// writes it is left the control frames only. Each of those is one Write of
// at most 131 bytes on the connection (the library flushes its buffer after
// every frame), so wireConn.mu, held by every writer for a whole frame, is
// enough to keep the library's frames and the hub's from interleaving.

// wireFrame is payload as one unmasked, unfragmented text frame (RFC 6455
// §5.2: a server never masks), ready to be written to any connection.
func wireFrame(payload []byte) []byte {
	n := len(payload)
	var h [10]byte
	h[0] = 0x81 // FIN, text
	hl := 2
	switch {
	case n <= 125:
		h[1] = byte(n) // #nosec G115 -- at most 125
	case n <= 0xffff:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n)) // #nosec G115 -- at most 0xffff
		hl = 4
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n)) // #nosec G115 -- a length is never negative
		hl = 10
	}
	f := make([]byte, hl+n)
	copy(f, h[:hl])
	copy(f[hl:], payload)
	return f
}

// wireConn is the connection under the library's Conn.
type wireConn struct {
	net.Conn
	// mu is held for a whole frame by whoever writes one: the library (in
	// Write), a client's writer, or the dispatcher's direct attempt.
	mu sync.Mutex
	// raw is the socket, for writes that must not wait (nil when the
	// connection is no socket: then every frame goes through a writer).
	raw syscall.RawConn
	// The direct attempt's arguments and results, under mu: try reads them,
	// so that no closure is allocated per write.
	p   []byte
	n   int
	err error
	try func(fd uintptr) bool
	// vec is the writer's batch, reused (WriteTo consumes bufs).
	vec  [][]byte
	bufs net.Buffers
}

func newWireConn(c net.Conn) *wireConn {
	w := &wireConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	w.try = func(fd uintptr) bool {
		for w.n < len(w.p) {
			n, err := syscall.Write(int(fd), w.p[w.n:]) // #nosec G115 -- a file descriptor fits an int
			if n > 0 {
				w.n += n
			}
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true // full: the rest is the writer's
			case err != nil:
				w.err = err
				return true
			case n == 0:
				return true
			}
		}
		return true // true: never wait for the socket here
	}
	return w
}

// Write is the library's: its control frames, each whole under mu.
func (w *wireConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.Conn.Write(p)
}

// tryWrite writes what of p the socket takes at once, without waiting for
// it to drain; the caller holds mu, and raw is set.
func (w *wireConn) tryWrite(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.raw.Write(w.try)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.p, w.err = nil, nil
	return n, err
}

// writeAll writes frames in order with one writev where it can, waiting
// for the socket as long as it takes (the hub's watchdog ends a stalled
// one); the caller holds mu.
func (w *wireConn) writeAll(frames [][]byte) error {
	w.vec = append(w.vec[:0], frames...)
	w.bufs = w.vec
	_, err := w.bufs.WriteTo(w.Conn)
	clear(w.vec)
	w.bufs = nil
	return err
}

// errNotHijacker: Accept could not take the connection over.
var errNotHijacker = errors.New("the response cannot be hijacked")

// tap hands coder/websocket the hijacked connection wrapped in a wireConn,
// and keeps it for the hub.
type tap struct {
	http.ResponseWriter
	wire *wireConn
}

func (t *tap) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(t.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, errors.Join(errNotHijacker, err)
	}
	t.wire = newWireConn(conn)
	// net/http has flushed the 101 answer and emptied its writer: the
	// library's frames now go through the wireConn.
	brw.Writer.Reset(t.wire)
	return t.wire, brw, nil
}
