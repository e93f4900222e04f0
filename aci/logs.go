package aci

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/berthhq/berth"
)

// maxTail bounds what one ListLogs call of a follow asks for.
const maxTail = 10000

// EnvironmentLogs reads the workspace container's output through ListLogs.
// Tail 0 is every line ACI retains. ACI has no log stream: Follow polls
// every PollInterval and passes on the lines it has not passed yet. A
// container that has no logs yet (ACI answers 404 ContainerLogNotAvailable
// while the image is pulled or the group is stopped) is not a missing
// environment: a read gives no lines, a follow waits for them.
func (r *Runtime) EnvironmentLogs(ctx context.Context, env *berth.Environment, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	n, err := r.namesFor(env.ID)
	if err != nil {
		return err
	}
	if opts.Previous {
		return berth.NotSupported(r.cfg.Name, "logs of a previous container instance")
	}
	var tail *int32
	if opts.Tail > 0 {
		tail = to.Ptr(int32(min(opts.Tail, maxTail)))
	}
	// Lines are passed on in order; ListLogs answers the newest lines, so a
	// poll skips those older than the last one passed, and of the lines
	// that share its timestamp the ones already passed (several lines can
	// carry the same time).
	last, passedAtLast := opts.Since, 0
	if !last.IsZero() {
		passedAtLast = math.MaxInt // since is exclusive
	}
	read := func(tail *int32) error {
		resp, err := r.containers.ListLogs(ctx, r.cfg.ResourceGroup, n.group, containerName,
			&armcontainerinstance.ContainersClientListLogsOptions{Tail: tail, Timestamps: to.Ptr(true)})
		if azCode(err) == "ContainerLogNotAvailable" {
			return nil // no output yet
		}
		if isNotFound(err) {
			return berth.Errorf(berth.ENOTFOUND, "environment %s: container group %s not found on target %s", env.ID, n.group, r.cfg.Name)
		}
		if err != nil {
			return r.azError(err, "read logs of environment %s", env.ID)
		}
		atLast := 0
		for _, l := range parseLogs(resp.Content) {
			if !l.Time.IsZero() {
				switch {
				case l.Time.Before(last):
					continue
				case l.Time.Equal(last):
					if atLast++; atLast <= passedAtLast {
						continue
					}
					passedAtLast = atLast
				default:
					last, atLast, passedAtLast = l.Time, 1, 1
				}
			}
			if err := fn(l); err != nil {
				return err
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
			if err := read(to.Ptr(int32(maxTail))); err != nil {
				if ctx.Err() != nil {
					return nil
				}
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
