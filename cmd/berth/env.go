package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

func newEnvCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "env",
		Aliases: []string{"envs", "environment", "environments"},
		Short:   "Manage development environments",
	}
	cmd.AddCommand(newEnvCreateCmd(e, f), newEnvListCmd(e, f), newEnvGetCmd(e, f),
		newEnvActionCmd(e, f, "start"), newEnvActionCmd(e, f, "stop"), newEnvRmCmd(e, f), newEnvOpenCmd(e, f))
	return cmd
}

func addWaitFlags(cmd *cobra.Command, w *waitFlags) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "wait until the change is done")
	cmd.Flags().DurationVar(&w.timeout, "timeout", 5*time.Minute, "how long --wait waits")
}

func newEnvCreateCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var req berth.CreateEnvironmentRequest
	var env []string
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an environment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				req.Name = args[0]
				var err error
				if req.Env, err = parseKV("env", env); err != nil {
					return nil, err
				}
				created, err := c.CreateEnvironment(ctx, req)
				if err != nil {
					return nil, err
				}
				if w.wait {
					if err := waitEnv(ctx, e, c, created.ID, berth.EnvRunning, w.timeout); err != nil {
						return nil, err
					}
					if created, err = c.GetEnvironment(ctx, created.ID); err != nil {
						return nil, err
					}
				}
				return func() error {
					fmt.Fprintf(e.stdout, "Environment %s (%s) %s\n", created.Name, created.ID, created.Status)
					if created.VSCodeURL != "" {
						fmt.Fprintf(e.stdout, "URL: %s\n", created.VSCodeURL)
					}
					return nil
				}, nil
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&req.CPUCores, "cpu", berth.DefaultCPUCores, "CPU cores (1-4)")
	fl.IntVar(&req.MemoryGB, "memory", berth.DefaultMemoryGB, "memory in GB (1-16)")
	fl.IntVar(&req.StorageGB, "storage", berth.DefaultStorageGB, "storage in GB (10-100)")
	fl.StringVar(&req.CloudProvider, "provider", "", "cloud provider: LOCAL, KUBERNETES or AZURE (default: the default target's)")
	fl.StringVar(&req.CloudRegion, "region", "", "cloud region")
	fl.StringVar(&req.Target, "target", "", "target to run on (wins over --provider/--region)")
	fl.StringVar(&req.Template, "template", "", "workspace template")
	fl.StringVar(&req.BaseImage, "image", "", "base image")
	fl.IntVar(&req.AutoStopMinutes, "auto-stop", 0, "stop after this many idle minutes (0: the server's default)")
	fl.StringArrayVar(&env, "env", nil, "environment variable KEY=VALUE (repeatable)")
	addWaitFlags(cmd, &w)
	return cmd
}

func newEnvListCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var o client.ListOptions
	cmd := newListCmd("List environments", func(cmd *cobra.Command) error {
		return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
			l, err := c.ListEnvironments(ctx, o)
			if err != nil {
				return nil, err
			}
			return func() error {
				t := newTable(e.stdout, "ID", "NAME", "STATUS", "TARGET", "CPU", "MEM", "URL", "AGE")
				for _, env := range l.Environments {
					t.row(env.ID, env.Name, string(env.Status), env.Target, itoa(env.CPUCores), fmt.Sprintf("%dG", env.MemoryGB), env.VSCodeURL, age(env.CreatedAt))
				}
				return flushPage(e, t, len(l.Environments), l.Total)
			}, nil
		})
	})
	addPageFlags(cmd, &o)
	return cmd
}

func addPageFlags(cmd *cobra.Command, o *client.ListOptions) {
	cmd.Flags().IntVar(&o.Page, "page", 0, "page to show (from 1)")
	cmd.Flags().IntVar(&o.PageSize, "page-size", 0, "entries per page (server default 20, at most 200)")
}

func newEnvOpenCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "open ID",
		Short: "Print a link that opens the environment in a browser (single use, valid for a minute)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				o, err := c.OpenEnvironment(ctx, args[0])
				if err != nil {
					return nil, err
				}
				return func() error {
					fmt.Fprintln(e.stdout, o.URL)
					if o.ExpiresAt != nil {
						fmt.Fprintf(e.stderr, "Open it before %s; it works once. curl and scripts may send Authorization: Bearer to %s instead.\n",
							o.ExpiresAt.Local().Format(time.TimeOnly), strings.SplitN(o.URL, "?", 2)[0])
					}
					return nil
				}, nil
			})
		},
	}
}

func newEnvGetCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show an environment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				env, err := c.GetEnvironment(ctx, args[0])
				if err != nil {
					return nil, err
				}
				return func() error { return printEnv(e, env) }, nil
			})
		},
	}
}

func printEnv(e *cliEnv, env *berth.Environment) error {
	autoStop := ""
	if env.AutoStopMinutes > 0 {
		autoStop = fmt.Sprintf("%dm idle", env.AutoStopMinutes)
	}
	placement := env.CloudProvider
	if env.CloudRegion != "" {
		placement += " " + env.CloudRegion
	}
	return fields(e.stdout,
		"ID", env.ID,
		"Name", env.Name,
		"Status", string(env.Status),
		"Message", env.Message,
		"Target", env.Target,
		"Provider", placement,
		"Template", env.Template,
		"Image", env.BaseImage,
		"Resources", fmt.Sprintf("%d CPU, %d GB memory, %d GB storage", env.CPUCores, env.MemoryGB, env.StorageGB),
		"URL", env.VSCodeURL,
		"Auto-stop", autoStop,
		"Owner", env.UserID,
		"Created", when(env.CreatedAt),
		"Last access", when(env.LastAccessedAt),
	)
}

// newEnvActionCmd is start or stop.
func newEnvActionCmd(e *cliEnv, f *clientFlags, action string) *cobra.Command {
	want, call := berth.EnvRunning, (*client.Client).StartEnvironment
	if action == "stop" {
		want, call = berth.EnvStopped, (*client.Client).StopEnvironment
	}
	short := map[string]string{"start": "Start a stopped environment", "stop": "Stop an environment, keeping its workspace"}[action]
	return newActionCmd(action+" ID", short, func(cmd *cobra.Command, id string, w waitFlags) error {
		return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
			ack, err := call(c, ctx, id)
			if err != nil {
				return nil, err
			}
			if w.wait {
				if err := waitEnv(ctx, e, c, id, want, w.timeout); err != nil {
					return nil, err
				}
			}
			return e.reply("%s\n", ack.Message), nil
		})
	})
}

func newEnvRmCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var w waitFlags
	var keep bool
	cmd := &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"delete"},
		Short:   "Delete an environment and, unless --keep-volume, its workspace",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				ack, err := c.DeleteEnvironment(ctx, args[0], keep)
				if err != nil {
					return nil, err
				}
				if w.wait {
					// Not captured: the answer to print is the delete's.
					if err := waitEnv(cmd.Context(), e, c, args[0], "", w.timeout); err != nil {
						return nil, err
					}
				}
				return e.reply("%s\n", ack.Message), nil
			})
		},
	}
	cmd.Flags().BoolVar(&keep, "keep-volume", false, "keep the workspace volume")
	addWaitFlags(cmd, &w)
	return cmd
}
