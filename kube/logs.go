package kube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

var _ berth.ServiceLogger = (*Runtime)(nil)

const (
	// maxLogLine bounds one line; the rest of a longer line is dropped.
	maxLogLine = 64 << 10
	// followResync is how often a follow rechecks the pods besides the
	// informer's nudges: it paces reopening streams that ended early.
	followResync = time.Second
	// maxReopenDelay caps the backoff of a pod whose stream keeps failing.
	maxReopenDelay = 30 * time.Second
)

// ServiceLogs reads the logs of every pod of the workload (or of the one
// replica asked for), each line named after its pod: the last Tail lines of
// each pod, merged in time order and cut to Tail overall. With Follow it
// then streams every pod, picks up pods that start later (a restart, a
// rollout, a scale-up) and lets a pod that goes away end its own stream
// only, until ctx ends. fn is called from this goroutine only.
func (r *Runtime) ServiceLogs(ctx context.Context, ref berth.ServiceRef, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	if opts.Tail < 0 {
		return berth.Invalid("tail", "must not be negative, got %d", opts.Tail)
	}
	w, err := r.find(ctx, ref)
	if err != nil {
		return err
	}
	spec, err := r.workloadSpec(w)
	if err != nil {
		return err
	}
	container, err := logContainer(w, spec.template, opts.Container)
	if err != nil {
		return err
	}
	lr := &logReader{r: r, w: w, spec: spec, container: container, opts: opts}
	pods, err := lr.pods()
	if err != nil {
		return err
	}
	if opts.Replica != "" && len(pods) == 0 {
		return lr.noReplica()
	}
	lines, cursors, err := lr.backlog(ctx, pods)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := fn(l); err != nil {
			return err
		}
	}
	if !opts.Follow || opts.Previous {
		return nil // a previous instance has nothing more to say
	}
	return lr.follow(ctx, cursors, fn)
}

// logContainer picks the container to read: the one asked for, else the
// template's first.
func logContainer(w *workload, tmpl corev1.PodTemplateSpec, want string) (string, error) {
	var names []string
	for _, c := range tmpl.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range tmpl.Spec.InitContainers {
		names = append(names, c.Name)
	}
	if want == "" {
		if len(tmpl.Spec.Containers) == 0 {
			return "", berth.Errorf(berth.ESERVICE, "service %s/%s has no container", w.ns, w.name)
		}
		return tmpl.Spec.Containers[0].Name, nil
	}
	if !slices.Contains(names, want) {
		return "", berth.Invalid("container", "service %s/%s has no container %q (containers: %s)",
			w.ns, w.name, want, strings.Join(names, ", "))
	}
	return want, nil
}

// logReader reads the logs of one workload's pods.
type logReader struct {
	r         *Runtime
	w         *workload
	spec      *workloadSpec
	container string
	opts      berth.LogOptions
}

