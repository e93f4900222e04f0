// Command core benchmarks a real berth server (make bench). It is not a
// test: the machine is shared and noisy, so it prints medians of several
// runs next to references measured in the same run, and the targets.
package main

import (
	"flag"
	"fmt"
	"github.com/berthhq/berth/internal/berthproc"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	bin := flag.String("berth", "bin/berth", "berth binary")
	runs := flag.Int("runs", 5, "runs per measurement")
	services := flag.Int("services", 100, "services per create run")
	records := flag.Int("records", 1000, "records for the list benchmark")
	flag.Parse()
	if err := run(*bin, *runs, *services, *records); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// start runs berth with the local target and a "bench" template that
// sleeps, logged in as admin.
func start(bin, dir string) (*berthproc.Server, error) {
	return berthproc.Start(bin, dir, "targets:\n  - name: local\n    type: local\n    templates:\n      bench:\n        command: [\"sleep\", \"3600\"]\n")
}

// timed returns the latency of one request.
func timed(s *berthproc.Server, path string) (time.Duration, error) {
	t0 := time.Now()
	err := s.Do("GET", path, nil, nil)
	return time.Since(t0), err
}

func rssMB(pid int) float64 { return berthproc.ProcStatusMB(pid, "VmRSS") }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pct(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return float64(s[i].Microseconds()) / 1000
}

// parallel runs fn for 0..n-1 on w workers.
func parallel(n, w int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errc := make(chan error, n)
	ch := make(chan int)
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				if err := fn(i); err != nil {
					errc <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
	close(errc)
	return <-errc
}

func run(bin string, runs, nsvc, nrec int) error {
	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := start(bin, dir)
	if err != nil {
		return err
	}
	defer s.Stop()
	pid := s.Pid()
	fmt.Printf("berth bench: %d runs each, %d cores; figures are medians over runs\n\n", runs, runtimeCPUs())

	time.Sleep(2 * time.Second)
	idle := rssMB(pid)

	// 1. 100 services from PUT to all RUNNING; reference: starting the same
	// 100 processes directly from Go and seeing them alive.
	var createS, refS []float64
	for r := 0; r < runs; r++ {
		t0 := time.Now()
		err := parallel(nsvc, 8, func(i int) error {
			return s.Do("PUT", fmt.Sprintf("/api/v1/services/bench-%d", i), map[string]any{"command": []string{"sleep", "3600"}, "replicas": 1}, nil)
		})
		if err != nil {
			return err
		}
		for {
			var list struct {
				Services []struct{ Status string }
			}
			if err := s.Do("GET", "/api/v1/services?pageSize=200", nil, &list); err != nil {
				return err
			}
			running := 0
			for _, sv := range list.Services {
				if sv.Status == "RUNNING" {
					running++
				}
			}
			if running == nsvc {
				break
			}
			if time.Since(t0) > 2*time.Minute {
				return fmt.Errorf("only %d of %d services RUNNING after 2m", running, nsvc)
			}
			time.Sleep(20 * time.Millisecond)
		}
		createS = append(createS, time.Since(t0).Seconds())

		t1 := time.Now()
		var cmds []*exec.Cmd
		for i := 0; i < nsvc; i++ {
			c := exec.Command("sleep", "3600")
			if err := c.Start(); err != nil {
				return err
			}
			cmds = append(cmds, c)
		}
		refS = append(refS, time.Since(t1).Seconds())
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		if err := parallel(nsvc, 8, func(i int) error {
			return s.Do("DELETE", fmt.Sprintf("/api/v1/services/bench-%d", i), nil, nil)
		}); err != nil {
			return err
		}
	}
	c, ref := median(createS), median(refS)
	fmt.Printf("create %d services → all RUNNING: %.2fs (target < 5s: %s); reference fork/exec of %d processes: %.3fs; ratio %.0fx\n",
		nsvc, c, verdict(c < 5), nsvc, ref, c/ref)

	// 2. Lists with 1,000 records each, 200 per page.
	if err := parallel(nrec, 8, func(i int) error {
		return s.Do("PUT", fmt.Sprintf("/api/v1/services/rec-%d", i), map[string]any{"command": []string{"sleep", "3600"}, "replicas": 0}, nil)
	}); err != nil {
		return err
	}
	if err := parallel(nrec, 8, func(i int) error {
		return s.Do("POST", "/api/v1/environments", map[string]any{"name": fmt.Sprintf("rec-%d", i), "template": "bench"}, nil)
	}); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // let the sync loop see every record once
	withRecords := rssMB(pid)
	for _, path := range []string{"/api/v1/services", "/api/v1/environments"} {
		var p50s, p99s, hp50s, hp99s []float64
		for r := 0; r < runs; r++ {
			var lat, hlat []time.Duration
			for i := 0; i < 200; i++ {
				d, err := timed(s, fmt.Sprintf("%s?page=%d&pageSize=200", path, i%(nrec/200)+1))
				if err != nil {
					return err
				}
				lat = append(lat, d)
				h, err := timed(s, "/health")
				if err != nil {
					return err
				}
				hlat = append(hlat, h)
			}
			p50s, p99s = append(p50s, pct(lat, .5)), append(p99s, pct(lat, .99))
			hp50s, hp99s = append(hp50s, pct(hlat, .5)), append(hp99s, pct(hlat, .99))
		}
		p99 := median(p99s)
		fmt.Printf("GET %s (%d records, 200 per page): p50 %.2fms p99 %.2fms (target p99 < 20ms: %s); reference GET /health p50 %.2fms p99 %.2fms; p50 ratio %.1fx\n",
			path, nrec, median(p50s), p99, verdict(p99 < 20), median(hp50s), median(hp99s), median(p50s)/median(hp50s))
	}
	fmt.Printf("berth RSS idle: %.1f MB (target < 60 MB: %s); with %d services + %d environments: %.1f MB\n",
		idle, verdict(idle < 60), nrec, nrec, withRecords)
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func runtimeCPUs() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}
