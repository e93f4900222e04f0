package main

import (
	"context"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

// newTargetsCmd is `berth targets`: the configured targets and what each
// can do.
func newTargetsCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "targets",
		Short: "List the configured targets and their capabilities",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				ts, err := c.Targets(ctx)
				if err != nil {
					return nil, err
				}
				return func() error {
					t := newTable(e.stdout, "NAME", "PROVIDER", "REGION", "DEFAULT", "CAPABILITIES")
					for _, tg := range ts {
						def := ""
						if tg.Default {
							def = "yes"
						}
						caps := make([]string, len(tg.Capabilities))
						for i, c := range tg.Capabilities {
							caps[i] = string(c)
						}
						t.row(tg.Name, tg.Provider, tg.Region, def, strings.Join(caps, ","))
					}
					return t.flush()
				}, nil
			})
		},
	}
}

// requireCapability answers NOT_SUPPORTED, before any change is asked for,
// when the target (empty: the default one) declares capabilities and c is
// not among them. An unknown target, or a server that declares none, is
// left to the server to answer.
func requireCapability(ctx context.Context, c *client.Client, target string, capability berth.Capability) error {
	ts, err := c.Targets(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if (t.Name == target || target == "" && t.Default) && t.Capabilities != nil && !t.Has(capability) {
			return berth.NotSupported(t.Name, string(capability))
		}
	}
	return nil
}

// namedTargetCan is call preceded by requireCapability when the command
// names its target (without one the server finds the service wherever it is).
func namedTargetCan(target string, capability berth.Capability,
	call func(*client.Client, context.Context) (*api.ServiceResult, error)) func(*client.Client, context.Context) (*api.ServiceResult, error) {
	return func(c *client.Client, ctx context.Context) (*api.ServiceResult, error) {
		if target != "" {
			if err := requireCapability(ctx, c, target, capability); err != nil {
				return nil, err
			}
		}
		return call(c, ctx)
	}
}
