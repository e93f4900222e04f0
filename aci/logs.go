package aci

import (
	"context"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/berthhq/berth"
)

// maxTail bounds what one ListLogs call asks for.
const maxTail = 10000

// EnvironmentLogs reads the workspace container's output through ListLogs.
// ACI has no log stream: Follow polls every PollInterval and passes on the
// lines newer than the last one seen.
func (r *Runtime) EnvironmentLogs(ctx context.Context, env *berth.Environment, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	if opts.Previous {
		return berth.NotSupported(r.cfg.Name, "logs of a previous container instance")
	}
	tail := opts.Tail
	if tail <= 0 || tail > maxTail {
		tail = maxTail
	}
	last := opts.Since
	read := func(tail int) error {
		resp, err := r.containers.ListLogs(ctx, r.cfg.ResourceGroup, n.group, containerName,
			&armcontainerinstance.ContainersClientListLogsOptions{Tail: to.Ptr(int32(tail)), Timestamps: to.Ptr(true)}) // #nosec G115 -- tail is clamped to 1..maxTail above
		if isNotFound(err) {
			return berth.Errorf(berth.ENOTFOUND, "environment %s: container group %s not found on target %s", env.ID, n.group, r.cfg.Name)
		}
		if err != nil {
			return r.azError(err, "read logs of environment %s", env.ID)
		}
		for _, l := range parseLogs(resp.Content) {
			if !last.IsZero() && !l.Time.After(last) {
				continue
			}
			if err := fn(l); err != nil {
				return err
			}
			if !l.Time.IsZero() {
				last = l.Time
			}
		}
		return nil
	}
	if err := read(tail); err != nil || !opts.Follow {
		return err
	}
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := read(maxTail); err != nil {
				return err
			}
		}
	}
}

// parseLogs splits ListLogs output; with timestamps each line starts with
// an RFC 3339 time and a space.
func parseLogs(content *string) []berth.LogLine {
	if content == nil || *content == "" {
		return nil
	}
	var out []berth.LogLine
	for _, line := range strings.Split(strings.TrimRight(*content, "\n"), "\n") {
		l := berth.LogLine{Replica: containerName, Line: strings.TrimRight(line, "\r")}
		if ts, rest, ok := strings.Cut(l.Line, " "); ok {
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				l.Time, l.Line = t.UTC(), rest
			}
		}
		out = append(out, l)
	}
	return out
}
