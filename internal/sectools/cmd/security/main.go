// Command security runs berth's security checks (`make security`): gosec,
// govulncheck against a local copy of the Go vulnerability database, and a
// short run of every fuzz target. The tools are built from tools/ once and
// cached under ~/.cache/berth.
//
//	go run ./internal/sectools/cmd/security [-fuzztime 10s] [tools|gosec|vulncheck|fuzz]...
//
// With no check named it runs gosec, vulncheck and fuzz; `tools` only builds
// the tools and the database, printing how long each took. Every check named
// runs even when an earlier one fails; the exit status is 1 if any failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/berthhq/berth/internal/sectools"
	"github.com/berthhq/berth/internal/toolcache"
)

func main() {
	fuzztime := flag.Duration("fuzztime", 10*time.Second, "how long each fuzz target runs")
	flag.Parse()
	checks := flag.Args()
	if len(checks) == 0 {
		checks = []string{"gosec", "vulncheck", "fuzz"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	mod, err := toolcache.Module("gosec")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	root := filepath.Dir(filepath.Dir(mod)) // tools/gosec → the repository
	failed := false
	for _, c := range checks {
		run, ok := map[string]func(context.Context, string, time.Duration) error{
			"tools":     buildTools,
			"gosec":     gosec,
			"vulncheck": vulncheck,
			"fuzz":      fuzz,
		}[c]
		if !ok {
			fmt.Fprintf(os.Stderr, "security: unknown check %q (tools, gosec, vulncheck, fuzz)\n", c)
			os.Exit(2)
		}
		fmt.Printf("== %s\n", c)
		start := time.Now()
		if err := run(ctx, root, *fuzztime); err != nil {
			fmt.Printf("== %s: FAIL after %s: %v\n", c, since(start), err)
			failed = true
			continue
		}
		fmt.Printf("== %s: ok in %s\n", c, since(start))
	}
	if failed {
		os.Exit(1)
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// buildTools builds what the checks need, timing each (cold: minutes; warm:
// nothing to do).
func buildTools(ctx context.Context, _ string, _ time.Duration) error {
	for _, t := range []sectools.Tool{sectools.Gosec, sectools.Govulncheck} {
		start := time.Now()
		bin, err := t.Ensure(ctx, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Printf("%s (%s)\n", bin, since(start))
	}
	start := time.Now()
	db, err := sectools.EnsureVulnDB(ctx, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Printf("%s (%s)\n", db, since(start))
	return nil
}

func gosec(ctx context.Context, root string, _ time.Duration) error {
	bin, err := sectools.Gosec.Ensure(ctx, os.Stderr)
	if err != nil {
		return err
	}
	// Packages under testdata are fixtures, some with findings on purpose.
	return sectools.RunGosec(ctx, bin, root, []string{"-exclude-dir=/testdata/", "./..."}, os.Stdout)
}

func vulncheck(ctx context.Context, root string, _ time.Duration) error {
	bin, err := sectools.Govulncheck.Ensure(ctx, os.Stderr)
	if err != nil {
		return err
	}
	db, err := sectools.EnsureVulnDB(ctx, os.Stderr)
	if err != nil {
		return err
	}
	return sectools.RunGovulncheck(ctx, bin, db, root, []string{"./..."}, os.Stdout)
}

func fuzz(ctx context.Context, root string, d time.Duration) error {
	targets, err := sectools.FuzzTargets(root)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return fmt.Errorf("no fuzz targets found under %s", root)
	}
	var failed []string
	for _, t := range targets {
		start := time.Now()
		fmt.Printf("-- %s %s (%s)\n", t.Dir, t.Name, d)
		if err := sectools.RunFuzz(ctx, root, t, d, os.Stdout); err != nil {
			fmt.Printf("-- %s %s: FAIL: %v\n", t.Dir, t.Name, err)
			failed = append(failed, t.Name)
			continue
		}
		fmt.Printf("-- %s %s: ok in %s\n", t.Dir, t.Name, since(start))
	}
	if len(failed) > 0 {
		return fmt.Errorf("fuzz targets failed: %v (the failing inputs are under their packages' testdata/fuzz/)", failed)
	}
	return nil
}
