package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// record is one line of a log file, JSON encoded: the instance number tells
// apart successive processes of the same replica slot.
type record struct {
	Time     time.Time `json:"t"`
	Stream   string    `json:"s"`
	Instance int       `json:"i"`
	Line     string    `json:"l"`
}

// logFile is the size-rotated log of one replica slot or environment,
// shared by every process of it (old and new during a rolling update).
type logFile struct {
	mu       sync.Mutex
	path     string
	max      int64
	f        *os.File
	size     int64
	instance int // last instance number handed out
}

func openLog(path string, max int64) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) // #nosec G304 -- a log file berth writes in its own data directory
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat log: %w", err)
	}
	l := &logFile{path: path, max: max, f: f, size: fi.Size()}
	// Continue the instance numbering of an earlier berth so that Previous
	// still finds the process before the current one.
	l.instance = max0(lastInstance(path), lastInstance(path+".1"))
	return l, nil
}

func max0(a, b int) int { return max(a, b, 0) }

func lastInstance(path string) int {
	recs, _, _, _ := readRecords(path, 0)
	n := 0
	for _, r := range recs {
		n = max(n, r.Instance)
	}
	return n
}

func (l *logFile) nextInstance() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.instance++
	return l.instance
}

func (l *logFile) write(t time.Time, stream string, instance int, line string) {
	b, err := json.Marshal(record{Time: t.UTC(), Stream: stream, Instance: instance, Line: line})
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	if l.size > 0 && l.size+int64(len(b)) > l.max {
		l.rotate()
	}
	n, _ := l.f.Write(b)
	l.size += int64(n)
}

// rotate keeps one previous file; a reader following the old inode finishes
// it through the .1 name.
func (l *logFile) rotate() {
	_ = l.f.Close()
	_ = os.Rename(l.path, l.path+".1")
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		l.f = nil
		return
	}
	l.f, l.size = f, 0
}

func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// readRecords reads the complete lines of path from offset on and returns
// the offset after the last complete line and the file's inode. A missing
// file is empty.
func readRecords(path string, offset int64) ([]record, int64, uint64, error) {
	f, err := os.Open(path) // #nosec G304 -- a log file berth writes in its own data directory
	if os.IsNotExist(err) {
		return nil, offset, 0, nil
	}
	if err != nil {
		return nil, offset, 0, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	var ino uint64
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		if fi.Size() < offset {
			offset = 0 // truncated: start over
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, ino, fmt.Errorf("seek log: %w", err)
	}
	br := bufio.NewReaderSize(f, 128<<10)
	var out []record
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			break // a partial last line is read again next time
		}
		offset += int64(len(line))
		var rec record
		if json.Unmarshal(bytes.TrimSpace(line), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out, offset, ino, nil
}

func inode(path string) (uint64, int64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fi.Size(), true
	}
	return st.Ino, fi.Size(), true
}
