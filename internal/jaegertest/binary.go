// Package jaegertest runs a real Jaeger v2 for tests: the all-in-one
// binary with memory storage, an OTLP/HTTP receiver and the HTTP query API
// on loopback ports, built once from Go modules (tools/jaeger) and cached
// between runs.
package jaegertest

import (
	"context"
	"io"

	"github.com/berthhq/berth/internal/toolcache"
)

// Tool is the Jaeger the harness builds, at the version tools/jaeger/go.mod
// pins. Debug information is left out (-s -w): the tests never debug
// Jaeger, and the link is the longest single step of its build.
var Tool = toolcache.GoTool{Module: "jaeger", ModPath: "github.com/jaegertracing/jaeger",
	Pkg: "github.com/jaegertracing/jaeger/cmd/jaeger", LDFlags: "-s -w"}

// EnsureBinary returns the path of the cached Jaeger binary, building it
// first when missing (cold: about 9 CPU-minutes, so about 5 minutes on an
// idle 2-core machine; 26 minutes measured with seven other builds
// running).
func EnsureBinary(ctx context.Context, log io.Writer) (string, error) {
	return Tool.Ensure(ctx, log)
}
