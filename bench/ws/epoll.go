package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// The epoll clients (-client epoll, the default) are raw clients read by
// one loop per core instead of a goroutine each: a loop waits on epoll for
// the sockets with data and reads each once, so a frame costs the clients
// one read(2) and no goroutine wake-up. Each socket has SO_TIMESTAMPNS set:
// the kernel stamps the data when it arrives, which on loopback is when
// the server's write(2) put it there, so "delivered" is the server's
// latency alone (publish to bytes in the client's socket), while "read"
// adds the clients' own delay in reading on the same cores.

// sample is what a client measured of one event, in ms since its "time".
type sample struct {
	read      float64 // when the client had read it
	delivered float64 // when the kernel queued it on the client's socket (NaN: no stamp)
}

// epollConn is one client's socket and the bytes read but not yet parsed.
type epollConn struct {
	c    *rawClient
	fd   int
	buf  []byte
	have int
	got  []sample
	done bool
}

// readEpoll reads n events on every connection (or until ctx ends) and
// returns each client's samples and, per tick (by its "time"), the latest
// delivery to any client.
func readEpoll(ctx context.Context, conns []*rawClient, n int) ([][]sample, map[int64]float64, error) {
	ecs := make([]*epollConn, len(conns))
	for i, c := range conns {
		if c.br.Buffered() != 0 {
			return nil, nil, errors.New("epoll client: bytes left in the handshake's buffer")
		}
		raw, err := c.tcp().SyscallConn()
		if err != nil {
			return nil, nil, err
		}
		ec := &epollConn{c: c, fd: -1, buf: make([]byte, 64<<10), got: make([]sample, 0, n)}
		ecs[i] = ec
		var serr error
		if err := raw.Control(func(fd uintptr) {
			// A duplicate, and the connection closed: the socket leaves Go's
			// own poller, which would otherwise wake for every frame too.
			ec.fd, serr = syscall.Dup(int(fd)) // #nosec G115 -- a file descriptor fits an int
		}); err != nil {
			return nil, nil, err
		}
		if serr != nil {
			return nil, nil, fmt.Errorf("dup a client's socket: %w", serr)
		}
		c.close()
		if err := syscall.SetsockoptInt(ec.fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
			return nil, nil, fmt.Errorf("set SO_TIMESTAMPNS: %w", err)
		}
	}
	defer func() {
		for _, ec := range ecs {
			if ec != nil && ec.fd >= 0 {
				_ = syscall.Close(ec.fd)
			}
		}
	}()
	parts := max(1, min(runtime.GOMAXPROCS(0), len(ecs)))
	size := (len(ecs) + parts - 1) / parts
	lasts := make([]map[int64]float64, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		part := ecs[min(p*size, len(ecs)):min((p+1)*size, len(ecs))]
		lasts[p] = map[int64]float64{}
		wg.Go(func() { errs[p] = epollLoop(ctx, part, n, lasts[p]) })
	}
	wg.Wait()
	out := make([][]sample, len(ecs))
	for i, ec := range ecs {
		out[i] = ec.got
	}
	last := map[int64]float64{}
	for _, l := range lasts {
		for t, v := range l {
			last[t] = max(last[t], v)
		}
	}
	return out, last, errors.Join(errs...)
}

func epollLoop(ctx context.Context, conns []*epollConn, n int, last map[int64]float64) error {
	if len(conns) == 0 {
		return nil
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	defer syscall.Close(ep)
	for i, ec := range conns {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)} // #nosec G115 -- fewer clients than 2^31
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, ec.fd, &ev); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	open := len(conns)
	evs := make([]syscall.EpollEvent, 256)
	oob := make([]byte, 128)
	for open > 0 && ctx.Err() == nil {
		k, err := syscall.EpollWait(ep, evs, 100)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range evs[:k] {
			ec := conns[ev.Fd]
			if ec.done {
				continue
			}
			if ec.read(oob, n, last) {
				ec.done = true
				open--
				_ = syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, ec.fd, nil)
			}
		}
		if k < len(evs)/4 {
			// Let more sockets get data before the next wait: fewer
			// wake-ups of the clients per tick, reads at most 1 ms later
			// (deliveries are stamped by the kernel, so not later).
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// read reads what the socket holds once and takes the whole frames in it;
// true when the client has its n events or its connection ended.
func (ec *epollConn) read(oob []byte, n int, last map[int64]float64) bool {
	if ec.have == len(ec.buf) {
		ec.buf = append(ec.buf, make([]byte, len(ec.buf))...)
	}
	m, oobn, _, _, err := syscall.Recvmsg(ec.fd, ec.buf[ec.have:], oob, 0)
	at := time.Now()
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return false
	}
	if err != nil || m == 0 {
		return true
	}
	ec.have += m
	stamp, stamped := kernelStamp(oob[:oobn])
	p := ec.buf[:ec.have]
	for {
		op, payload, size, ok := parseFrame(p)
		if !ok {
			break
		}
		p = p[size:]
		switch op {
		case 0x1:
			if ts, ok := eventTime(payload); ok {
				s := sample{read: ms(at.Sub(ts)), delivered: math.NaN()}
				if stamped {
					s.delivered = ms(stamp.Sub(ts))
					k := ts.UnixNano()
					last[k] = max(last[k], s.delivered)
				}
				ec.got = append(ec.got, s)
			}
		case 0x9:
			if _, err := syscall.Write(ec.fd, ec.c.frame(0xA, payload)); err != nil {
				return true
			}
		case 0x8:
			return true
		}
	}
	ec.have = copy(ec.buf, p)
	return len(ec.got) >= n
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// parseFrame reads one whole server frame at the start of p (servers never
// mask); ok is false until all of it is there.
func parseFrame(p []byte) (op byte, payload []byte, size int, ok bool) {
	if len(p) < 2 {
		return 0, nil, 0, false
	}
	op = p[0] & 0x0f
	n, h := uint64(p[1]&0x7f), 2
	switch n {
	case 126:
		if len(p) < 4 {
			return 0, nil, 0, false
		}
		n, h = uint64(binary.BigEndian.Uint16(p[2:4])), 4
	case 127:
		if len(p) < 10 {
			return 0, nil, 0, false
		}
		n, h = binary.BigEndian.Uint64(p[2:10]), 10
	}
	if uint64(len(p)-h) < n { // #nosec G115 -- len(p) >= h, checked above
		return 0, nil, 0, false
	}
	size = h + int(n) // #nosec G115 -- n is at most len(p)
	return op, p[h:size], size, true
}

// kernelStamp finds the SCM_TIMESTAMPNS control message of a recvmsg.
func kernelStamp(oob []byte) (time.Time, bool) {
	for len(oob) >= syscall.SizeofCmsghdr {
		l := int(binary.NativeEndian.Uint64(oob[0:8]))        // #nosec G115 -- a control message's length
		level := int32(binary.NativeEndian.Uint32(oob[8:12])) // #nosec G115 -- the kernel's int
		typ := int32(binary.NativeEndian.Uint32(oob[12:16]))  // #nosec G115 -- the kernel's int
		data := syscall.CmsgLen(0)
		if l < data || l > len(oob) {
			return time.Time{}, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= data+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[data : data+8]))     // #nosec G115 -- timespec
			nsec := int64(binary.NativeEndian.Uint64(oob[data+8 : data+16])) // #nosec G115 -- timespec
			return time.Unix(sec, nsec), true
		}
		oob = oob[min(len(oob), syscall.CmsgSpace(l-data)):]
	}
	return time.Time{}, false
}
