// Package stat holds what berth's benchmarks share to measure and report:
// medians and percentiles, a worker pool, polling, the machine's load, a
// process's RSS and the summary table.
package stat

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/berthproc"
)

// Median of xs (0 when empty).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Pct is the nearest-rank percentile of ds, in milliseconds.
func Pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Ms(s[min(len(s)-1, int(float64(len(s))*p))])
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// RSSMB is VmRSS of pid in MiB.
func RSSMB(pid int) float64 { return berthproc.ProcStatusMB(pid, "VmRSS") }

// Parallel runs fn for 0..n-1 on w workers and returns the first error.
func Parallel(n, w int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ch := make(chan int)
	for range max(w, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range n {
		ch <- i
	}
	close(ch)
	wg.Wait()
	return first
}

// Poll calls check until it returns nil or limit passes; the error then
// names the last failure.
func Poll(limit, every time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %s: %w", what, limit, err)
		}
		time.Sleep(every) // poll interval
	}
}

// Loadavg is the machine's 1, 5 and 15 minute load, for the report.
func Loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return "load " + strings.Join(f[:3], " ")
}

// Verdict is PASS or MISS.
func Verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// Row is one line of a summary table: measure, berth, reference, ratio,
// target, verdict.
type Row [6]string

// PrintTable prints rows under a header whose third column is named ref.
func PrintTable(ref string, rows []Row) {
	all := append([]Row{{"measure", "berth", ref, "ratio", "target", "verdict"}}, rows...)
	var w [6]int
	for _, r := range all {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	for _, r := range all {
		for i, c := range r {
			fmt.Printf("%s%*s", c, w[i]-len([]rune(c))+2, "")
		}
		fmt.Println()
	}
}
