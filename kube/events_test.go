package kube_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func (e *env) eventsWorkload(t *testing.T, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	_, err := e.c.Client.AppsV1().Deployments(e.ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
}

// waitEvents polls ServiceEvents until ok accepts the answer.
func (e *env) waitEvents(t *testing.T, name string, limit int, ok func([]berth.WorkloadEvent) error) []berth.WorkloadEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var evs []berth.WorkloadEvent
	err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		var err error
		if evs, err = e.rt.ServiceEvents(ctx, e.ref(name), limit); err != nil {
			return err
		}
		return ok(evs)
	})
	if err != nil {
		t.Fatalf("events of %s: %v\n%s", name, err, eventDump(evs))
	}
	return evs
}

func eventDump(evs []berth.WorkloadEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s %s %s %s x%d: %s\n", ev.Time.Format(time.RFC3339Nano), ev.Type, ev.Reason, ev.Object, ev.Count, ev.Message)
	}
	return b.String()
}

// hasEvent says whether an event of that reason about an object of that
// kind (and name prefix) is in evs.
func hasEvent(evs []berth.WorkloadEvent, reason, objectPrefix string) bool {
	return slices.ContainsFunc(evs, func(ev berth.WorkloadEvent) bool {
		return ev.Reason == reason && strings.HasPrefix(ev.Object, objectPrefix)
	})
}

func TestServiceEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.eventsWorkload(t, "web", 1)
	e.eventsWorkload(t, "web-other", 1) // its pods' names start like web's
	e.waitState(t, "web", running(1))
	e.kubectl(t, "scale", "deployment/web", "--replicas=3")
	e.waitState(t, "web", running(3))

	// The controllers' real events: the Deployment scaled its ReplicaSet,
	// which created pods, which the scheduler placed.
	evs := e.waitEvents(t, "web", 0, func(evs []berth.WorkloadEvent) error {
		for _, want := range [][2]string{
			{"ScalingReplicaSet", "Deployment/web"},
			{"SuccessfulCreate", "ReplicaSet/web-"},
			{"Scheduled", "Pod/web-"},
		} {
			if !hasEvent(evs, want[0], want[1]) {
				return fmt.Errorf("no %s event about %s", want[0], want[1])
			}
		}
		scaled := 0
		for _, ev := range evs {
			if ev.Reason == "ScalingReplicaSet" && strings.Contains(ev.Message, "from 1 to 3") {
				scaled++
			}
		}
		if scaled == 0 {
			return errors.New("no event of the scale from 1 to 3")
		}
		return nil
	})

	// From outside: the same events, newest first, web's only.
	all, err := e.c.Client.CoreV1().Events(e.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	otherObjects := map[string]bool{"Deployment/web-other": true}
	for _, ev := range all.Items {
		o := ev.InvolvedObject
		if o.Kind == "ReplicaSet" && strings.HasPrefix(o.Name, "web-other-") ||
			o.Kind == "Pod" && strings.HasPrefix(o.Name, "web-other-") {
			otherObjects[o.Kind+"/"+o.Name] = true
		}
	}
	if len(otherObjects) < 3 {
		t.Fatalf("web-other has events about %v only: the check below would prove nothing", otherObjects)
	}
	for i, ev := range evs {
		if otherObjects[ev.Object] {
			t.Errorf("event of web-other: %s %s", ev.Reason, ev.Object)
		}
		if !strings.HasPrefix(ev.Object, "Deployment/web") && !strings.HasPrefix(ev.Object, "ReplicaSet/web-") &&
			!strings.HasPrefix(ev.Object, "Pod/web-") {
			t.Errorf("event about %s", ev.Object)
		}
		if i > 0 && ev.Time.After(evs[i-1].Time) {
			t.Errorf("event %d (%s) is newer than the one before (%s)", i, ev.Time, evs[i-1].Time)
		}
		if ev.Count < 1 || ev.Type == "" || ev.Message == "" {
			t.Errorf("incomplete event %+v", ev)
		}
	}
	// Every event the API server holds about web's objects is there.
	e.waitEvents(t, "web", 0, func(evs []berth.WorkloadEvent) error {
		all, err := e.c.Client.CoreV1().Events(e.ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		objects := map[string]bool{}
		for _, ev := range evs {
			objects[ev.Object] = true
		}
		want := 0
		for _, ev := range all.Items {
			if objects[ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Name] {
				want++
			}
		}
		if want != len(evs) {
			return fmt.Errorf("%d events, the API server holds %d about the same objects", len(evs), want)
		}
		return nil
	})

	// The limit keeps the newest.
	limited, err := e.rt.ServiceEvents(t.Context(), e.ref("web"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(limited) != 2 || !limited[0].Time.Equal(evs[0].Time) {
		t.Errorf("limit 2: %s\nall:\n%s", eventDump(limited), eventDump(evs))
	}

	// Scaling down: the deleted pods' events stay (found by their names).
	e.kubectl(t, "scale", "deployment/web", "--replicas=1")
	e.waitState(t, "web", running(1))
	e.waitEvents(t, "web", 0, func(evs []berth.WorkloadEvent) error {
		if !hasEvent(evs, "SuccessfulDelete", "ReplicaSet/web-") {
			return errors.New("no SuccessfulDelete event")
		}
		pods := map[string]bool{}
		for _, ev := range evs {
			if ev.Reason == "Scheduled" {
				pods[ev.Object] = true
			}
		}
		if len(pods) < 3 {
			return fmt.Errorf("Scheduled events of %d pods, want the 3 ever run", len(pods))
		}
		return nil
	})

	for _, tc := range []struct {
		name  string
		ref   berth.ServiceRef
		limit int
		code  berth.Code
	}{
		{"missing service", e.ref("nope"), 0, berth.ENOTFOUND},
		{"negative limit", e.ref("web"), -1, berth.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.rt.ServiceEvents(t.Context(), tc.ref, tc.limit); berth.ErrorCode(err) != tc.code {
				t.Errorf("err %v, want %s", err, tc.code)
			}
		})
	}
}

// A StatefulSet's events: its own and its pods', not those of a
// StatefulSet whose name extends it.
func TestServiceEventsStatefulSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"db", "db-1"} {
		labels := map[string]string{"app": name}
		_, err := e.c.Client.AppsV1().StatefulSets(e.ns).Create(t.Context(), &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
				}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create statefulset %s: %v", name, err)
		}
	}
	evs := e.waitEvents(t, "db", 0, func(evs []berth.WorkloadEvent) error {
		if !hasEvent(evs, "SuccessfulCreate", "StatefulSet/db") || !hasEvent(evs, "Scheduled", "Pod/db-0") {
			return errors.New("no SuccessfulCreate of the set or Scheduled of db-0")
		}
		return nil
	})
	e.waitEvents(t, "db-1", 0, func(evs []berth.WorkloadEvent) error {
		if !hasEvent(evs, "Scheduled", "Pod/db-1-0") {
			return errors.New("no Scheduled of db-1-0")
		}
		return nil
	})
	for _, ev := range evs {
		if ev.Object != "StatefulSet/db" && ev.Object != "Pod/db-0" {
			t.Errorf("db has an event about %s", ev.Object)
		}
	}
}
