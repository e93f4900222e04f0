package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/client"
)

// waitFlags are the flags of commands that can wait for the outcome.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

// errNotDone tells waitFor to keep polling.
var errNotDone = errors.New("not done")

// waitFor calls check every poll interval until it answers nil (done) or
// an error other than errNotDone, printing each new progress line to
// stderr as "waiting for NAME: PROGRESS". It fails after timeout.
func waitFor(ctx context.Context, e *cliEnv, timeout time.Duration, name string, check func(ctx context.Context) (progress string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval(e))
	defer tick.Stop()
	last := ""
	for {
		progress, err := check(ctx)
		if progress != "" && progress != last {
			fmt.Fprintf(e.stderr, "waiting for %s: %s\n", name, progress)
			last = progress
		}
		if err == nil {
			return nil
		}
		// A failed call after the deadline is the timeout, answered below;
		// a busy or restarting server is asked again.
		transient := berth.IsCode(err, berth.EUNAVAILABLE) || berth.IsCode(err, berth.ERATELIMITED)
		if !errors.Is(err, errNotDone) && !transient && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				if last != "" {
					return fmt.Errorf("timed out after %s waiting for %s (last: %s)", timeout, name, last)
				}
				return fmt.Errorf("timed out after %s waiting for %s", timeout, name)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// waitEnv waits until the environment reaches want; want "" waits until it
// is gone (NOT_FOUND).
func waitEnv(ctx context.Context, e *cliEnv, c *client.Client, id string, want berth.EnvStatus, timeout time.Duration) error {
	return waitFor(ctx, e, timeout, id, func(ctx context.Context) (string, error) {
		env, err := c.GetEnvironment(ctx, id)
		if want == "" && berth.IsCode(err, berth.ENOTFOUND) {
			return "deleted", nil
		}
		if err != nil {
			return "", err
		}
		switch {
		case env.Status == want:
			return string(env.Status), nil
		case env.Status == berth.EnvError:
			return string(env.Status), berth.Errorf(berth.EENVIRONMENT, "environment %s is in ERROR: %s", id, orDash(env.Message))
		}
		return string(env.Status), errNotDone
	})
}

// svcGoal is what a service wait ends on.
type svcGoal int

const (
	svcReady   svcGoal = iota // RUNNING with every replica ready (or STOPPED at 0 replicas)
	svcStopped                // STOPPED
	svcGone                   // NOT_FOUND
)

func waitService(ctx context.Context, e *cliEnv, c *client.Client, ref berth.ServiceRef, goal svcGoal, timeout time.Duration) error {
	return waitFor(ctx, e, timeout, ref.Name, func(ctx context.Context) (string, error) {
		svc, err := c.GetService(ctx, ref)
		if goal == svcGone && berth.IsCode(err, berth.ENOTFOUND) {
			return "deleted", nil
		}
		if err != nil {
			return "", err
		}
		progress := fmt.Sprintf("%s %d/%d ready", svc.Status, svc.ReadyReplicas, svc.Replicas)
		switch {
		case svc.Status == berth.ServiceError:
			return progress, berth.Errorf(berth.ESERVICE, "service %s is in ERROR: %s", ref.Name, orDash(svc.Message))
		case goal == svcReady && svc.Status == berth.ServiceRunning && svc.ReadyReplicas == svc.Replicas:
			return progress, nil
		case goal == svcReady && svc.Replicas == 0 && svc.Status == berth.ServiceStopped:
			return progress, nil
		case goal == svcStopped && svc.Status == berth.ServiceStopped:
			return progress, nil
		}
		return progress, errNotDone
	})
}

func orDash(s string) string {
	if s == "" {
		return "no message"
	}
	return s
}
