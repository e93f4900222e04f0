// Command core benchmarks a real berth server (make bench). It is not a
// test: the machine is shared and noisy, so it prints medians of several
// runs next to references measured in the same run, and the targets.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

type server struct {
	url, token string
	cmd        *exec.Cmd
	client     *http.Client
}

const password = "bench-admin-password"

func start(bin, dir string) (*server, error) {
	cfg := "targets:\n  - name: local\n    type: local\n    templates:\n      bench:\n        command: [\"sleep\", \"3600\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", filepath.Join(dir, "berth.yaml"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "BERTH_ADMIN_PASSWORD=" + password,
		"BERTH_RATE_LIMIT=-1", "BERTH_LOG_LEVEL=warn"}
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`is running at (http://\S+)`)
	sc := bufio.NewScanner(out)
	s := &server{cmd: cmd, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			s.url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, out)
	if s.url == "" {
		return nil, fmt.Errorf("berth did not start")
	}
	var login struct{ Token string }
	if err := s.do("POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": password}, &login); err != nil {
		return nil, err
	}
	s.token = login.Token
	return s, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func (s *server) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// timed returns the latency of one request.
func (s *server) timed(path string) (time.Duration, error) {
	t0 := time.Now()
	err := s.do("GET", path, nil, nil)
	return time.Since(t0), err
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return -1
}

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
	defer s.stop()
	pid := s.cmd.Process.Pid
	fmt.Printf("berth bench: %d runs each, %d cores; figures are medians over runs\n\n", runs, runtimeCPUs())

	time.Sleep(2 * time.Second)
	idle := rssMB(pid)

	// 1. 100 services from PUT to all RUNNING; reference: starting the same
	// 100 processes directly from Go and seeing them alive.
	var createS, refS []float64
	for r := 0; r < runs; r++ {
		t0 := time.Now()
		err := parallel(nsvc, 8, func(i int) error {
			return s.do("PUT", fmt.Sprintf("/api/v1/services/bench-%d", i), map[string]any{"command": []string{"sleep", "3600"}, "replicas": 1}, nil)
		})
		if err != nil {
			return err
		}
		for {
			var list struct {
				Services []struct{ Status string }
			}
			if err := s.do("GET", "/api/v1/services?pageSize=200", nil, &list); err != nil {
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
			return s.do("DELETE", fmt.Sprintf("/api/v1/services/bench-%d", i), nil, nil)
		}); err != nil {
			return err
		}
	}
	c, ref := median(createS), median(refS)
	fmt.Printf("create %d services → all RUNNING: %.2fs (target < 5s: %s); reference fork/exec of %d processes: %.3fs; ratio %.0fx\n",
		nsvc, c, verdict(c < 5), nsvc, ref, c/ref)

	// 2. Lists with 1,000 records each, 200 per page.
	if err := parallel(nrec, 8, func(i int) error {
		return s.do("PUT", fmt.Sprintf("/api/v1/services/rec-%d", i), map[string]any{"command": []string{"sleep", "3600"}, "replicas": 0}, nil)
	}); err != nil {
		return err
	}
	if err := parallel(nrec, 8, func(i int) error {
		return s.do("POST", "/api/v1/environments", map[string]any{"name": fmt.Sprintf("rec-%d", i), "template": "bench"}, nil)
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
				d, err := s.timed(fmt.Sprintf("%s?page=%d&pageSize=200", path, i%(nrec/200)+1))
				if err != nil {
					return err
				}
				lat = append(lat, d)
				h, err := s.timed("/health")
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
