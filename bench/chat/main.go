// Command chat benchmarks the chat's grammar-only answers on a real berth
// server holding 1,000 services (make bench-chat). It is not a test: the
// machine is shared and noisy, so it prints medians over runs of each
// run's p50 and p99, next to a reference measured in the same run (GET of
// one service, and the full list the chat reads for every message), and
// the target (p99 < 50 ms). No language model is configured.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/berthproc"
)

func main() {
	bin := flag.String("berth", "bin/berth", "berth binary")
	runs := flag.Int("runs", 5, "runs")
	services := flag.Int("services", 1000, "services in the store")
	asks := flag.Int("asks", 200, "chat messages per run")
	flag.Parse()
	if err := run(*bin, *runs, *services, *asks); err != nil {
		fmt.Fprintln(os.Stderr, "bench-chat:", err)
		os.Exit(1)
	}
}

// messages are grammar-only phrasings: reads, proposals (a confirm token
// is stored), a typo and text the grammar cannot place.
func messages(n int) []string {
	return []string{
		fmt.Sprintf("status of svc-%d", n/2),
		"what's running",
		"what's failing",
		fmt.Sprintf("scale svc-%d to 3", n/3),
		fmt.Sprintf("add 2 replicas to svc-%d", n/4),
		fmt.Sprintf("restart svc-%d", n-1),
		fmt.Sprintf("status of svc-%do", n/5), // a typo: closest match offered
		"create a postgres 16 with 2Gi",
		"show environments",
		"sing me a song", // help
	}
}

func pct(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fill(s *berthproc.Server, n int) error {
	var wg sync.WaitGroup
	errc := make(chan error, n)
	ch := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				// No replica: 1,000 stored services without 1,000 processes.
				if err := s.Do("PUT", fmt.Sprintf("/api/v1/services/svc-%d", i),
					map[string]any{"command": []string{"sleep", "3600"}, "replicas": 0}, nil); err != nil {
					errc <- err
				}
			}
		}()
	}
	for i := range n {
		ch <- i
	}
	close(ch)
	wg.Wait()
	close(errc)
	return <-errc
}

func run(bin string, runs, n, asks int) error {
	dir, err := os.MkdirTemp("", "berth-bench-chat-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := berthproc.Start(bin, dir, "targets:\n  - name: local\n    type: local\n")
	if err != nil {
		return err
	}
	defer s.Stop()
	t0 := time.Now()
	if err := fill(s, n); err != nil {
		return err
	}
	fmt.Printf("berth bench-chat: %d services stored in %s; %d runs of %d messages; figures are medians over runs\n\n",
		n, time.Since(t0).Round(time.Millisecond), runs, asks)
	msgs := messages(n)
	var p50, p99, refGet, refList []float64
	byMsg := map[string][]time.Duration{}
	for r := 0; r < runs; r++ {
		var chat, get, list []time.Duration
		for i := range asks {
			var out struct {
				Intent string `json:"intent"`
			}
			t1 := time.Now()
			if err := s.Do("POST", "/api/v1/chat", map[string]string{"message": msgs[i%len(msgs)]}, &out); err != nil {
				return fmt.Errorf("chat %q: %w", msgs[i%len(msgs)], err)
			}
			chat = append(chat, time.Since(t1))
			byMsg[msgs[i%len(msgs)]] = append(byMsg[msgs[i%len(msgs)]], time.Since(t1))
			if out.Intent == "" {
				return fmt.Errorf("chat %q: no intent in the answer", msgs[i%len(msgs)])
			}
			if i%10 == 0 {
				t2 := time.Now()
				if err := s.Do("GET", fmt.Sprintf("/api/v1/services/svc-%d", i%n), nil, nil); err != nil {
					return err
				}
				get = append(get, time.Since(t2))
				t3 := time.Now()
				if err := s.Do("GET", "/api/v1/services?pageSize=200", nil, nil); err != nil {
					return err
				}
				list = append(list, time.Since(t3))
			}
		}
		p50, p99 = append(p50, pct(chat, .5)), append(p99, pct(chat, .99))
		refGet, refList = append(refGet, pct(get, .5)), append(refList, pct(list, .5))
	}
	m99 := median(p99)
	verdict := "meets"
	if m99 >= 50 {
		verdict = "MISSES"
	}
	fmt.Printf("%-46s %10s\n", "measure", "median")
	fmt.Printf("%-46s %9.2fms\n", "chat answer p50 (grammar only)", median(p50))
	fmt.Printf("%-46s %9.2fms  (target < 50 ms: %s)\n", "chat answer p99 (grammar only)", m99, verdict)
	fmt.Printf("%-46s %9.2fms\n", "reference: GET one service p50", median(refGet))
	fmt.Printf("%-46s %9.2fms\n", "reference: GET /services?pageSize=200 p50", median(refList))
	fmt.Printf("%-46s %9.1fx\n", "ratio chat p50 / GET one service p50", median(p50)/median(refGet))
	fmt.Printf("\nper run p99: %s\n\nby message, over all runs:\n", strings.Trim(fmt.Sprint(p99), "[]"))
	for _, m := range msgs {
		fmt.Printf("  %-36q p50 %7.2fms  p99 %7.2fms\n", m, pct(byMsg[m], .5), pct(byMsg[m], .99))
	}
	return nil
}
