package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newLoginCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var username string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a berth server and save the session token",
		Long: "Log in and save the server URL and session token to $BERTH_CONFIG or ~/.config/berth/config.json (mode 0600).\n" +
			"The password comes from stdin with --password-stdin, else from BERTH_PASSWORD, else a prompt.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := loadCLIConfig(e.getenv)
			if err != nil {
				return err
			}
			password, err := readPassword(e, passwordStdin)
			if err != nil {
				return err
			}
			server := f.serverURL(e, cfg)
			c := newAPIClient(server, "")
			res, err := c.Login(cmd.Context(), username, password)
			if err != nil {
				return err
			}
			cfg.Server, cfg.Token, cfg.Username = server, res.Token, res.User.Username
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Logged in to %s as %s (%s)\n", server, res.User.Username, res.User.Role)
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "admin", "user to log in as")
	addPasswordStdinFlag(cmd, &passwordStdin)
	return cmd
}

func addPasswordStdinFlag(cmd *cobra.Command, fromStdin *bool) {
	cmd.Flags().BoolVar(fromStdin, "password-stdin", false, "read the password from stdin")
}

// readPassword reads the first line of stdin (--password-stdin or the
// prompt) or takes BERTH_PASSWORD.
func readPassword(e *cliEnv, fromStdin bool) (string, error) {
	if !fromStdin {
		if p := e.getenv("BERTH_PASSWORD"); p != "" {
			return p, nil
		}
		fmt.Fprint(e.stderr, "Password: ")
		// At a terminal, the password is read without echo.
		if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(e.stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			if len(b) == 0 {
				return "", berth.Invalid("password", "is empty")
			}
			return string(b), nil
		}
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password: %w", err)
	}
	p := strings.TrimRight(line, "\r\n")
	if p == "" {
		return "", berth.Invalid("password", "is empty")
	}
	return p, nil
}

func newLogoutCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the saved session token and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := loadCLIConfig(e.getenv)
			if err != nil {
				return err
			}
			if cfg.Token == "" {
				fmt.Fprintln(e.stdout, "Not logged in")
				return nil
			}
			c := newAPIClient(f.serverURL(e, cfg), cfg.Token)
			// An expired or revoked token is logged out already.
			if err := c.Logout(cmd.Context()); err != nil && !berth.IsCode(err, berth.EUNAUTHORIZED) {
				return err
			}
			cfg.Token = ""
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Logged out of %s\n", f.serverURL(e, cfg))
			return nil
		},
	}
}

func newWhoamiCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the user behind the current credential",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				u, err := c.Me(ctx)
				if err != nil {
					return nil, err
				}
				return e.reply("%s (%s) on %s\n", u.Username, u.Role, c.BaseURL()), nil
			})
		},
	}
}
