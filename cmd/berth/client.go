package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

const defaultServerURL = "http://127.0.0.1:8080"

// clientFlags are the persistent flags every API command shares.
type clientFlags struct {
	server string
	output string // "" (tables) or "json"
}

// addClientCommands adds every command that is a client of the API.
func addClientCommands(root *cobra.Command, e *cliEnv) {
	f := &clientFlags{}
	root.PersistentFlags().StringVar(&f.server, "server", "", "berth server URL (env BERTH_URL, else the saved login, else "+defaultServerURL+")")
	root.PersistentFlags().StringVarP(&f.output, "output", "o", "", "output format: json prints the API's answer (default: tables); usage also takes csv")
	root.AddCommand(
		newLoginCmd(e, f),
		newLogoutCmd(e, f),
		newWhoamiCmd(e, f),
		newEnvCmd(e, f),
		newSvcCmd(e, f),
		newAuditCmd(e, f),
		newAPIKeyCmd(e, f),
		newUserCmd(e, f),
		newTargetsCmd(e, f),
		newPredictCmd(e, f),
		newRecCmd(e, f),
		newChatCmd(e, f),
		newQuotaCmd(e, f),
		newUsageCmd(e, f),
	)
}

// cliConfig is the saved login: $BERTH_CONFIG or ~/.config/berth/config.json.
type cliConfig struct {
	Server   string `json:"server,omitempty"`
	Token    string `json:"token,omitempty"`
	Username string `json:"username,omitempty"`
}

func configPath(getenv func(string) string) (string, error) {
	if p := getenv("BERTH_CONFIG"); p != "" {
		return p, nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the config file: set BERTH_CONFIG or HOME: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".config", "berth", "config.json"), nil
}

// loadCLIConfig reads the saved login; a missing file is an empty config.
func loadCLIConfig(getenv func(string) string) (*cliConfig, string, error) {
	path, err := configPath(getenv)
	if err != nil {
		return nil, "", err
	}
	cfg := &cliConfig{}
	b, err := os.ReadFile(path) // #nosec G304 -- the CLI's own configuration file
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, path, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, cfg); err != nil {
		return nil, "", fmt.Errorf("read config %s: %w", path, err)
	}
	return cfg, path, nil
}

// save writes the config readable by its owner only: it holds a token.
func (c *cliConfig) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	// WriteFile keeps the mode of an existing file: force it.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// serverURL picks the server: --server, BERTH_URL, the saved login, the default.
func (f *clientFlags) serverURL(e *cliEnv, cfg *cliConfig) string {
	for _, u := range []string{f.server, e.getenv("BERTH_URL"), cfg.Server} {
		if u != "" {
			return strings.TrimRight(u, "/")
		}
	}
	return defaultServerURL
}

// newClient returns a client of the chosen server with BERTH_TOKEN or the
// saved token.
func (f *clientFlags) newClient(e *cliEnv) (*client.Client, error) {
	cfg, _, err := loadCLIConfig(e.getenv)
	if err != nil {
		return nil, err
	}
	if f.output != "" && f.output != "json" {
		return nil, berth.Invalid("output", "must be json or empty, got %q", f.output)
	}
	token := e.getenv("BERTH_TOKEN")
	if token == "" {
		token = cfg.Token
	}
	return newAPIClient(f.serverURL(e, cfg), token), nil
}

// newAPIClient is a client of server that sends token (if any).
func newAPIClient(server, token string) *client.Client {
	return client.New(server, token, client.WithUserAgent("berth-cli/"+version))
}

func (f *clientFlags) json() bool { return f.output == "json" }

// call makes the API call of a command: do runs with a client and a context
// that captures the API's answer; with -o json that raw answer is printed,
// else the human output do returns. Steps such as --wait belong in do,
// before it returns the printer.
func (f *clientFlags) call(cmd *cobra.Command, e *cliEnv, do func(ctx context.Context, c *client.Client) (human func() error, err error)) error {
	c, err := f.newClient(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	human, err := do(f.capture(cmd.Context(), &raw), c)
	if err != nil {
		return err
	}
	if f.json() {
		return e.printRaw(raw)
	}
	return human()
}

// capture returns a context under which the client keeps the API's answer
// in raw, when -o json asks for it.
func (f *clientFlags) capture(ctx context.Context, raw *json.RawMessage) context.Context {
	if !f.json() {
		return ctx
	}
	return client.WithRawBody(ctx, raw)
}

// newListCmd is `ls` (alias list) of the commands that take no argument.
func newListCmd(short string, run func(cmd *cobra.Command) error) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   short,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
}

// newActionCmd is a command on one environment or service that can --wait
// (start, stop, restart, rollback); run gets the argument and the wait flags.
func newActionCmd(use, short string, run func(cmd *cobra.Command, arg string, w waitFlags) error) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return run(cmd, args[0], w) },
	}
	addWaitFlags(cmd, &w)
	return cmd
}

// reply is a human output of one formatted text on stdout, for call.
func (e *cliEnv) reply(format string, a ...any) func() error {
	return func() error {
		fmt.Fprintf(e.stdout, format, a...)
		return nil
	}
}

// printRaw prints the API's JSON answer indented.
func (e *cliEnv) printRaw(raw json.RawMessage) error {
	var buf bytes.Buffer
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("print answer: %w", err)
	}
	buf.WriteByte('\n')
	_, err := e.stdout.Write(buf.Bytes())
	return err
}

// printJSON prints a value as indented JSON (for values the client built,
// such as a followed log line).
func (e *cliEnv) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("print answer: %w", err)
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// pollInterval is how often --wait asks the server; BERTH_POLL_INTERVAL
// (a Go duration) shortens it in tests.
func pollInterval(e *cliEnv) time.Duration {
	if d, err := time.ParseDuration(e.getenv("BERTH_POLL_INTERVAL")); err == nil && d > 0 {
		return d
	}
	return time.Second
}

// parseKV parses K=V pairs of a repeated flag.
func parseKV(flag string, pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, berth.Invalid(flag, "want KEY=VALUE, got %q", p)
		}
		m[k] = v
	}
	return m, nil
}
