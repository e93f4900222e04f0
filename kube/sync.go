package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/berthhq/berth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// cacheLag bounds how long a mutation waits for the caches to show it, so
// that a read right after a write sees the write. Past it the write still
// stands; reads catch up on their own.
const cacheLag = 5 * time.Second

// await waits until the cache holds the workload at resource version rv or
// later. Resource versions are opaque by contract, but etcd-backed servers
// hand out increasing integers; anything else just ends the wait.
func (r *Runtime) await(ctx context.Context, w *workload, rv string) {
	want, err := strconv.ParseUint(rv, 10, 64)
	if rv == "" || err != nil {
		return
	}
	r.poll(ctx, func() bool {
		got, ok := r.cachedVersion(w)
		return ok && got >= want
	})
}

// awaitGone waits until the cache no longer holds the Deployment.
func (r *Runtime) awaitGone(ctx context.Context, ns, name string) {
	r.poll(ctx, func() bool {
		_, ok := r.cachedVersion(&workload{kind: kindDeployment, ns: ns, name: name})
		return !ok
	})
}

func (r *Runtime) cachedVersion(w *workload) (uint64, bool) {
	i := r.listerIndex(w.ns)
	var rv string
	if w.kind == kindDeployment {
		d, err := r.deploys[i].Deployments(w.ns).Get(w.name)
		if err != nil {
			return 0, false
		}
		rv = d.ResourceVersion
	} else {
		s, err := r.sets[i].StatefulSets(w.ns).Get(w.name)
		if err != nil {
			return 0, false
		}
		rv = s.ResourceVersion
	}
	n, _ := strconv.ParseUint(rv, 10, 64)
	return n, true
}

func (r *Runtime) poll(ctx context.Context, done func() bool) {
	ctx, cancel := context.WithTimeout(ctx, cacheLag)
	defer cancel()
	for !done() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond): // the cache is in memory: polling is cheap
		}
	}
}

// apiError turns a client-go error into a berth error prefixed with what
// was being done. API server messages name objects and fields, never
// secret values (those live in Secrets, whose errors name keys only).
func (r *Runtime) apiError(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	var be *berth.Error
	if errors.As(err, &be) {
		return berth.Wrap(err, be.Code, "%s", what)
	}
	code := berth.ESERVICE
	msg := what + ": " + err.Error()
	var ue *url.Error
	var ne net.Error
	switch {
	case apierrors.IsNotFound(err):
		code = berth.ENOTFOUND
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		code = berth.ECONFLICT
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		code = berth.EINVALID
	case apierrors.IsTooManyRequests(err):
		code = berth.ERATELIMITED
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		// berth's own identity on the cluster lacks a permission: not the
		// caller's fault, so no 403; the message says where the fix is.
		msg = fmt.Sprintf("%s: target %q: berth's identity on the cluster is not allowed to do this "+
			"(grant the ClusterRole of deploy/kubernetes/rbac.yaml): %s", what, r.cfg.Target, err.Error())
	case apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		errors.As(err, &ue), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		code = berth.EUNAVAILABLE
		msg = fmt.Sprintf("%s: target %q: Kubernetes API server %s is unreachable", what, r.cfg.Target, r.host)
	}
	return &berth.Error{Code: code, Message: msg, Err: err}
}

// updateBackoff spaces retries of a write: about 1.5 s in all.
var updateBackoff = wait.Backoff{Steps: 5, Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1}

// update runs a read-modify-write, again on a conflict (someone wrote in
// between) or a transient answer of the API server (429, 5xx, timeouts).
// An unreachable server is not retried: callers hear UNAVAILABLE at once.
//
// fn's own last error is returned, not only retry.OnError's: OnError answers
// nil when fn fails with a cancelled context before any retriable error
// (wait.Interrupted counts context.Canceled as a timeout and returns the
// last retriable error, none), and callers would take that for a write.
func update(fn func() error) error {
	var last error
	if err := retry.OnError(updateBackoff, func(err error) bool {
		return apierrors.IsConflict(err) || transient(err)
	}, func() error { last = fn(); return last }); err != nil {
		return err
	}
	return last
}

func transient(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsInternalError(err)
}
