// Command build builds the tests' Jaeger (tools/jaeger) into the cache when
// it is missing and prints its path: `make jaeger`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/berthhq/berth/internal/jaegertest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := jaegertest.EnsureBinary(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
