// Command shiptool prints the path of a pinned shipping tool (helm, nfpm,
// cyclonedx-gomod), building it into the cache first when missing:
// `$(go run ./internal/shiptools/cmd/shiptool helm) lint deploy/helm/berth`.
// With -all it builds every one (make test-tools) and prints their paths.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/berthhq/berth/internal/shiptools"
)

func main() {
	all := flag.Bool("all", false, "build every shipping tool")
	flag.Parse()
	names := flag.Args()
	if *all {
		names = shiptools.Names()
	}
	if len(names) == 0 {
		fmt.Fprintln(os.Stderr, "usage: shiptool [-all] NAME…; tools:", shiptools.Names())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, n := range names {
		bin, err := shiptools.Ensure(ctx, n, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(bin)
	}
}
