// Package lokitest runs a real Grafana Loki for tests: single-binary mode,
// filesystem storage and an in-memory ring on loopback, built once from Go
// modules (tools/loki) and cached between runs.
package lokitest

import (
	"context"
	"io"

	"github.com/berthhq/berth/internal/toolcache"
)

// Tool is the Loki the harness builds, at the version tools/loki/go.mod
// pins. The checksum database has no entry for Grafana's forks that Loki
// replaces modules with; go.sum in tools/loki still pins them.
var Tool = toolcache.GoTool{Module: "loki", ModPath: "github.com/grafana/loki/v3",
	Pkg: "github.com/grafana/loki/v3/cmd/loki", Env: []string{"GONOSUMDB=github.com/grafana/*"}}

// EnsureBinary returns the path of the cached Loki binary, building it first
// when missing (about 5 minutes cold).
func EnsureBinary(ctx context.Context, log io.Writer) (string, error) {
	return Tool.Ensure(ctx, log)
}
