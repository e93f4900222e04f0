package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

func newRecCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rec",
		Aliases: []string{"recommendations", "recommendation"},
		Short:   "Recommendations: rightsizing, scaling, idle and dormant workloads, rollbacks, orphans",
	}
	cmd.AddCommand(newRecListCmd(e, f), newRecGetCmd(e, f), newRecApplyCmd(e, f), newRecRejectCmd(e, f), newRecRefreshCmd(e, f))
	return cmd
}

func newRecListCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var q client.RecommendationQuery
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List recommendations (default: the OPEN ones)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Status == "all" {
				q.Status = ""
			}
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				l, err := c.ListRecommendations(ctx, q)
				if err != nil {
					return nil, err
				}
				return func() error {
					t := newTable(e.stdout, "ID", "KIND", "SUBJECT", "STATUS", "PROPOSAL", "SAVING/MONTH", "CONFIDENCE", "SOURCE")
					for _, r := range l.Recommendations {
						t.row(r.ID, string(r.Kind), subjectText(r), string(r.Status), proposalText(r), savingText(r.MonthlySaving), r.Confidence, r.Source)
					}
					return flushPage(e, t, len(l.Recommendations), l.Total)
				}, nil
			})
		},
	}
	cmd.Flags().StringVar(&q.Status, "status", "OPEN", "OPEN, APPLIED, REJECTED, EXPIRED, FAILED or all")
	cmd.Flags().StringVar(&q.Kind, "kind", "", "rightsize, scale, stop-idle, delete-dormant, rollback or cleanup-orphan")
	cmd.Flags().StringVar(&q.Target, "target", "", "only this target's")
	cmd.Flags().StringVar(&q.Service, "service", "", "only this service's")
	addPageFlags(cmd, &q.ListOptions)
	return cmd
}

func subjectText(r *berth.Recommendation) string {
	s := r.Subject.Type + "/" + r.Subject.Name
	if r.Namespace != "" {
		s = r.Subject.Type + "/" + r.Namespace + "/" + r.Subject.Name
	}
	return s + " (" + r.Target + ")"
}

// proposalText says what apply would do, in the spec's own terms.
func proposalText(r *berth.Recommendation) string {
	if r.Evidence.NotEnoughData {
		return fmt.Sprintf("not enough data (%d samples missing)", r.Evidence.MissingSamples)
	}
	p, c := r.Proposed, r.Current
	switch {
	case p.Resources != nil:
		from := berth.Resources{}
		if c.Resources != nil {
			from = *c.Resources
		}
		return fmt.Sprintf("cpu %s→%s memory %s→%s", dash(from.CPU), p.Resources.CPU, dash(from.Memory), p.Resources.Memory)
	case p.Replicas != nil:
		cur := "?"
		if c.Replicas != nil {
			cur = itoa(*c.Replicas)
		}
		return fmt.Sprintf("replicas %s→%d", cur, *p.Replicas)
	case r.Kind == berth.RecRollback:
		return fmt.Sprintf("revision %d→%d", c.Revision, p.Revision)
	}
	return strings.ToLower(p.Status)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func savingText(s berth.Saving) string { return fmt.Sprintf("%.2f %s", s.Amount, s.Currency) }

func newRecGetCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a recommendation with its evidence",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				r, err := c.GetRecommendation(ctx, args[0])
				if err != nil {
					return nil, err
				}
				return func() error { return printRec(e, r) }, nil
			})
		},
	}
}

func statsText(s *berth.UsageStats, unit func(float64) string) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf("p50 %s  p95 %s  max %s", unit(s.P50), unit(s.P95), unit(s.Max))
}

func printRec(e *cliEnv, r *berth.Recommendation) error {
	cores := func(v float64) string { return fmt.Sprintf("%.3f cores", v) }
	mib := func(v float64) string { return fmt.Sprintf("%.0fMi", v/(1<<20)) }
	kv := []string{
		"ID", r.ID, "Kind", string(r.Kind), "Status", string(r.Status), "Source", r.Source, "Subject", subjectText(r),
		"Title", r.Title, "Reason", r.Reason, "Proposal", proposalText(r), "Saving", savingText(r.MonthlySaving) + " per month",
		"Confidence", r.Confidence, "Window", r.Evidence.Window + " (" + r.Evidence.Resolution + ")", "Samples", itoa(r.Evidence.Samples),
		"CPU", statsText(r.Evidence.CPU, cores), "Memory", statsText(r.Evidence.Memory, mib), "Command", r.Command,
		"Created", r.CreatedAt.Format("2006-01-02 15:04:05"), "Applied by", r.AppliedBy, "Rejected by", r.RejectedBy, "Reject reason", r.RejectReason,
	}
	if len(r.Result) > 0 {
		var parts []string
		for k, v := range r.Result {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
		kv = append(kv, "Result", strings.Join(parts, " "))
	}
	return fields(e.stdout, kv...)
}

func newRecApplyCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "apply ID",
		Short: "Apply a recommendation (a new revision, a scale, a stop, a rollback, a delete)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.ApplyRecommendationRequest
			if cmd.Flags().Changed("keep-volume") {
				req.KeepVolume = &keep
			}
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				res, err := c.ApplyRecommendation(ctx, args[0], req)
				if err != nil {
					return nil, err
				}
				return func() error { return printRec(e, res.Recommendation) }, nil
			})
		},
	}
	cmd.Flags().BoolVar(&keep, "keep-volume", false, "delete-dormant: keep the environment's volume")
	return cmd
}

func newRecRejectCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "reject ID --reason TEXT",
		Short: "Reject a recommendation: not raised again for 7 days unless it moves more than 20%",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				r, err := c.RejectRecommendation(ctx, args[0], reason)
				if err != nil {
					return nil, err
				}
				return e.reply("%s: %s\n", r.ID, r.Status), nil
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept with the recommendation)")
	return cmd
}

func newRecRefreshCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "refresh",
		Short: "Run the recommendation engines now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				res, err := c.RefreshRecommendations(ctx)
				if err != nil {
					return nil, err
				}
				return e.reply("%s\n", res.Message), nil
			})
		},
	}
}
