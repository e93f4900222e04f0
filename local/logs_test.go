package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
)

func collect(t *testing.T, r *Runtime, name string, opts berth.LogOptions) []berth.LogLine {
	t.Helper()
	var out []berth.LogLine
	err := r.ServiceLogs(context.Background(), berth.ServiceRef{Name: name}, opts, func(l berth.LogLine) error {
		out = append(out, l)
		return nil
	})
	if err != nil {
		t.Fatalf("ServiceLogs: %v", err)
	}
	return out
}

func texts(lines []berth.LogLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Replica+"|"+l.Line)
	}
	return out
}

func countPrefix(lines []berth.LogLine, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l.Line, prefix) {
			n++
		}
	}
	return n
}

func TestServiceLogs(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	apply(t, r, helperService(t, "logs", 2, 1))
	st := waitState(t, r, "logs", running(2, 1))
	p0 := st.Instances[0].Port

	testutil.Eventually(t, testutil.Process, "startup lines", func() (bool, string) {
		lines := collect(t, r, "logs", berth.LogOptions{})
		return countPrefix(lines, "hello from") == 2 && countPrefix(lines, "listening on") == 2, strings.Join(texts(lines), "\n")
	})
	lines := collect(t, r, "logs", berth.LogOptions{})
	for _, l := range lines {
		if strings.HasPrefix(l.Line, "listening on") && l.Stream != "stderr" {
			t.Errorf("stderr line with stream %q", l.Stream)
		}
	}
	mid := time.Now()
	time.Sleep(10 * time.Millisecond) // log times must move past mid
	mustGet(t, p0, "/print?n=5&prefix=line")
	testutil.Eventually(t, testutil.Process, "printed lines", func() (bool, string) {
		return countPrefix(collect(t, r, "logs", berth.LogOptions{}), "line ") == 5, ""
	})

	tests := []struct {
		name string
		opts berth.LogOptions
		want []string
	}{
		{"tail", berth.LogOptions{Tail: 3}, []string{"logs-0|line 2", "logs-0|line 3", "logs-0|line 4"}},
		{"since", berth.LogOptions{Since: mid}, []string{"logs-0|line 0", "logs-0|line 1", "logs-0|line 2", "logs-0|line 3", "logs-0|line 4"}},
		{"replica", berth.LogOptions{Replica: "logs-1"}, []string{"logs-1|hello from logs-1 rev 1", "logs-1|listening on " + fmt.Sprint(st.Instances[1].Port)}},
		{"no previous yet", berth.LogOptions{Previous: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := texts(collect(t, r, "logs", tt.opts))
			if tt.name == "replica" {
				// stdout and stderr race: compare as a set.
				if len(got) != 2 || !strings.Contains(strings.Join(got, "\n"), tt.want[0]) || !strings.Contains(strings.Join(got, "\n"), tt.want[1]) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("previous", func(t *testing.T) {
		if err := syscall.Kill(st.Instances[0].PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, testutil.Process, "second instance logged", func() (bool, string) {
			return countPrefix(collect(t, r, "logs", berth.LogOptions{Replica: "logs-0"}), "hello from") == 2, ""
		})
		prev := collect(t, r, "logs", berth.LogOptions{Previous: true})
		if countPrefix(prev, "line ") != 5 || countPrefix(prev, "hello from") != 1 || len(prev) != 7 {
			t.Fatalf("previous instance: %q", texts(prev))
		}
	})

	t.Run("follow", func(t *testing.T) {
		st := waitState(t, r, "logs", running(2, 1))
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var seen []berth.LogLine
		done := make(chan error, 1)
		go func() {
			done <- r.ServiceLogs(ctx, berth.ServiceRef{Name: "logs"}, berth.LogOptions{Follow: true, Tail: 1}, func(l berth.LogLine) error {
				mu.Lock()
				seen = append(seen, l)
				mu.Unlock()
				return nil
			})
		}()
		testutil.Eventually(t, testutil.Process, "initial tail line", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == 1, strings.Join(texts(seen), "\n")
		})
		mustGet(t, st.Instances[1].Port, "/print?n=3&prefix=followed")
		testutil.Eventually(t, testutil.Process, "followed lines", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return countPrefix(seen, "followed ") == 3, strings.Join(texts(seen), "\n")
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("follow ended with %v", err)
		}
	})

	if err := r.ServiceLogs(context.Background(), berth.ServiceRef{Name: "nope"}, berth.LogOptions{}, func(berth.LogLine) error { return nil }); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("logs of unknown service: %v", err)
	}
}

func TestLogRotationAndLongLines(t *testing.T) {
	t.Parallel()
	const max = 8 << 10
	r := newRuntime(t, func(c *Config) { c.MaxLogBytes = max })
	apply(t, r, helperService(t, "rot", 1, 1))
	st := waitState(t, r, "rot", running(1, 1))
	port := st.Instances[0].Port

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	seen := 0
	done := make(chan error, 1)
	go func() {
		done <- r.ServiceLogs(ctx, berth.ServiceRef{Name: "rot"}, berth.LogOptions{Follow: true}, func(l berth.LogLine) error {
			if strings.HasPrefix(l.Line, "rotating ") {
				mu.Lock()
				seen++
				mu.Unlock()
			}
			return nil
		})
	}()
	// Batches smaller than the limit: at most one rotation between polls,
	// so a follower must see every line.
	for b := range 6 {
		mustGet(t, port, "/print?n=40&prefix=rotating")
		testutil.Eventually(t, testutil.Process, "batch followed", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return seen == 40*(b+1), fmt.Sprint(seen)
		})
	}
	cancel()
	<-done

	dir := filepath.Join(r.serviceDir("rot"), "logs")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Fatalf("log files %v, want the current and one rotated", files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > max {
			t.Fatalf("%s is %d bytes, over %d", f, fi.Size(), max)
		}
	}

	// A line over 64 KiB is cut; the next line is intact.
	r2 := newRuntime(t, nil)
	apply(t, r2, helperService(t, "long", 1, 1))
	st = waitState(t, r2, "long", running(1, 1))
	mustGet(t, st.Instances[0].Port, "/print?size=200000&n=1&prefix=after")
	testutil.Eventually(t, testutil.Process, "long line", func() (bool, string) {
		return countPrefix(collect(t, r2, "long", berth.LogOptions{}), "after 0") == 1, ""
	})
	var long []berth.LogLine
	for _, l := range collect(t, r2, "long", berth.LogOptions{}) {
		if strings.HasPrefix(l.Line, "xxx") {
			long = append(long, l)
		}
	}
	if len(long) != 1 || len(long[0].Line) != maxLineBytes {
		t.Fatalf("long line: %d records, first %d bytes", len(long), len(long[0].Line))
	}
}

func TestServiceUsage(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	apply(t, r, helperService(t, "busy", 1, 1))
	st := waitState(t, r, "busy", running(1, 1))
	mustGet(t, st.Instances[0].Port, "/busy?ms=300")
	u, err := r.ServiceUsage(context.Background(), berth.ServiceRef{Name: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 1 || u[0].Replica != "busy-0" || u[0].PID != st.Instances[0].PID || u[0].CPUSeconds <= 0 || u[0].RSSBytes <= 0 {
		t.Fatalf("usage %+v", u)
	}
	if _, err := r.ServiceUsage(context.Background(), berth.ServiceRef{Name: "nope"}); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("usage of unknown: %v", err)
	}
}
