package local

import (
	"errors"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// outputHub reads the output pipes of every process berth runs, in one
// goroutine blocked in epoll_wait (one OS thread), and cuts them into
// lines: a pipe costs its file descriptor and, while a line is incomplete,
// that line; no goroutine, stack or read buffer each.
type outputHub struct {
	epfd  int
	mu    sync.Mutex
	pipes map[int]*output // by read end fd
}

var (
	hubOnce sync.Once
	hub     *outputHub
)

// sharedOutputHub is the process's hub, nil when epoll is not to be had
// (each pipe then has a goroutine).
func sharedOutputHub() *outputHub {
	hubOnce.Do(func() {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			slog.Warn("epoll for process output; reading each pipe in a goroutine", "err", err)
			return
		}
		hub = &outputHub{epfd: epfd, pipes: map[int]*output{}}
		go hub.loop()
	})
	return hub
}

// open makes a pipe: the child's end blocking, as programs expect, the read
// end non-blocking and watched.
func (h *outputHub) open(emit func(string)) (*output, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, &os.SyscallError{Syscall: "pipe2", Err: err}
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
		return nil, &os.SyscallError{Syscall: "fcntl", Err: err}
	}
	o := &output{w: os.NewFile(uintptr(fds[1]), "output"), done: make(chan struct{}), hub: h, fd: fds[0], emit: emit}
	o.split.emit = func(line string) { o.lines = append(o.lines, line) }
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pipes[o.fd] = o
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(o.fd)} // #nosec G115 -- a file descriptor fits an int32
	if err := unix.EpollCtl(h.epfd, unix.EPOLL_CTL_ADD, o.fd, &ev); err != nil {
		delete(h.pipes, o.fd)
		_ = unix.Close(fds[0])
		_ = o.w.Close()
		return nil, &os.SyscallError{Syscall: "epoll_ctl", Err: err}
	}
	return o, nil
}

// remove stops watching o and closes its read end; closeDone says o is
// done now (abandoned), else the reader closes it after the last lines.
// It reports whether o was still watched.
func (h *outputHub) remove(o *output, closeDone bool) bool {
	h.mu.Lock()
	watched := h.pipes[o.fd] == o
	if watched {
		delete(h.pipes, o.fd)
		_ = unix.EpollCtl(h.epfd, unix.EPOLL_CTL_DEL, o.fd, nil)
		_ = unix.Close(o.fd)
	}
	h.mu.Unlock()
	if watched && closeDone {
		close(o.done)
	}
	return watched
}

func (h *outputHub) loop() {
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.EpollWait(h.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			slog.Error("epoll_wait for process output", "err", err)
			return
		}
		for _, ev := range events[:n] {
			h.drain(int(ev.Fd), buf)
		}
	}
}

// drainReads bounds the reads of one pipe per wakeup, so that one chatty
// process does not hold up the others (level-triggered: it comes back).
const drainReads = 16

// drain reads what fd holds and emits its complete lines; at the end of
// the pipe, the last line too, and o is done.
func (h *outputHub) drain(fd int, buf []byte) {
	h.mu.Lock()
	o := h.pipes[fd]
	if o == nil {
		h.mu.Unlock()
		return // removed since epoll_wait returned
	}
	ended := false
	for range drainReads {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			o.split.feed(buf[:n])
			continue
		}
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			break
		}
		ended = true // 0: every writer is gone; or the pipe failed
		break
	}
	h.mu.Unlock()
	if ended {
		o.split.end()
	}
	lines := o.lines
	o.lines = nil
	for _, l := range lines {
		o.emit(l)
	}
	if ended && h.remove(o, false) {
		close(o.done)
	}
}
