package local

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The output hub reads many processes' pipes with no goroutine per pipe:
// every line of each child arrives whole and in order, the last line
// without "\n" too, a pipe ends when its child exits, and a pipe a
// descendant still holds is let go by finish after its grace.
func TestOutputHub(t *testing.T) {
	if sharedOutputHub() == nil {
		t.Fatal("no epoll")
	}
	const children = 100
	before := runtime.NumGoroutine()
	type child struct {
		cmd  *exec.Cmd
		out  *output
		mu   sync.Mutex
		got  []string
		want []string
	}
	var cs []*child
	for i := range children {
		c := &child{}
		o, err := openOutput(func(l string) { c.mu.Lock(); c.got = append(c.got, l); c.mu.Unlock() })
		if err != nil {
			t.Fatal(err)
		}
		long := strings.Repeat("x", 100_000) // over the cap: cut
		script := fmt.Sprintf("sleep 0.5; for n in 1 2 3; do echo child-%d-$n; done; printf '%%s\\n' %s; printf last-%d", i, long, i)
		c.want = []string{fmt.Sprintf("child-%d-1", i), fmt.Sprintf("child-%d-2", i), fmt.Sprintf("child-%d-3", i), long[:maxLineBytes], fmt.Sprintf("last-%d", i)}
		c.cmd = exec.Command("sh", "-c", script)
		c.cmd.Stdout = o.w
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		o.closeWriter()
		c.out = o
		cs = append(cs, c)
	}
	if n := runtime.NumGoroutine() - before; n > 5 {
		t.Errorf("%d pipes being read by %d more goroutines, want none per pipe", children, n)
	}
	for _, c := range cs {
		if err := c.cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		c.out.finish(10 * time.Second)
		c.mu.Lock()
		if !slices.Equal(c.got, c.want) {
			t.Errorf("lines %q…, want %q…", abbrev(c.got), abbrev(c.want))
		}
		c.mu.Unlock()
	}

	// A descendant keeps the pipe open past its parent's exit.
	o, err := openOutput(func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	held := exec.Command("sh", "-c", "sleep 3 & echo started")
	held.Stdout = o.w
	if err := held.Start(); err != nil {
		t.Fatal(err)
	}
	o.closeWriter()
	if err := held.Wait(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	o.finish(200 * time.Millisecond)
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("finish of a pipe a descendant holds took %s, want its grace", d)
	}
	if hub.remove(o, false) {
		t.Error("an abandoned pipe is still watched")
	}
}
