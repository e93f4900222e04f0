// Command build builds the tests' Loki (tools/loki) into the cache when it is
// missing and prints its path: `make loki`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/berthhq/berth/internal/lokitest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := lokitest.EnsureBinary(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
