package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

func newSvcLogsCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var ref berth.ServiceRef
	var q client.LogQuery
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print the logs of a service's replicas (-f to follow)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref.Name = args[0]
			show := func(l berth.LogLine) error {
				if f.json() { // one JSON object a line, as the API streams them
					b, err := json.Marshal(l)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(e.stdout, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintf(e.stdout, "[%s] %s\n", l.Replica, l.Line)
				return err
			}
			if follow { // streamed: no answer to capture
				c, err := f.newClient(e)
				if err != nil {
					return err
				}
				return c.FollowLogs(cmd.Context(), ref, q, show)
			}
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				lines, err := c.Logs(ctx, ref, q)
				if err != nil {
					return nil, err
				}
				return func() error {
					for _, l := range lines {
						if err := show(l); err != nil {
							return err
						}
					}
					return nil
				}, nil
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	fl.IntVar(&q.Tail, "tail", 0, "lines from the end (default: the server's, 100)")
	fl.StringVar(&q.Since, "since", "", "only lines newer than a duration (5m) or an RFC 3339 time")
	fl.BoolVar(&q.Previous, "previous", false, "the previous run of each replica")
	fl.StringVar(&q.Replica, "replica", "", "only this replica")
	addRefFlags(cmd, &ref)
	return cmd
}

func newSvcConfigCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var ref berth.ServiceRef
	var setFiles, setEnv, unsetEnv, rmFiles []string
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "config NAME",
		Short: "Show a service's config files and environment, or change them (--set-file, --set-env)",
		Long: "Without --set-*/--unset-env/--rm-file it prints the configuration; with them it changes\n" +
			"the named entries, keeps the others and makes a new revision.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref.Name = args[0]
			change := len(setFiles)+len(setEnv)+len(unsetEnv)+len(rmFiles) > 0
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				getCtx := ctx
				if change { // the answer to print is the update's
					getCtx = cmd.Context()
				}
				cur, err := c.GetConfig(getCtx, ref)
				if err != nil {
					return nil, err
				}
				if !change {
					return func() error { return printConfig(e, cur) }, nil
				}
				files, env, err := mergeConfig(cur, setFiles, rmFiles, setEnv, unsetEnv)
				if err != nil {
					return nil, err
				}
				return svcChange(ctx, e, c, ref, w, svcReady, func(c *client.Client, ctx context.Context) (*api.ServiceResult, error) {
					return c.UpdateConfig(ctx, ref, files, env)
				})
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&setFiles, "set-file", nil, "set config file NAME from a local file: NAME=PATH (repeatable)")
	fl.StringArrayVar(&rmFiles, "rm-file", nil, "remove config file NAME (repeatable)")
	fl.StringArrayVar(&setEnv, "set-env", nil, "set environment variable KEY=VALUE (repeatable)")
	fl.StringArrayVar(&unsetEnv, "unset-env", nil, "remove environment variable KEY (repeatable)")
	addRefFlags(cmd, &ref)
	addWaitFlags(cmd, &w)
	return cmd
}

// mergeConfig applies the changes to the current config. The API replaces
// files and env wholesale, so only the parts that change are sent (nil
// leaves the other part alone).
func mergeConfig(cur *api.ServiceConfig, setFiles, rmFiles, setEnv, unsetEnv []string) (files, env map[string]string, err error) {
	if len(setFiles)+len(rmFiles) > 0 {
		paths, err := parseKV("set-file", setFiles)
		if err != nil {
			return nil, nil, err
		}
		files = map[string]string{}
		for k, v := range cur.Config.Files {
			files[k] = v
		}
		for name, path := range paths {
			b, err := os.ReadFile(path) // #nosec G304 -- the CLI reads the file its user names
			if err != nil {
				return nil, nil, fmt.Errorf("read config file %s: %w", name, err)
			}
			files[name] = string(b)
		}
		for _, name := range rmFiles {
			if _, ok := files[name]; !ok {
				return nil, nil, berth.Invalid("rm-file", "no config file %q", name)
			}
			delete(files, name)
		}
	}
	if len(setEnv)+len(unsetEnv) > 0 {
		set, err := parseKV("set-env", setEnv)
		if err != nil {
			return nil, nil, err
		}
		env = map[string]string{}
		for k, v := range cur.Env {
			env[k] = v
		}
		for k, v := range set {
			env[k] = v
		}
		for _, k := range unsetEnv {
			delete(env, k)
		}
	}
	return files, env, nil
}

func printConfig(e *cliEnv, cfg *api.ServiceConfig) error {
	fmt.Fprintf(e.stdout, "Revision: %d\n", cfg.Revision)
	if len(cfg.Env) > 0 {
		fmt.Fprintln(e.stdout, "\nEnvironment:")
		for _, k := range sortedKeys(cfg.Env) {
			fmt.Fprintf(e.stdout, "  %s=%s\n", k, cfg.Env[k])
		}
	}
	for _, name := range sortedKeys(cfg.Config.Files) {
		fmt.Fprintf(e.stdout, "\n--- %s\n", name)
		body := cfg.Config.Files[name]
		fmt.Fprint(e.stdout, body)
		if !strings.HasSuffix(body, "\n") {
			fmt.Fprintln(e.stdout)
		}
	}
	return nil
}

func readAll(e *cliEnv) ([]byte, error) { return io.ReadAll(e.stdin) }
