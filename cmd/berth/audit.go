package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

func newAuditCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var q client.AuditQuery
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit log, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			l, err := c.ListAudit(f.capture(cmd.Context(), &raw), q)
			if err != nil {
				return err
			}
			if f.json() {
				return e.printRaw(raw)
			}
			t := newTable(e.stdout, "AGE", "USER", "ACTION", "RESOURCE", "TARGET", "STATUS", "DURATION", "ERROR")
			for _, a := range l.Logs {
				res := a.Resource
				if a.ResourceType != "" && res != "" {
					res = a.ResourceType + "/" + res
				}
				t.row(age(a.Timestamp), a.Username, a.Action, res, a.Target, a.Status,
					(time.Duration(a.DurationMs) * time.Millisecond).String(), a.Error)
			}
			return t.flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Type, "type", "", "only this kind of action (scale, restart, create, …)")
	fl.StringVar(&q.Status, "status", "", "completed or failed")
	fl.StringVar(&q.User, "user", "", "only this user (name or id)")
	fl.StringVar(&q.Since, "since", "", "only entries newer than a duration (1h) or an RFC 3339 time")
	fl.IntVar(&q.PageSize, "limit", 0, "at most this many entries (server default 20, at most 200)")
	fl.IntVar(&q.Page, "page", 0, "page to show (from 1)")
	return cmd
}

func newAPIKeyCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "apikey",
		Aliases: []string{"apikeys"},
		Short:   "Manage API keys",
	}
	var role string
	var days int
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API key; the key is printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			k, err := c.CreateAPIKey(f.capture(cmd.Context(), &raw), args[0], berth.Role(role), days)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stderr, "Save this key now: it is not shown again.")
			if f.json() {
				return e.printRaw(raw)
			}
			fmt.Fprintf(e.stderr, "API key %s (%s, role %s) created.\n", k.APIKey.Name, k.APIKey.ID, k.APIKey.Role)
			fmt.Fprintln(e.stdout, k.Key)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "role of the key: viewer, operator or admin (default: yours)")
	create.Flags().IntVar(&days, "expires-in-days", 0, "expire after this many days (default: never)")
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List API keys",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			keys, err := c.ListAPIKeys(f.capture(cmd.Context(), &raw))
			if err != nil {
				return err
			}
			if f.json() {
				return e.printRaw(raw)
			}
			t := newTable(e.stdout, "ID", "NAME", "ROLE", "USER", "AGE", "EXPIRES", "LAST USED")
			for _, k := range keys {
				expires, used := "never", "never"
				if k.ExpiresAt != nil {
					expires = age(*k.ExpiresAt)
				}
				if k.LastUsedAt != nil {
					used = age(*k.LastUsedAt)
				}
				t.row(k.ID, k.Name, string(k.Role), k.UserID, age(k.CreatedAt), expires, used)
			}
			return t.flush()
		},
	}
	cmd.AddCommand(create, ls, newDeleteCmd(e, f, "API key", (*client.Client).DeleteAPIKey))
	return cmd
}

// newDeleteCmd is `rm ID` for kinds that only answer an Ack.
func newDeleteCmd(e *cliEnv, f *clientFlags, kind string, del func(*client.Client, context.Context, string) (*client.Ack, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"delete"},
		Short:   "Delete " + strings.ToLower(kind[:1]) + kind[1:],
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			ack, err := del(c, f.capture(cmd.Context(), &raw), args[0])
			if err != nil {
				return err
			}
			if f.json() {
				return e.printRaw(raw)
			}
			fmt.Fprintln(e.stdout, ack.Message)
			return nil
		},
	}
}

func newUserCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "user",
		Aliases: []string{"users"},
		Short:   "Manage users (admin)",
	}
	var role string
	var passwordStdin bool
	create := &cobra.Command{
		Use:   "create USERNAME",
		Short: "Create a user; the password comes from stdin (--password-stdin), BERTH_PASSWORD or a prompt",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			password, err := readPassword(e, passwordStdin)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			u, err := c.CreateUser(f.capture(cmd.Context(), &raw), args[0], password, berth.Role(role))
			if err != nil {
				return err
			}
			if f.json() {
				return e.printRaw(raw)
			}
			fmt.Fprintf(e.stdout, "User %s (%s) created with role %s\n", u.Username, u.ID, u.Role)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", string(berth.RoleViewer), "viewer, operator or admin")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List users",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			users, err := c.ListUsers(f.capture(cmd.Context(), &raw))
			if err != nil {
				return err
			}
			if f.json() {
				return e.printRaw(raw)
			}
			t := newTable(e.stdout, "ID", "USERNAME", "ROLE", "AGE")
			for _, u := range users {
				t.row(u.ID, u.Username, string(u.Role), age(u.CreatedAt))
			}
			return t.flush()
		},
	}
	cmd.AddCommand(create, ls, newDeleteCmd(e, f, "User", (*client.Client).DeleteUser))
	return cmd
}