// pods are the workload's pods from the cache, sorted by name, only the
// replica asked for when one is.
func (lr *logReader) pods() ([]*corev1.Pod, error) {
	all, err := lr.r.pods[lr.r.listerIndex(lr.w.ns)].Pods(lr.w.ns).List(lr.spec.selector)
	if err != nil {
		return nil, berth.Wrap(err, berth.ESERVICE, "logs of service %s/%s: list pods", lr.w.ns, lr.w.name)
	}
	var out []*corev1.Pod
	for _, p := range all {
		if lr.opts.Replica == "" || p.Name == lr.opts.Replica {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func (lr *logReader) noReplica() error {
	opts := lr.opts
	opts.Replica = ""
	all, _ := (&logReader{r: lr.r, w: lr.w, spec: lr.spec, opts: opts}).pods()
	var names []string
	for _, p := range all {
		names = append(names, p.Name)
	}
	return berth.Errorf(berth.ENOTFOUND, "service %s/%s has no replica %q (replicas: %s)",
		lr.w.ns, lr.w.name, lr.opts.Replica, strings.Join(names, ", "))
}

// started tells whether the pod's container has output to read: an
// instance that runs or ran. For Previous the node answers: the status
// does not always say whether it kept the instance before.
func (lr *logReader) started(p *corev1.Pod) bool {
	if p.Spec.NodeName == "" {
		return false
	}
	if lr.opts.Previous {
		return true
	}
	for _, cs := range append(p.Status.ContainerStatuses, p.Status.InitContainerStatuses...) {
		if cs.Name == lr.container {
			return cs.State.Running != nil || cs.State.Terminated != nil
		}
	}
	return false
}

func (lr *logReader) running(p *corev1.Pod) bool {
	for _, cs := range append(p.Status.ContainerStatuses, p.Status.InitContainerStatuses...) {
		if cs.Name == lr.container {
			return cs.State.Running != nil
		}
	}
	return false
}

// backlog reads what the pods have logged so far, merged in time order and
// cut to Tail. cursors holds, per pod, the time of its last line read
// (before the cut), where following resumes. A pod that fails is left out
// while others answer; when none does, the first failure is the answer.
func (lr *logReader) backlog(ctx context.Context, pods []*corev1.Pod) ([]berth.LogLine, map[types.UID]time.Time, error) {
	cursors := map[types.UID]time.Time{}
	var lines []berth.LogLine
	var firstErr error
	answered := 0
	for _, p := range pods {
		if !lr.started(p) {
			if lr.opts.Replica == "" {
				cursors[p.UID] = time.Time{} // follow it from its first line once it runs
				continue
			}
		}
		po := lr.podLogOptions(lr.opts.Since)
		if lr.opts.Tail > 0 {
			po.TailLines = new(int64)
			*po.TailLines = int64(lr.opts.Tail)
		}
		var last time.Time
		err := lr.read(ctx, p.Name, po, func(l berth.LogLine) error {
			if !lr.opts.Since.IsZero() && l.Time.Before(lr.opts.Since) {
				return nil // the API's sinceTime has whole seconds
			}
			lines = append(lines, l)
			last = l.Time
			return nil
		})
		switch {
		case err == nil:
			answered++
			cursors[p.UID] = last
		case apierrors.IsNotFound(err) && lr.opts.Replica == "":
			// Gone since the cache listed it: nothing to say.
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		default:
			if firstErr == nil {
				firstErr = lr.r.apiError(err, "read logs of service %s/%s, pod %s, container %s",
					lr.w.ns, lr.w.name, p.Name, lr.container)
			}
		}
	}
	if answered == 0 && firstErr != nil {
		return nil, nil, firstErr
	}
	sort.SliceStable(lines, func(a, b int) bool { return lines[a].Time.Before(lines[b].Time) })
	if lr.opts.Tail > 0 && len(lines) > lr.opts.Tail {
		lines = lines[len(lines)-lr.opts.Tail:]
	}
	return lines, cursors, nil
}

func (lr *logReader) podLogOptions(since time.Time) *corev1.PodLogOptions {
	po := &corev1.PodLogOptions{Container: lr.container, Timestamps: true, Previous: lr.opts.Previous}
	if !since.IsZero() {
		// The API carries whole seconds: round down, callers drop what is earlier.
		t := metav1.NewTime(since.Truncate(time.Second))
		po.SinceTime = &t
	}
	return po
}

// read streams one pod's log and calls each for every line.
func (lr *logReader) read(ctx context.Context, pod string, po *corev1.PodLogOptions, each func(berth.LogLine) error) error {
	rc, err := lr.r.client.CoreV1().Pods(lr.w.ns).GetLogs(pod, po).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	return scanLog(rc, pod, each)
}

// scanLog splits a log read with Timestamps into lines: the RFC 3339 time
// the kubelet puts first is parsed and stripped. A line without one (none
// should come) keeps the time of the line before.
func scanLog(rd io.Reader, replica string, each func(berth.LogLine) error) error {
	br := bufio.NewReaderSize(rd, 32<<10)
	var last time.Time
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf) < maxLogLine {
			buf = append(buf, chunk[:min(len(chunk), maxLogLine-len(buf))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // the rest of a long line
		}
		if len(buf) > 0 && (err == nil || errors.Is(err, io.EOF)) {
			line := bytes.TrimRight(buf, "\r\n")
			l := berth.LogLine{Time: last, Replica: replica, Line: string(line)}
			if ts, rest, ok := bytes.Cut(line, []byte{' '}); ok {
				if t, perr := time.Parse(time.RFC3339Nano, string(ts)); perr == nil {
					l.Time, l.Line = t.UTC(), string(rest)
				}
			}
			last = l.Time
			if ferr := each(l); ferr != nil {
				return ferr
			}
		}
		buf = buf[:0]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// stream is the follow state of one pod (by UID: a StatefulSet's pod comes
// back under the same name).
type stream struct {
	cursor  time.Time // time of the last line delivered; later lines only
	open    bool
	stop    context.CancelFunc // ends the open stream
	fails   int
	retryAt time.Time
}

type logMsg struct {
	uid  types.UID
	line berth.LogLine
	done bool
	err  error
}

// follow streams the pods until ctx ends. The pod informer nudges it when
// pods come and go; every stream's lines reach fn through this goroutine.
func (lr *logReader) follow(ctx context.Context, cursors map[types.UID]time.Time, fn func(berth.LogLine) error) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	nudge := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case nudge <- struct{}{}:
		default:
		}
	}
	informer := lr.r.factories[lr.r.listerIndex(lr.w.ns)].Core().V1().Pods().Informer()
	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke,
	})
	if err != nil {
		return berth.Wrap(err, berth.ESERVICE, "follow logs of service %s/%s", lr.w.ns, lr.w.name)
	}
	defer func() { _ = informer.RemoveEventHandler(reg) }()

	streams := map[types.UID]*stream{}
	for uid, t := range cursors {
		streams[uid] = &stream{cursor: lr.later(t)}
	}
	msgs := make(chan logMsg, 64)
	tick := time.NewTicker(followResync)
	defer tick.Stop()
	rescan := true
	for {
		if rescan {
			lr.openStreams(ctx, &wg, streams, msgs)
			rescan = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-nudge:
			rescan = true
		case <-tick.C:
			rescan = true
		case m := <-msgs:
			s := streams[m.uid]
			if s == nil {
				continue // cannot happen: a stream is forgotten only after its last message
			}
			if m.done {
				s.open = false
				s.stop()
				if m.err != nil {
					s.fails++
				} else {
					s.fails = 0
				}
				s.retryAt = time.Now().Add(min(maxReopenDelay, followResync<<min(s.fails, 5)))
				rescan = true
				continue
			}
			if m.line.Time.After(s.cursor) {
				s.cursor = m.line.Time
			}
			if err := fn(m.line); err != nil {
				return err
			}
		}
	}
}

