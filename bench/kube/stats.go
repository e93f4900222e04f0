package main

import (
	"fmt"
	"github.com/berthhq/berth/internal/berthproc"
	"slices"
	"sync"
	"time"
)

func median(xs []float64) float64 {
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

// pct is the nearest-rank percentile of ds, in milliseconds.
func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return ms(s[min(len(s)-1, int(float64(len(s))*p))])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rssMB is VmRSS of pid in MB.
func rssMB(pid int) float64 { return berthproc.ProcStatusMB(pid, "VmRSS") }

// parallel runs fn for 0..n-1 on w workers and returns the first error.
func parallel(n, w int, fn func(i int) error) error {
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

// poll calls check until it returns nil or limit passes; the error then
// names the last failure.
func poll(limit, every time.Duration, what string, check func() error) error {
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
