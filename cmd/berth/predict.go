package main

import (
	"context"
	"fmt"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

// newPredictCmd is `berth predict [service]`: where CPU and memory are
// heading and when they reach their requests (or an environment's size).
func newPredictCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var q client.PredictionQuery
	cmd := &cobra.Command{
		Use:   "predict [service]",
		Short: "Forecast CPU and memory from the hourly history and say when each reaches its limit",
		Long: "Forecast CPU and memory of every service and your environments (or one service, or one environment with\n" +
			"--environment) from the last 7 days of hourly rollups, with the method's backtest error (fitted on all but\n" +
			"the last day, compared with the last day), and say when each reaches its requests × replicas (a service)\n" +
			"or its size (an environment) within the horizon. The nearest risk is listed first.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				q.Service = args[0]
			}
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				l, err := c.Predictions(ctx, q)
				if err != nil {
					return nil, err
				}
				return func() error { return printPredictions(e, l.Predictions) }, nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Environment, "environment", "", "one environment (its id)")
	fl.StringVar(&q.Metric, "metric", "", "cpu or memory (default both)")
	fl.StringVar(&q.Horizon, "horizon", "", "how far ahead: 1h to 30d (default 72h)")
	fl.StringVar(&q.Target, "target", "", "the service's target")
	fl.StringVarP(&q.Namespace, "namespace", "n", "", "the service's namespace")
	return cmd
}

func printPredictions(e *cliEnv, preds []berth.Prediction) error {
	t := newTable(e.stdout, "SUBJECT", "METRIC", "CURRENT", "LIMIT", "TREND/H", "REACHES LIMIT", "METHOD", "BACKTEST ERROR")
	for _, p := range preds {
		subject := p.Subject.Type + "/" + p.Subject.Name
		if p.Subject.ID != "" {
			subject += " (" + p.Subject.ID + ")"
		}
		limit, reaches, method, bt := "-", "-", p.Method, "-"
		if p.Limit > 0 {
			limit = quantity(p.Unit, p.Limit) + " " + p.LimitSource
		}
		if p.ReachesLimitAt != nil {
			reaches = p.ReachesLimitAt.UTC().Format(time.RFC3339) + " (" + age(*p.ReachesLimitAt) + ")"
		}
		if p.Backtest != nil {
			bt = fmt.Sprintf("%.1f%%", 100*p.Backtest.Error)
		}
		if p.NotEnoughData != "" {
			method = "not enough data: " + p.NotEnoughData
		}
		t.row(subject, p.Metric, quantity(p.Unit, p.Current), limit, quantity(p.Unit, p.TrendPerHour), reaches, method, bt)
	}
	return t.flush()
}

// quantity writes cores as millicores below one core, bytes in binary units.
func quantity(unit string, v float64) string {
	if unit == "cores" {
		if v > -1 && v < 1 {
			return fmt.Sprintf("%.0fm", v*1000)
		}
		return fmt.Sprintf("%.2f", v)
	}
	abs := v
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs >= 1<<30:
		return fmt.Sprintf("%.2fGi", v/(1<<30))
	case abs >= 1<<20:
		return fmt.Sprintf("%.0fMi", v/(1<<20))
	case abs >= 1<<10:
		return fmt.Sprintf("%.0fKi", v/(1<<10))
	}
	return fmt.Sprintf("%.0f", v)
}