// later returns the cursor after which lines are new: t, or just before
// Since when that is later.
func (lr *logReader) later(t time.Time) time.Time {
	if since := lr.opts.Since.Add(-time.Nanosecond); !lr.opts.Since.IsZero() && since.After(t) {
		return since
	}
	return t
}

// openStreams starts a stream for every pod whose container runs and has
// none, and forgets pods that are gone and whose stream ended.
func (lr *logReader) openStreams(ctx context.Context, wg *sync.WaitGroup, streams map[types.UID]*stream, msgs chan<- logMsg) {
	pods, err := lr.pods()
	if err != nil {
		return
	}
	now := time.Now()
	present := map[types.UID]bool{}
	for _, p := range pods {
		present[p.UID] = true
		s := streams[p.UID]
		if s == nil {
			// A pod that came after the backlog: all its lines are new.
			s = &stream{cursor: lr.later(time.Time{})}
			streams[p.UID] = s
		}
		if s.open || now.Before(s.retryAt) || p.DeletionTimestamp != nil || !lr.running(p) {
			continue
		}
		s.open = true
		sctx, stop := context.WithCancel(ctx)
		s.stop = stop
		done := ctx.Done() // the follow's end: the stream's own may come first
		wg.Add(1)
		go func(ctx context.Context, uid types.UID, name string, since time.Time) {
			defer wg.Done()
			po := lr.podLogOptions(since)
			po.Follow = true
			err := lr.read(ctx, name, po, func(l berth.LogLine) error {
				if !l.Time.After(since) {
					return nil // delivered already, or before Since
				}
				select {
				case msgs <- logMsg{uid: uid, line: l}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			select {
			case msgs <- logMsg{uid: uid, done: true, err: err}:
			case <-done:
			}
		}(sctx, p.UID, p.Name, s.cursor)
	}
	for uid, s := range streams {
		switch {
		case present[uid]:
		case s.open:
			// Deleted once its containers stopped: what it logged is in;
			// a kubelet ends the stream itself, a fake node may not.
			s.stop()
		default:
			delete(streams, uid)
		}
	}
}
