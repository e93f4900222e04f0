// Command berth is the berth control plane: `berth serve` runs the server,
// every other subcommand is a client of its API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/local"
	"github.com/spf13/cobra"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == local.ShimCommand {
		local.RunShim(os.Args[2:]) // the first step of an isolated workload; never returns
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", berthErrorText(err))
		os.Exit(1)
	}
}

// cliEnv is what every command reads instead of globals, so tests can run
// commands in-process with their own environment and streams.
type cliEnv struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run builds the command tree and executes it with args.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &cliEnv{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func newRootCmd(e *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "berth: a control plane for services and development environments",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(e), newWorkspaceCmd(e))
	// backup.go: store maintenance, beside or instead of serve
	root.AddCommand(newBackupCmd(e), newRestoreCmd(e), newMigrateStoreCmd(e))
	root.AddCommand(newVersionCmd(e), newGenDocsCmd(e))
	addClientCommands(root, e) // client.go and friends: every command that talks to the API
	return root
}

// berthErrorText prints a server error as the server's message.
func berthErrorText(err error) string {
	if c := berth.ErrorCode(err); c != berth.EINTERNAL {
		return berth.ErrorMessage(err)
	}
	return err.Error()
}
