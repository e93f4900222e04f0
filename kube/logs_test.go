package kube_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Pods on the test cluster's kwok node log what internal/kubetest makes
// kwok serve: every read below goes through the API server's real pods/log.

// logWorkload creates a Deployment (not berth's) whose pods have the
// containers app and sidecar, and waits for its replicas to run.
func (e *env) logWorkload(t *testing.T, name string, replicas int32) []corev1.Pod {
	t.Helper()
	labels := map[string]string{"app": name}
	_, err := e.c.Client.AppsV1().Deployments(e.ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: "busybox:1"}, {Name: "sidecar", Image: "busybox:1"},
				}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
	pods := e.runningPods(t, name, int(replicas), nil)
	// The runtime reads logs through its informers' caches: wait until they
	// hold the workload and these pods, or a read may find neither (CI saw
	// "service not found" right after the API server listed the pods).
	e.waitState(t, name, func(st *berth.ServiceState) error {
		var have []string
		for _, in := range st.Instances {
			have = append(have, in.Name)
		}
		for _, p := range pods {
			if !slices.Contains(have, p.Name) {
				return fmt.Errorf("the runtime's cache has pods %v, not yet %s", have, p.Name)
			}
		}
		return nil
	})
	return pods
}

// runningPods waits until the workload has exactly n running pods, none of
// them in skip, and returns them sorted by name.
func (e *env) runningPods(t *testing.T, app string, n int, skip []string) []corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var pods []corev1.Pod
	err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		list, err := e.c.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil || slices.Contains(skip, p.Name) {
				continue
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s is %s", p.Name, p.Status.Phase)
			}
			pods = append(pods, p)
		}
		if len(pods) != n {
			return fmt.Errorf("%d running pods, want %d", len(pods), n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pods of %s: %v", app, err)
	}
	sort.Slice(pods, func(a, b int) bool { return pods[a].Name < pods[b].Name })
	return pods
}

func readLogs(t *testing.T, e *env, name string, opts berth.LogOptions) ([]berth.LogLine, error) {
	t.Helper()
	var got []berth.LogLine
	err := e.rt.ServiceLogs(t.Context(), e.ref(name), opts, func(l berth.LogLine) error {
		got = append(got, l)
		return nil
	})
	return got, err
}

func TestServiceLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pods := e.logWorkload(t, "web", 2)
	a, b := pods[0].Name, pods[1].Name

	// a logs at t0, t0+2s, t0+4s; b at t0+1s, t0+3s, t0+5s (and 500 ms in).
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	files := map[string][2]*kubetest.LogFile{}
	for i, p := range []string{a, b} {
		cur, prev := kubetest.NewLogFile(t), kubetest.NewLogFile(t)
		for k := 0; k < 3; k++ {
			s := float64(2*k + i)
			if i == 1 {
				s += 0.5
			}
			cur.Append(t, at(s), fmt.Sprintf("%s line %d", p, k))
		}
		prev.Append(t, at(-60+float64(i)), p+" crashed")
		files[p] = [2]*kubetest.LogFile{cur, prev}
		e.c.ServePodLogs(t, e.ns, p, cur, prev)
		e.c.WaitLogs(t, e.ns, p, "app")
	}

	line := func(pod string, k int) string { return fmt.Sprintf("%s %s line %d", pod, pod, k) }
	for _, tc := range []struct {
		name string
		opts berth.LogOptions
		want []string // "<replica> <line>"
	}{
		{"all pods merged in time order", berth.LogOptions{},
			[]string{line(a, 0), line(b, 0), line(a, 1), line(b, 1), line(a, 2), line(b, 2)}},
		{"tail per pod, then overall", berth.LogOptions{Tail: 3},
			[]string{line(b, 1), line(a, 2), line(b, 2)}},
		{"since, to the nanosecond", berth.LogOptions{Since: at(3.25)},
			[]string{line(b, 1), line(a, 2), line(b, 2)}},
		{"one replica", berth.LogOptions{Replica: b, Tail: 2}, []string{line(b, 1), line(b, 2)}},
		{"another container", berth.LogOptions{Container: "sidecar", Tail: 1}, []string{line(b, 2)}},
		{"previous instances", berth.LogOptions{Previous: true}, []string{a + " " + a + " crashed", b + " " + b + " crashed"}},
		{"previous does not follow", berth.LogOptions{Previous: true, Follow: true, Replica: a},
			[]string{a + " " + a + " crashed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readLogs(t, e, "web", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, l := range got {
				lines = append(lines, l.Replica+" "+l.Line)
			}
			if !slices.Equal(lines, tc.want) {
				t.Errorf("lines\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	// The times are the kubelet's (here kwok's), parsed and stripped.
	got, err := readLogs(t, e, "web", berth.LogOptions{Replica: b, Tail: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("tail 1 of %s: %v %v", b, got, err)
	}
	if want := at(5.5); !got[0].Time.Equal(want) {
		t.Errorf("time %s, want %s", got[0].Time, want)
	}
	// kubectl, from outside, reads the same lines of that pod.
	if out := e.kubectl(t, "logs", b, "-c", "app", "--tail=1"); out != got[0].Line {
		t.Errorf("kubectl logs %s: %q, berth %q", b, out, got[0].Line)
	}

	for _, tc := range []struct {
		name  string
		opts  berth.LogOptions
		code  berth.Code
		field string
		in    []string // the message names these
	}{
		{"unknown container", berth.LogOptions{Container: "nope"}, berth.EINVALID, "container", []string{`"nope"`, "app, sidecar"}},
		{"unknown replica", berth.LogOptions{Replica: "web-nope"}, berth.ENOTFOUND, "", []string{`"web-nope"`, a, b}},
		{"negative tail", berth.LogOptions{Tail: -1}, berth.EINVALID, "tail", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readLogs(t, e, "web", tc.opts)
			var be *berth.Error
			if !errors.As(err, &be) || be.Code != tc.code || be.Field != tc.field {
				t.Fatalf("err %#v, want %s (field %q)", err, tc.code, tc.field)
			}
			for _, s := range tc.in {
				if !strings.Contains(be.Message, s) {
					t.Errorf("message %q does not name %s", be.Message, s)
				}
			}
		})
	}
	if _, err := readLogs(t, e, "nope", berth.LogOptions{}); berth.ErrorCode(err) != berth.ENOTFOUND {
		t.Errorf("logs of a missing service: %v, want NOT_FOUND", err)
	}
}

// A pod kwok has no logs for answers as a kubelet that cannot find the
// container's log would: the API server's error comes back mapped, naming
// the pod and container.
func TestServiceLogsAPIError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pods := e.logWorkload(t, "mute", 1)
	_, err := readLogs(t, e, "mute", berth.LogOptions{})
	var be *berth.Error
	if !errors.As(err, &be) {
		t.Fatalf("err %v, want a berth error", err)
	}
	if be.Code == berth.EUNAVAILABLE {
		t.Errorf("code %s: the API server is reachable", be.Code)
	}
	for _, s := range []string{pods[0].Name, "container app", e.ns + "/mute"} {
		if !strings.Contains(be.Message, s) {
			t.Errorf("message %q does not name %s", be.Message, s)
		}
	}
	t.Logf("mapped: %s: %s", be.Code, be.Message)
}

// collector gathers what a follow hands to fn, checking fn is never called
// concurrently.
type collector struct {
	mu    sync.Mutex
	busy  bool
	lines []berth.LogLine
	bad   error
}

func (c *collector) fn(l berth.LogLine) error {
	c.mu.Lock()
	if c.busy {
		c.bad = errors.New("fn called concurrently")
	}
	c.busy = true
	c.lines = append(c.lines, l)
	c.mu.Unlock()
	time.Sleep(time.Millisecond) // widen the window a concurrent call would hit
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
	return nil
}

// wait polls until the collected lines satisfy ok.
func (c *collector) wait(t *testing.T, what string, ok func([]berth.LogLine) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err := kubetest.Eventually(ctx, func(context.Context) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.bad != nil {
			return c.bad
		}
		if !ok(c.lines) {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("%s: %v; lines so far: %+v", what, err, c.lines)
	}
}

func has(replica, line string) func([]berth.LogLine) bool {
	return func(ls []berth.LogLine) bool {
		return slices.ContainsFunc(ls, func(l berth.LogLine) bool { return l.Replica == replica && l.Line == line })
	}
}

func TestServiceLogsFollow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Every pod of the namespace, those to come too, logs this file.
	file := kubetest.NewLogFile(t)
	old := time.Now().Add(-time.Hour)
	file.Append(t, old, "first", "second")
	e.c.ServeNamespaceLogs(t, e.ns, file, nil)
	pods := e.logWorkload(t, "api", 1)
	first := pods[0].Name
	e.c.WaitLogs(t, e.ns, first, "app")

	ctx, cancel := context.WithCancel(t.Context())
	var c collector
	done := make(chan error, 1)
	go func() { done <- e.rt.ServiceLogs(ctx, e.ref("api"), berth.LogOptions{Follow: true, Tail: 1}, c.fn) }()

	c.wait(t, "backlog", func(ls []berth.LogLine) bool { return len(ls) >= 1 })
	file.Append(t, time.Now(), "live one")
	c.wait(t, "a live line", has(first, "live one"))
	c.mu.Lock()
	if got := c.lines[0]; got.Replica != first || got.Line != "second" || len(c.lines) != 2 {
		t.Errorf("lines %+v, want the last backlog line (tail 1), then the live one", c.lines)
	}
	c.mu.Unlock()

	// A restart replaces the pod: the follow picks the new one up, the old
	// one's stream ends with it, the follow goes on.
	e.kubectl(t, "rollout", "restart", "deployment/api")
	second := e.runningPods(t, "api", 1, []string{first})[0].Name
	// Its whole log: lines of the same time included.
	for _, l := range []string{"first", "second", "live one"} {
		c.wait(t, "the new pod's log", has(second, l))
	}
	ctxGone, cancelGone := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancelGone()
	if err := kubetest.Eventually(ctxGone, func(ctx context.Context) error {
		_, err := e.c.Client.CoreV1().Pods(e.ns).Get(ctx, first, metav1.GetOptions{})
		if err == nil {
			return fmt.Errorf("pod %s still there", first)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Once the runtime's cache shows the old pod gone, its stream ends and
	// only the new pod reports new lines.
	e.waitState(t, "api", func(st *berth.ServiceState) error {
		if len(st.Instances) != 1 || st.Instances[0].Name != second {
			return fmt.Errorf("instances %+v, want only %s", st.Instances, second)
		}
		return nil
	})
	for _, l := range []string{"live two", "live three"} {
		file.Append(t, time.Now(), l)
		c.wait(t, "a live line from the new pod", has(second, l))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follow ended with %v, want nil when ctx ends", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("follow did not end with its context")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if has(first, "live three")(c.lines) {
		t.Errorf("the pod that went away still streamed: %+v", c.lines)
	}
}

// A StatefulSet's pod comes back under the same name: the follow tells the
// new instance from the old one and reads it from its start.
func TestServiceLogsFollowStatefulSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := kubetest.NewLogFile(t)
	file.Append(t, time.Now().Add(-time.Hour), "boot")
	e.c.ServeNamespaceLogs(t, e.ns, file, nil)
	labels := map[string]string{"app": "db"}
	_, err := e.c.Client.AppsV1().StatefulSets(e.ns).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres:17"}}},
			}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create statefulset: %v", err)
	}
	old := e.runningPods(t, "db", 1, nil)[0]
	e.c.WaitLogs(t, e.ns, "db-0", "")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var c collector
	done := make(chan error, 1)
	go func() { done <- e.rt.ServiceLogs(ctx, e.ref("db"), berth.LogOptions{Follow: true}, c.fn) }()
	c.wait(t, "backlog", has("db-0", "boot"))

	// Deleted, the pod comes back as db-0 with another UID.
	e.kubectl(t, "delete", "pod", "db-0", "--wait=false")
	ctxNew, cancelNew := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancelNew()
	if err := kubetest.Eventually(ctxNew, func(ctx context.Context) error {
		p, err := e.c.Client.CoreV1().Pods(e.ns).Get(ctx, "db-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID == old.UID || p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("db-0 is %s, uid %s (old %s)", p.Status.Phase, p.UID, old.UID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The new instance's log, read from its start, says "boot" again.
	c.wait(t, "the new instance's log", func(ls []berth.LogLine) bool {
		n := 0
		for _, l := range ls {
			if l.Replica == "db-0" && l.Line == "boot" {
				n++
			}
		}
		return n == 2
	})
	file.Append(t, time.Now(), "ready")
	c.wait(t, "a live line", has("db-0", "ready"))
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}
}

// A line longer than the bound is cut, not an error, and the next line
// reads as usual.
func TestServiceLogsLongLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := kubetest.NewLogFile(t)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	file.Append(t, t0, strings.Repeat("x", 200<<10))
	file.Append(t, t0.Add(time.Second), "short")
	e.c.ServeNamespaceLogs(t, e.ns, file, nil)
	pods := e.logWorkload(t, "long", 1)
	e.c.WaitLogs(t, e.ns, pods[0].Name, "app")
	got, err := readLogs(t, e, "long", berth.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Line != "short" || !got[1].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("%d lines, want 2 (the last %q)", len(got), got[len(got)-1].Line)
	}
	if n := len(got[0].Line); n == 0 || n > 64<<10 || strings.Trim(got[0].Line, "x") != "" {
		t.Errorf("long line: %d bytes, want at most 64 KiB of it", n)
	}
	if !got[0].Time.Equal(t0) {
		t.Errorf("long line time %s, want %s", got[0].Time, t0)
	}
}
