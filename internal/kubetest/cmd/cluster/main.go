// Command cluster starts the test cluster of internal/kubetest for manual
// use (make cluster): it prints the KUBECONFIG path and runs until Ctrl-C.
package main

import (
	"context"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
