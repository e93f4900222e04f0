// Package shiptools names the pinned tools that build and check what berth
// ships (issue 13): Helm for the chart, nfpm for the .deb and .rpm,
// cyclonedx-gomod for the image's SBOM. Each is a module pinned under
// tools/<name>, built once per machine into ~/.cache/berth under a
// cross-process lock (toolcache.GoTool does the building). Cold (empty build
// cache, warm module cache) on an idle 2-core machine: helm 151 s wall
// (234 s CPU), nfpm 42 s, cyclonedx-gomod 36 s.
package shiptools

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/berthhq/berth/internal/sectools"
)

// Tools by the name of their command.
var Tools = map[string]sectools.Tool{
	"helm":            {Module: "helm", ModPath: "helm.sh/helm/v4", Pkg: "helm.sh/helm/v4/cmd/helm", ByGo: true},
	"nfpm":            {Module: "nfpm", ModPath: "github.com/goreleaser/nfpm/v2", Pkg: "github.com/goreleaser/nfpm/v2/cmd/nfpm", ByGo: true},
	"cyclonedx-gomod": {Module: "cyclonedx", ModPath: "github.com/CycloneDX/cyclonedx-gomod", Pkg: "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod", ByGo: true},
}

// Names lists the tools, sorted.
func Names() []string {
	out := make([]string, 0, len(Tools))
	for n := range Tools {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Ensure returns the path of the named tool, building it first when it is
// not cached (build output to log).
func Ensure(ctx context.Context, name string, log io.Writer) (string, error) {
	t, ok := Tools[name]
	if !ok {
		return "", fmt.Errorf("no tool %q: one of %v", name, Names())
	}
	return t.Ensure(ctx, log)
}
