package sectools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFuzzTargets(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "x_test.go"), "package x\n\nimport \"testing\"\n\nfunc FuzzB(f *testing.F) {}\nfunc FuzzA(f *testing.F) {}\nfunc TestC(t *testing.T) {}\n")
	write(t, filepath.Join(root, "p", "q", "q_test.go"), "package q\n\nimport \"testing\"\n\nfunc FuzzQ(ff *testing.F) {\n}\n// func FuzzCommented(f *testing.F) {}\n")
	write(t, filepath.Join(root, "p", "p.go"), "package p\n\nimport \"testing\"\n\nfunc FuzzNotATest(f *testing.F) {}\n")
	write(t, filepath.Join(root, "p", "testdata", "r_test.go"), "package r\n\nimport \"testing\"\n\nfunc FuzzR(f *testing.F) {}\n")
	got, err := FuzzTargets(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []FuzzTarget{{".", "FuzzA"}, {".", "FuzzB"}, {"p/q", "FuzzQ"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FuzzTargets = %v, want %v", got, want)
	}
}

// The repository's own fuzz targets are all found: `make fuzz` runs these.
func TestFuzzTargetsOfRepository(t *testing.T) {
	got, err := FuzzTargets(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	found := map[FuzzTarget]bool{}
	for _, ft := range got {
		found[ft] = true
	}
	for _, ft := range []FuzzTarget{{".", "FuzzCreateEnvironmentRequest"}, {".", "FuzzServiceSpec"}, {"httpapi", "FuzzDecode"}} {
		if !found[ft] {
			t.Errorf("%v not found in %v", ft, got)
		}
	}
}

// gosec fails on a finding, passes when the same finding is excused in
// place with its rule and a reason, and fails on an excuse without them.
func TestRunGosec(t *testing.T) {
	bin := ensure(t, Gosec)
	dir, _ := filepath.Abs(filepath.Join("testdata", "gosec"))
	for _, tc := range []struct {
		pkg  string
		fail bool
		want []string // in the report
	}{
		{"./excused", false, nil},
		{"./unexcused", true, []string{"unexcused.go:8] - G306"}},
		{"./bare", true, []string{"bare.go:8] - G306", "line 8 : column 35] - invalid nosec directive: missing rule ID", "bare.go:13] - G306", "line 13 : column 35] - invalid nosec directive: missing justification"}},
	} {
		var out bytes.Buffer
		err := RunGosec(context.Background(), bin, dir, []string{tc.pkg}, &out)
		if (err != nil) != tc.fail {
			t.Errorf("%s: err = %v, want failure %v\n%s", tc.pkg, err, tc.fail, out.Bytes())
		}
		for _, w := range tc.want {
			if !bytes.Contains(out.Bytes(), []byte(w)) {
				t.Errorf("%s: report lacks %q:\n%s", tc.pkg, w, out.Bytes())
			}
		}
	}
}

// With gosec's AI variables set in the environment, a finding is still
// not sent anywhere: the AI endpoint named there gets no request.
func TestRunGosecSendsNothing(t *testing.T) {
	bin := ensure(t, Gosec)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer srv.Close()
	t.Setenv("GOSEC_AI_PROVIDER", "gpt-5.4")
	t.Setenv("GOSEC_AI_API_KEY", "test-key")
	t.Setenv("GOSEC_AI_BASE_URL", srv.URL)
	dir, _ := filepath.Abs(filepath.Join("testdata", "gosec"))
	var out bytes.Buffer
	if err := RunGosec(context.Background(), bin, dir, []string{"./unexcused"}, &out); err == nil {
		t.Fatalf("unexcused finding passed:\n%s", out.Bytes())
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("gosec sent %d requests to the AI endpoint", n)
	}
}

// govulncheck against the local database fails on a called vulnerable
// function and passes when the vulnerable package is only imported.
func TestRunGovulncheckCalledNotImported(t *testing.T) {
	bin := ensure(t, Govulncheck)
	db, err := EnsureVulnDB(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index/db.json", "index/modules.json", "index/vulns.json", "ID/GO-2021-0113.json"} {
		if fi, err := os.Stat(filepath.Join(db, f)); err != nil || fi.Size() == 0 {
			t.Errorf("database lacks %s: %v", f, err)
		}
	}
	version, err := indexDB.Version()
	if err != nil {
		t.Fatal(err)
	}
	want, ok := pseudoVersionTime(version)
	if !ok {
		t.Fatalf("%s: not a pseudo-version", version)
	}
	var meta struct{ Modified time.Time }
	if b, err := os.ReadFile(filepath.Join(db, "index", "db.json")); err != nil {
		t.Error(err)
	} else if err := json.Unmarshal(b, &meta); err != nil || !meta.Modified.Equal(want) {
		t.Errorf("index/db.json = %s, want modified %s", b, want)
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "vuln"))
	var out bytes.Buffer
	err = RunGovulncheck(context.Background(), bin, db, dir, []string{"./called"}, &out)
	if err == nil || !strings.Contains(err.Error(), "calls the vulnerable functions") {
		t.Errorf("called: err = %v, want a called vulnerability\n%s", err, out.Bytes())
	}
	if !bytes.Contains(out.Bytes(), []byte("GO-2021-0113")) || !bytes.Contains(out.Bytes(), []byte("language.Parse")) {
		t.Errorf("called: report does not name GO-2021-0113 and language.Parse:\n%s", out.Bytes())
	}
	out.Reset()
	if err := RunGovulncheck(context.Background(), bin, db, dir, []string{"./imported"}, &out); err != nil {
		t.Errorf("imported only: %v\n%s", err, out.Bytes())
	}
}

func ensure(t *testing.T, tool Tool) string {
	t.Helper()
	bin, err := tool.Ensure(context.Background(), os.Stderr)
	if errors.Is(err, ErrNoGo) && os.Getenv("CI") != "true" {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPseudoVersionTime(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Time
		ok   bool
	}{
		{"v0.0.0-20261105234957-e22db6528018", time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC), true},
		{"v1.9.0", time.Time{}, false},
		{"v0.0.0-2026110523495-e22db6528018", time.Time{}, false},
	} {
		got, ok := pseudoVersionTime(tc.v)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("pseudoVersionTime(%s) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// What go test -fuzz printed when go.dev/issue/75804 failed a clean run in
// CI (FuzzServiceSpec, go1.26.8).
const stallOutput = `fuzz: elapsed: 9s, execs: 535154 (56762/sec), new interesting: 4 (total: 392)
fuzz: elapsed: 10s, execs: 589195 (53292/sec), new interesting: 4 (total: 392)
--- FAIL: FuzzServiceSpec (10.05s)
    context deadline exceeded
FAIL
exit status 1
`

// A run that failed only by the coordinator's own deadline is run again, a
// bounded number of times; one that found an input, or failed another way,
// is not.
func TestRunFuzzRepeatsOnlyCoordinatorStalls(t *testing.T) {
	crash := "--- FAIL: FuzzServiceSpec (0.12s)\n    --- FAIL: FuzzServiceSpec (0.00s)\n        x_test.go:9: bad\n\n    Failing input written to testdata/fuzz/FuzzServiceSpec/abc\n"
	for _, tc := range []struct {
		name   string
		runs   []string // each run's output; "" passes
		write  bool     // a failing run writes an input file
		fail   bool
		wantRn int
	}{
		{name: "pass", runs: []string{""}, wantRn: 1},
		{name: "stall then pass", runs: []string{stallOutput, ""}, wantRn: 2},
		{name: "stall every time", runs: []string{stallOutput, stallOutput, stallOutput, ""}, fail: true, wantRn: 3},
		{name: "crash", runs: []string{crash, ""}, write: true, fail: true, wantRn: 1},
		{name: "stall text but an input written", runs: []string{stallOutput, ""}, write: true, fail: true, wantRn: 1},
		{name: "another target's stall", runs: []string{strings.ReplaceAll(stallOutput, "FuzzServiceSpec", "FuzzOther"), ""}, fail: true, wantRn: 1},
		{name: "build failure", runs: []string{"x_test.go:3:1: syntax error\nFAIL\n", ""}, fail: true, wantRn: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs := filepath.Join(t.TempDir(), "testdata", "fuzz", "FuzzServiceSpec")
			var out bytes.Buffer
			n := 0
			err := runFuzz(context.Background(), inputs, "FuzzServiceSpec", &out, func(w io.Writer) error {
				o := tc.runs[n]
				n++
				if o == "" {
					return nil
				}
				if tc.write {
					write(t, filepath.Join(inputs, fmt.Sprintf("input%d", n)), "go test fuzz v1\n")
				}
				_, _ = io.WriteString(w, o)
				return errors.New("exit status 1")
			})
			if (err != nil) != tc.fail || n != tc.wantRn {
				t.Fatalf("runFuzz = %v after %d runs, want failure %v after %d\n%s", err, n, tc.fail, tc.wantRn, out.String())
			}
			if again := strings.Count(out.String(), "running it again"); again != tc.wantRn-1 {
				t.Errorf("%d repeats announced for %d runs:\n%s", again, n, out.String())
			}
		})
	}
}

// With the real go test: a target that fails is reported once, and its
// failing input is written where the plain test run reads it.
func TestRunFuzzReportsAFailingInput(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"go.mod", "crash_test.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzzcrash", f))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(root, f), string(b))
	}
	var out bytes.Buffer
	err := RunFuzz(context.Background(), root, FuzzTarget{Dir: ".", Name: "FuzzCrash"}, 20*time.Second, &out)
	if err == nil {
		t.Fatalf("RunFuzz passed on a crashing target:\n%s", out.String())
	}
	if strings.Contains(out.String(), "running it again") {
		t.Errorf("a run that found an input was repeated:\n%s", out.String())
	}
	entries, _ := os.ReadDir(filepath.Join(root, "testdata", "fuzz", "FuzzCrash"))
	if len(entries) != 1 {
		t.Errorf("%d failing inputs written, want 1:\n%s", len(entries), out.String())
	}
}
