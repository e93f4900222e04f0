package main

import (
	"log/slog"
	"net"

	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/workspace"
	"github.com/spf13/cobra"
)

// newWorkspaceCmd runs berth's small workspace server, what a local
// environment runs when code-server is not installed. The activity token
// comes only from the environment (BERTH_ACTIVITY_TOKEN) so that it never
// shows in the process table; so does the proxy's secret (BERTH_PROXY_SECRET).
func newWorkspaceCmd(e *cliEnv) *cobra.Command {
	defaultAddr := "127.0.0.1:8081"
	if port := e.getenv("PORT"); port != "" {
		defaultAddr = net.JoinHostPort("127.0.0.1", port)
	}
	var cfg workspace.Config
	cmd := &cobra.Command{
		Use:   "workspace",
		Short: "Serve a workspace directory over HTTP and report its activity to berth",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.ActivityToken = e.getenv("BERTH_ACTIVITY_TOKEN")
			cfg.Password = e.getenv("PASSWORD") // the environment's codeServerPassword, as code-server reads it
			cfg.ProxySecret = e.getenv("BERTH_PROXY_SECRET")
			cfg.Logger = slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{ReplaceAttr: secret.RedactAttr}))
			return workspace.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.Addr, "addr", defaultAddr, "address to listen on (default 127.0.0.1:$PORT when PORT is set)")
	cmd.Flags().StringVar(&cfg.Dir, "dir", ".", "workspace directory to serve")
	cmd.Flags().StringVar(&cfg.ActivityURL, "activity-url", e.getenv("BERTH_ACTIVITY_URL"), "where to POST activity reports (env BERTH_ACTIVITY_URL; token from env BERTH_ACTIVITY_TOKEN)")
	cmd.Flags().DurationVar(&cfg.ReportEvery, "report-every", workspace.DefaultReportEvery, "how often to report activity")
	return cmd
}
