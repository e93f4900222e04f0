package main

import (
	"encoding/json"
	"fmt"
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
		newEnvActionCmd(e, f, "start"), newEnvActionCmd(e, f, "stop"), newEnvRmCmd(e, f))
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
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			req.Name = args[0]
			if req.Env, err = parseKV("env", env); err != nil {
				return err
			}
			var raw json.RawMessage
			ctx := f.capture(cmd.Context(), &raw)
			created, err := c.CreateEnvironment(ctx, req)
			if err != nil {
				return err
			}
			if w.wait {
				if err := waitEnv(ctx, e, c, created.ID, berth.EnvRunning, w.timeout); err != nil {
					return err
				}
				if created, err = c.GetEnvironment(ctx, created.ID); err != nil {
					return err
				}
			}
			if f.json() {
				return e.printRaw(raw)
			}
			fmt.Fprintf(e.stdout, "Environment %s (%s) %s\n", created.Name, created.ID, created.Status)
			if created.VSCodeURL != "" {
				fmt.Fprintf(e.stdout, "URL: %s\n", created.VSCodeURL)
			}
			return nil
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
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List environments",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			l, err := c.ListEnvironments(f.capture(cmd.Context(), &raw), o)
			if err != nil {
				return err
			}
			if f.json() {
				return e.printRaw(raw)
			}
			t := newTable(e.stdout, "ID", "NAME", "STATUS", "TARGET", "CPU", "MEM", "URL", "AGE")
			for _, env := range l.Environments {
				t.row(env.ID, env.Name, string(env.Status), env.Target, itoa(env.CPUCores), fmt.Sprintf("%dG", env.MemoryGB), env.VSCodeURL, age(env.CreatedAt))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if l.Total > len(l.Environments) {
				fmt.Fprintf(e.stderr, "showing %d of %d (--page, --page-size)\n", len(l.Environments), l.Total)
			}
			return nil
		},
	}
	addPageFlags(cmd, &o)
	return cmd
}

func addPageFlags(cmd *cobra.Command, o *client.ListOptions) {
	cmd.Flags().IntVar(&o.Page, "page", 0, "page to show (from 1)")
	cmd.Flags().IntVar(&o.PageSize, "page-size", 0, "entries per page (server default 20, at most 200)")
}

func newEnvGetCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show an environment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			env, err := c.GetEnvironment(f.capture(cmd.Context(), &raw), args[0])
			if err != nil {
				return err
			}
			if f.json() {
				return e.printRaw(raw)
			}
			return printEnv(e, env)
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
	var w waitFlags
	want, call := berth.EnvRunning, (*client.Client).StartEnvironment
	if action == "stop" {
		want, call = berth.EnvStopped, (*client.Client).StopEnvironment
	}
	cmd := &cobra.Command{
		Use:   action + " ID",
		Short: map[string]string{"start": "Start a stopped environment", "stop": "Stop an environment, keeping its workspace"}[action],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ctx := f.capture(cmd.Context(), &raw)
			ack, err := call(c, ctx, args[0])
			if err != nil {
				return err
			}
			if w.wait {
				if err := waitEnv(ctx, e, c, args[0], want, w.timeout); err != nil {
					return err
				}
			}
			if f.json() {
				return e.printRaw(raw)
			}
			fmt.Fprintln(e.stdout, ack.Message)
			return nil
		},
	}
	addWaitFlags(cmd, &w)
	return cmd
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
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ack, err := c.DeleteEnvironment(f.capture(cmd.Context(), &raw), args[0], keep)
			if err != nil {
				return err
			}
			if w.wait {
				// Not captured: the answer to print is the delete's.
				if err := waitEnv(cmd.Context(), e, c, args[0], "", w.timeout); err != nil {
					return err
				}
			}
			if f.json() {
				return e.printRaw(raw)
			}
			fmt.Fprintln(e.stdout, ack.Message)
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep-volume", false, "keep the workspace volume")
	addWaitFlags(cmd, &w)
	return cmd
}
