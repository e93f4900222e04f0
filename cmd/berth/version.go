package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// Stamped at build time by `make build|image|release|package` and the
// Dockerfile (-ldflags "-X main.version=… -X main.commit=… -X main.date=…").
var (
	commit = "unknown"
	date   = "unknown"
)

func newVersionCmd(e *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print berth's version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(e.stdout, "berth %s\ncommit: %s\nbuilt: %s\ngo: %s %s/%s\n",
				version, commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
