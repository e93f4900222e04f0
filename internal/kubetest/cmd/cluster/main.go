// Command cluster starts the test cluster of internal/kubetest for manual
// use (make cluster): it prints the KUBECONFIG path and runs until Ctrl-C.
// With -build it only builds the binaries into the cache when missing
// (make test does, so that a cold build is not counted in go test's timeout).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	buildOnly := flag.Bool("build", false, "only build the cached binaries, then exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *buildOnly {
		_, err := kubetest.EnsureBinaries(ctx, os.Stderr)
		return err
	}
	start := time.Now()
	c, err := kubetest.Start(ctx, os.Stderr)
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Fprintf(os.Stderr, "cluster ready in %s (node %s); Ctrl-C stops it\n", time.Since(start).Round(time.Millisecond), kubetest.NodeName)
	fmt.Printf("KUBECONFIG=%s\n", c.Kubeconfig)
	<-ctx.Done()
	return nil
}
