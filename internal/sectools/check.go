package sectools

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// RunGosec runs the gosec binary in dir with args (flags, then package
// patterns), over the packages but not their tests, writing its report to
// out. It fails on a finding that no `// #nosec G### -- reason` excuses, and
// on an excuse that does not name its rules or give a reason (gosec's
// -nosec-require-rules and -nosec-require-justification).
func RunGosec(ctx context.Context, bin, dir string, args []string, out io.Writer) error {
	args = append([]string{"-quiet", "-fmt=text", "-color=false", "-exclude-generated", "-nosec-require-rules", "-nosec-require-justification"}, args...)
	cmd := exec.CommandContext(ctx, bin, args...) // #nosec G204 -- bin is the gosec built by Tool.Ensure
	cmd.Dir = dir
	// GOSEC_AI_PROVIDER would have gosec send the flagged code to an AI
	// service for fixes: the code stays here.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOSEC_AI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gosec: %w: fix each finding above, or excuse it in place with `// #nosec G### -- reason`", err)
	}
	return nil
}

// RunGovulncheck runs govulncheck at symbol level over pkgs (relative to
// dir) against the database in db. govulncheck fails when our code can reach
// a vulnerable function; a vulnerable package that is only imported, or a
// vulnerable module that is only required, is reported but does not fail.
func RunGovulncheck(ctx context.Context, bin, db, dir string, pkgs []string, out io.Writer) error {
	args := append([]string{"-db", "file://" + db, "-scan", "symbol"}, pkgs...)
	cmd := exec.CommandContext(ctx, bin, args...) // #nosec G204 -- bin is the govulncheck built by Tool.Ensure
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			return fmt.Errorf("govulncheck: our code calls the vulnerable functions above: upgrade each module (for the standard library: Go) to its \"Fixed in\" version")
		}
		return fmt.Errorf("govulncheck %s: %w", strings.Join(pkgs, " "), err)
	}
	return nil
}

// walkGo calls fn for every .go file under root, skipping what the go
// command skips in ./... (testdata, hidden and underscore directories) and
// node_modules.
func walkGo(root string, fn func(path string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") {
			return fn(path)
		}
		return nil
	})
}

// FuzzTarget is one fuzz test: its package directory (relative to the
// module root, "." for the root package) and its name.
type FuzzTarget struct {
	Dir, Name string
}

var fuzzRE = regexp.MustCompile(`^func (Fuzz\w*)\(\w+ \*testing\.F\)`)

// FuzzTargets finds every fuzz test in the _test.go files under root,
// sorted by package and name.
func FuzzTargets(root string) ([]FuzzTarget, error) {
	var targets []FuzzTarget
	err := walkGo(root, func(path string) error {
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path) // #nosec G304 -- a Go file of this repository
		if err != nil {
			return err
		}
		defer f.Close()
		dir, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			if m := fuzzRE.FindStringSubmatch(sc.Text()); m != nil {
				targets = append(targets, FuzzTarget{Dir: filepath.ToSlash(dir), Name: m[1]})
			}
		}
		return sc.Err()
	})
	sort.Slice(targets, func(i, j int) bool {
		if targets[i].Dir != targets[j].Dir {
			return targets[i].Dir < targets[j].Dir
		}
		return targets[i].Name < targets[j].Name
	})
	return targets, err
}

// RunFuzz fuzzes one target for d. A failing input is written by go test
// under the package's testdata/fuzz/<Name>/ (commit it: it becomes a
// regression case of the plain test run).
//
// Go's fuzz coordinator before go1.27 can fail a clean run with a bare
// "context deadline exceeded" when the -fuzztime deadline catches a worker
// mid-call (go.dev/issue/75804, fixed in go1.27): no input failed and none
// was written. Such a run is repeated, up to fuzzStallRetries times; a run
// that wrote a failing input, or failed any other way, never is.
func RunFuzz(ctx context.Context, root string, t FuzzTarget, d time.Duration, out io.Writer) error {
	pkg := "./" + t.Dir
	if t.Dir == "." {
		pkg = "."
	}
	err := runFuzz(ctx, filepath.Join(root, t.Dir, "testdata", "fuzz", t.Name), t.Name, out, func(w io.Writer) error {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+t.Name+"$", "-fuzztime", d.String(), pkg) // #nosec G204 -- t comes from FuzzTargets: a package directory and a Go identifier
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = w, w
		return cmd.Run()
	})
	if err != nil {
		return fmt.Errorf("fuzz %s in %s: %w", t.Name, pkg, err)
	}
	return nil
}

const fuzzStallRetries = 2

// runFuzz runs once (one go test -fuzz, writing to the writer it is given)
// and repeats it while it fails only by the coordinator's own deadline.
// inputs is the directory go test writes the target's failing inputs to.
func runFuzz(ctx context.Context, inputs, name string, out io.Writer, once func(io.Writer) error) error {
	for attempt := 0; ; attempt++ {
		before := fileNames(inputs)
		var buf bytes.Buffer
		err := once(io.MultiWriter(out, &buf))
		if err == nil {
			return nil
		}
		if attempt == fuzzStallRetries || ctx.Err() != nil || !coordinatorStall(buf.String(), name) || wroteInput(inputs, before) {
			return err
		}
		fmt.Fprintf(out, "-- %s stopped on the fuzz coordinator's own deadline with no failing input (go.dev/issue/75804); running it again\n", name)
	}
}

// coordinatorStall reports whether a failed go test -fuzz run's output is
// that of go.dev/issue/75804: the target failed with "context deadline
// exceeded" as its only message, and no failing input was written.
func coordinatorStall(out, name string) bool {
	re := regexp.MustCompile(`(?m)^--- FAIL: ` + regexp.QuoteMeta(name) + ` \([0-9.]+s\)\n\s+context deadline exceeded\n`)
	return re.MatchString(out) && !strings.Contains(out, "Failing input written to")
}

func fileNames(dir string) map[string]bool {
	names := map[string]bool{}
	entries, _ := os.ReadDir(dir) // a missing directory holds no inputs
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

func wroteInput(dir string, before map[string]bool) bool {
	for n := range fileNames(dir) {
		if !before[n] {
			return true
		}
	}
	return false
}
