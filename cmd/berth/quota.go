package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

// quotaFields are the limit names `berth quota set` takes, as the API
// names them.
var quotaFields = []string{"maxEnvironments", "maxRunningEnvironments", "cpuCores", "memoryGB", "storageGB",
	"maxServices", "maxReplicasPerService", "serviceCpuCores", "serviceMemoryGB"}

// quotaScope is the level --role/--user/--defaults name.
type quotaScope struct {
	role, user string
	defaults   bool
}

func (s *quotaScope) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.role, "role", "", "the level of a role (viewer, operator, admin)")
	cmd.Flags().StringVar(&s.user, "user", "", "the level of a user (username or id)")
}

// resolve returns scope and key; a username becomes its id (admins list users).
func (s *quotaScope) resolve(ctx context.Context, c *client.Client) (string, string, error) {
	switch {
	case s.role != "" && s.user != "":
		return "", "", berth.Invalid("role", "give --role or --user, not both")
	case s.role != "":
		return berth.QuotaRole, s.role, nil
	case s.user != "":
		id, err := userID(ctx, c, s.user)
		return berth.QuotaUser, id, err
	}
	return berth.QuotaDefaults, "", nil
}

// userID turns a username into a user id (an id is kept as it is).
func userID(ctx context.Context, c *client.Client, name string) (string, error) {
	users, err := c.ListUsers(ctx)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Username == name || u.ID == name {
			return u.ID, nil
		}
	}
	return "", berth.NotFound("user", name)
}

// newQuotaCmd is `berth quota get|set|rm`.
func newQuotaCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Read and set quotas (admins set; everyone reads their own)"}
	cmd.AddCommand(newQuotaGetCmd(e, f), newQuotaSetCmd(e, f), newQuotaRmCmd(e, f))
	return cmd
}

func newQuotaGetCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var user string
	var all bool
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show your limits and use (--user: another user's, --all: every level; admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				if all {
					qs, err := c.GetQuotas(ctx)
					if err != nil {
						return nil, err
					}
					return func() error { return printQuotaSet(e, qs) }, nil
				}
				id := ""
				if user != "" {
					var err error
					if id, err = userID(ctx, c, user); err != nil {
						return nil, err
					}
				}
				st, err := c.QuotaOf(ctx, id)
				if err != nil {
					return nil, err
				}
				return func() error { return printQuotaStatus(e, st) }, nil
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "another user (username or id; admins)")
	cmd.Flags().BoolVar(&all, "all", false, "every level: defaults, roles, users (admins)")
	return cmd
}

// limitMap is a level's limits by API name (set ones only).
func limitMap(l api.QuotaLimits) map[string]float64 {
	b, _ := json.Marshal(l)
	m := map[string]float64{}
	_ = json.Unmarshal(b, &m)
	return m
}

func useMap(u berth.QuotaUse) map[string]float64 {
	return map[string]float64{"maxEnvironments": float64(u.Environments), "maxRunningEnvironments": float64(u.RunningEnvironments),
		"cpuCores": u.CPUCores, "memoryGB": u.MemoryGB, "storageGB": u.StorageGB, "maxServices": float64(u.Services),
		"serviceCpuCores": u.ServiceCPUCores, "serviceMemoryGB": u.ServiceMemoryGB}
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func printQuotaStatus(e *cliEnv, st *api.QuotaStatus) error {
	lim, used := limitMap(st.Limits), useMap(st.Used)
	t := newTable(e.stdout, "LIMIT", "USED", "OF")
	for _, k := range quotaFields {
		of := "unlimited"
		if v, ok := lim[k]; ok {
			of = num(v)
		}
		u := "-"
		if v, ok := used[k]; ok {
			u = num(v)
		}
		t.row(k, u, of)
	}
	return t.flush()
}

func printQuotaSet(e *cliEnv, qs *api.QuotaSet) error {
	t := newTable(e.stdout, "LEVEL", "LIMITS")
	line := func(l api.QuotaLimits) string {
		m := limitMap(l)
		var parts []string
		for _, k := range quotaFields {
			if v, ok := m[k]; ok {
				parts = append(parts, k+"="+num(v))
			}
		}
		if len(parts) == 0 {
			return "(none)"
		}
		return strings.Join(parts, " ")
	}
	t.row("defaults", line(qs.Defaults))
	for _, group := range []struct {
		prefix string
		m      map[string]berth.QuotaLimits
	}{{"role ", qs.Roles}, {"user ", qs.Users}} {
		keys := make([]string, 0, len(group.m))
		for k := range group.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.row(group.prefix+k, line(group.m[k]))
		}
	}
	return t.flush()
}

func newQuotaSetCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var s quotaScope
	cmd := &cobra.Command{
		Use:   "set FIELD=VALUE...",
		Short: "Change limits of the defaults, a --role or a --user (admins); FIELD=unset clears one",
		Long: "Changes the named limits of one level and keeps the others. Fields: " + strings.Join(quotaFields, ", ") +
			". Lowering a limit below use blocks new use and stops nothing.",
		Example: "  berth quota set --user ada cpuCores=8 maxEnvironments=3\n  berth quota set --role viewer maxEnvironments=0",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				scope, key, err := s.resolve(ctx, c)
				if err != nil {
					return nil, err
				}
				qs, err := c.GetQuotas(ctx)
				if err != nil {
					return nil, err
				}
				cur := qs.Defaults
				switch scope {
				case berth.QuotaRole:
					cur = qs.Roles[key]
				case berth.QuotaUser:
					cur = qs.Users[key]
				}
				next, err := applyQuotaArgs(cur, args)
				if err != nil {
					return nil, err
				}
				out, err := c.SetQuota(ctx, scope, key, next)
				if err != nil {
					return nil, err
				}
				return func() error { return printQuotaSet(e, &api.QuotaSet{Defaults: *out}) }, nil
			})
		},
	}
	s.flags(cmd)
	return cmd
}

// applyQuotaArgs changes cur by FIELD=VALUE arguments.
func applyQuotaArgs(cur api.QuotaLimits, args []string) (api.QuotaLimits, error) {
	m := limitMap(cur)
	known := map[string]bool{}
	for _, k := range quotaFields {
		known[k] = true
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !known[k] {
			return cur, berth.Invalid("args", "%q is not FIELD=VALUE with FIELD one of %s", a, strings.Join(quotaFields, ", "))
		}
		if v == "unset" || v == "" {
			delete(m, k)
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return cur, berth.Invalid(k, "%q is not a number", v)
		}
		m[k] = n
	}
	b, _ := json.Marshal(m)
	var out api.QuotaLimits
	if err := json.Unmarshal(b, &out); err != nil {
		return cur, berth.Invalid("args", "%v", err) // a fractional count
	}
	return out, nil
}

func newQuotaRmCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var s quotaScope
	cmd := &cobra.Command{
		Use:   "rm",
		Short: "Remove the level of a --role or a --user (admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				scope, key, err := s.resolve(ctx, c)
				if err != nil {
					return nil, err
				}
				if scope == berth.QuotaDefaults {
					return nil, berth.Invalid("role", "give --role or --user")
				}
				ack, err := c.DeleteQuota(ctx, scope, key)
				if err != nil {
					return nil, err
				}
				return func() error { _, err := fmt.Fprintln(e.stdout, ack.Message); return err }, nil
			})
		},
	}
	s.flags(cmd)
	return cmd
}

// newUsageCmd is `berth usage`.
func newUsageCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var from, to, groupBy, user string
	cmd := &cobra.Command{
		Use:     "usage",
		Short:   "Metered usage and its cost (-o csv or -o json; admins see everyone)",
		Example: "  berth usage --from 2026-01-01 --group-by user -o csv\n  berth usage --group-by month",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := client.UsageQuery{GroupBy: groupBy}
			for _, p := range []struct {
				name, v string
				dst     *time.Time
			}{{"from", from, &q.From}, {"to", to, &q.To}} {
				if p.v == "" {
					continue
				}
				t, err := parseWhen(p.v)
				if err != nil {
					return berth.Invalid(p.name, "%q is not a date (2006-01-02) or an RFC 3339 time", p.v)
				}
				*p.dst = t
			}
			cf := *f
			if f.output == "csv" { // usage alone speaks CSV
				cf.output = ""
			}
			c, err := cf.newClient(e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if user != "" {
				if q.UserID, err = userID(ctx, c, user); err != nil {
					return err
				}
			}
			if f.output == "csv" {
				b, err := c.UsageCSV(ctx, q)
				if err != nil {
					return err
				}
				_, err = e.stdout.Write(b)
				return err
			}
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				rep, err := c.Usage(ctx, q)
				if err != nil {
					return nil, err
				}
				return func() error { return printUsage(e, rep) }, nil
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "start (date or RFC 3339; default 30 days before --to)")
	cmd.Flags().StringVar(&to, "to", "", "end (date or RFC 3339; default now)")
	cmd.Flags().StringVar(&groupBy, "group-by", "user", "user, environment, service, target, day or month")
	cmd.Flags().StringVar(&user, "user", "", "one user (username or id; admins)")
	return cmd
}

func parseWhen(v string) (time.Time, error) {
	if !strings.Contains(v, "T") {
		return time.Parse("2006-01-02", v)
	}
	return time.Parse(time.RFC3339, v)
}

func printUsage(e *cliEnv, rep *api.UsageReport) error {
	t := newTable(e.stdout, "KEY", "NAME", "CPU CORE-H", "MEMORY GB-H", "STORAGE GB-H", "RUNNING H", "COST "+rep.Currency)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	for _, r := range append(rep.Usage, rep.Total) {
		t.row(r.Key, r.Name, f(r.CPUCoreHours), f(r.MemoryGBHours), f(r.StorageGBHours), f(r.RunningHours), strconv.FormatFloat(r.Cost, 'f', 4, 64))
	}
	return t.flush()
}
