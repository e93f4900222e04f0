package local

import (
	"os"
	"time"
)

// output is one output pipe of a process (stdout or stderr) being read
// into lines: by the runtime's one reader of every pipe where there is one
// (Linux: epoll, output_linux.go), else by a goroutine of its own. With
// 2,000 workloads, a goroutine per pipe was 4,000 goroutines, each with a
// stack and a read buffer, parked for as long as its process ran.
type output struct {
	w    *os.File      // the child's end: closed by the supervisor once the child has it
	done chan struct{} // closed after the last line was emitted
	r    *os.File      // the read end, read by a goroutine (no hub)
	hub  *outputHub    // the reader of the read end fd (with a hub)
	fd   int
	// Used by the hub's reader only.
	split lineSplitter
	lines []string
	emit  func(string)
}

// openOutput makes a pipe whose lines go to emit.
func openOutput(emit func(string)) (*output, error) {
	if h := sharedOutputHub(); h != nil {
		return h.open(emit)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &output{w: w, r: r, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		readLines(r, emit)
	}()
	return o, nil
}

// finish waits up to grace for the pipe's end (every writer gone), else
// stops reading it (something that left the process group still holds it).
func (o *output) finish(grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
		o.abandon()
		<-o.done
	}
	if o.r != nil {
		_ = o.r.Close()
	}
}

// abandon stops reading the pipe.
func (o *output) abandon() {
	if o.hub != nil {
		o.hub.remove(o, true)
		return
	}
	_ = o.r.Close() // the reader's Read fails: it ends
}

// closeWriter closes berth's copy of the child's end (or, when the child
// did not start, the only one: the pipe ends).
func (o *output) closeWriter() { _ = o.w.Close() }
