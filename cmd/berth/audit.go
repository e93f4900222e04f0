package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
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
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				l, err := c.ListAudit(ctx, q)
				if err != nil {
					return nil, err
				}
				return func() error {
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
				}, nil
			})
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

// newAdminCmd is the parent of the commands that manage one kind (API keys,
// users): create, ls and rm.
func newAdminCmd(e *cliEnv, f *clientFlags, use, short, kind string, create, ls *cobra.Command,
	del func(*client.Client, context.Context, string) (*api.Ack, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Aliases: []string{use + "s"},
		Short:   short,
	}
	cmd.AddCommand(create, ls, newDeleteCmd(e, f, kind, del))
	return cmd
}

func newAPIKeyCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var role string
	var days int
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API key; the key is printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				k, err := c.CreateAPIKey(ctx, args[0], berth.Role(role), days)
				if err != nil {
					return nil, err
				}
				fmt.Fprintln(e.stderr, "Save this key now: it is not shown again.")
				return func() error {
					fmt.Fprintf(e.stderr, "API key %s (%s, role %s) created.\n", k.APIKey.Name, k.APIKey.ID, k.APIKey.Role)
					fmt.Fprintln(e.stdout, k.Key)
					return nil
				}, nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "role of the key: viewer, operator or admin (default: yours)")
	create.Flags().IntVar(&days, "expires-in-days", 0, "expire after this many days (default: never)")
	ls := newListCmd("List API keys", func(cmd *cobra.Command) error {
		return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
			keys, err := c.ListAPIKeys(ctx)
			if err != nil {
				return nil, err
			}
			return func() error {
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
			}, nil
		})
	})
	return newAdminCmd(e, f, "apikey", "Manage API keys", "API key", create, ls, (*client.Client).DeleteAPIKey)
}

// newDeleteCmd is `rm ID` for kinds that only answer an Ack.
func newDeleteCmd(e *cliEnv, f *clientFlags, kind string, del func(*client.Client, context.Context, string) (*api.Ack, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"delete"},
		Short:   "Delete " + strings.ToLower(kind[:1]) + kind[1:],
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				ack, err := del(c, ctx, args[0])
				if err != nil {
					return nil, err
				}
				return e.reply("%s\n", ack.Message), nil
			})
		},
	}
}

func newUserCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var role string
	var passwordStdin bool
	create := &cobra.Command{
		Use:   "create USERNAME",
		Short: "Create a user; the password comes from stdin (--password-stdin), BERTH_PASSWORD or a prompt",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				password, err := readPassword(e, passwordStdin)
				if err != nil {
					return nil, err
				}
				u, err := c.CreateUser(ctx, args[0], password, berth.Role(role))
				if err != nil {
					return nil, err
				}
				return e.reply("User %s (%s) created with role %s\n", u.Username, u.ID, u.Role), nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", string(berth.RoleViewer), "viewer, operator or admin")
	addPasswordStdinFlag(create, &passwordStdin)
	ls := newListCmd("List users", func(cmd *cobra.Command) error {
		return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
			users, err := c.ListUsers(ctx)
			if err != nil {
				return nil, err
			}
			return func() error {
				t := newTable(e.stdout, "ID", "USERNAME", "ROLE", "AGE")
				for _, u := range users {
					t.row(u.ID, u.Username, string(u.Role), age(u.CreatedAt))
				}
				return t.flush()
			}, nil
		})
	})
	return newAdminCmd(e, f, "user", "Manage users (admin)", "User", create, ls, (*client.Client).DeleteUser)
}
