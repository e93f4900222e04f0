package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
)

// The test binary doubles as the workload: started with
// BERTH_LOCAL_HELPER=server it is a small HTTP server on $PORT.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ShimCommand { // as berth's own binary does
		RunShim(os.Args[2:])
	}
	if os.Getenv("BERTH_LOCAL_HELPER") == "server" {
		helperServer()
		return
	}
	os.Exit(m.Run())
}

func helperServer() {
	port := os.Getenv("PORT")
	fmt.Printf("hello from %s rev %s\n", os.Getenv("BERTH_REPLICA"), os.Getenv("BERTH_REVISION"))
	fmt.Fprintf(os.Stderr, "listening on %s\n", port)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, os.Getenv(r.URL.Query().Get("k")))
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getpid()) })
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	mux.HandleFunc("/print", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		if size, _ := strconv.Atoi(q.Get("size")); size > 0 {
			fmt.Println(strings.Repeat("x", size))
		}
		for i := range n {
			fmt.Printf("%s %d\n", q.Get("prefix"), i)
		}
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		x := 0
		for time.Now().Before(end) {
			x++
		}
		fmt.Fprint(w, x > 0)
	})
	network, addr := "tcp", "127.0.0.1:"+port
	for i, a := range os.Args[1:] { // a fake code-server: --socket PATH
		if a == "--socket" && i+2 < len(os.Args) {
			network, addr = "unix", os.Args[i+2]
		}
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	_ = http.Serve(l, mux)
}

func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find test binary: %v", err)
	}
	return exe
}

// newRuntime returns a runtime with fast timings, closed at the end of the test.
func newRuntime(t *testing.T, mutate func(*Config)) *Runtime {
	t.Helper()
	cfg := Config{
		DataDir:       t.TempDir(),
		BackoffBase:   50 * time.Millisecond,
		BackoffMax:    400 * time.Millisecond,
		StopGrace:     5 * time.Second,
		ProbeInterval: 50 * time.Millisecond,
		ReadyTimeout:  30 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// helperService is a service of n replicas of the helper server with an
// HTTP health check.
func helperService(t *testing.T, name string, n, rev int) *berth.Service {
	t.Helper()
	return &berth.Service{
		Name: name, Target: "local", Replicas: n, Revision: rev,
		Spec: berth.ServiceSpec{
			Command:     []string{testBinary(t)},
			Env:         map[string]string{"BERTH_LOCAL_HELPER": "server", "GREETING": "hello"},
			Secrets:     map[string]string{"API_TOKEN": "s3cret-token"},
			Ports:       []berth.Port{{Name: "http", Port: 8080}, {Name: "admin-api", Port: 9090}},
			HealthCheck: &berth.HealthCheck{HTTP: "/healthz"},
			Config:      berth.Config{Files: map[string]string{"app.conf": "mode=test\n"}},
		},
	}
}

func apply(t *testing.T, r *Runtime, svc *berth.Service) {
	t.Helper()
	if err := r.ApplyService(context.Background(), svc); err != nil {
		t.Fatalf("ApplyService: %v", err)
	}
}

func state(t *testing.T, r *Runtime, name string) *berth.ServiceState {
	t.Helper()
	st, err := r.ServiceState(context.Background(), berth.ServiceRef{Target: "local", Name: name})
	if err != nil {
		t.Fatalf("ServiceState %s: %v", name, err)
	}
	return st
}

func describe(st *berth.ServiceState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d/%d rev %d %q", st.Status, st.ReadyReplicas, st.Replicas, st.Revision, st.Message)
	for _, in := range st.Instances {
		fmt.Fprintf(&b, " [%s pid=%d ready=%v %s rev=%d restarts=%d exit=%q]", in.Name, in.PID, in.Ready, in.State, in.Revision, in.Restarts, in.LastExit)
	}
	return b.String()
}

// waitState waits until the service's state satisfies cond.
func waitState(t *testing.T, r *Runtime, name string, cond func(*berth.ServiceState) bool) *berth.ServiceState {
	t.Helper()
	var st *berth.ServiceState
	testutil.Eventually(t, 60*time.Second, "service "+name, func() (bool, string) {
		st = state(t, r, name)
		return cond(st), describe(st)
	})
	return st
}

func running(n, rev int) func(*berth.ServiceState) bool {
	return func(st *berth.ServiceState) bool {
		if st.Status != berth.ServiceRunning || st.ReadyReplicas != n || len(st.Instances) != n {
			return false
		}
		for _, in := range st.Instances {
			if in.Revision != rev || !in.Ready {
				return false
			}
		}
		return true
	}
}

func get(port int, path string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

func mustGet(t *testing.T, port int, path string) string {
	t.Helper()
	s, err := get(port, path)
	if err != nil {
		t.Fatalf("GET :%d%s: %v", port, path, err)
	}
	return s
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z'
}

// groupAlive reports whether any live process is in process group pgid.
func groupAlive(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil && st.PGID == pgid && st.State != 'Z' {
			return true
		}
	}
	return false
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		testutil.Eventually(t, testutil.Process, fmt.Sprintf("pid %d gone", pid), func() (bool, string) {
			return !groupAlive(pid) && !alive(pid), "still running"
		})
	}
}

func pids(st *berth.ServiceState) []int {
	var out []int
	for _, in := range st.Instances {
		out = append(out, in.PID)
	}
	return out
}
