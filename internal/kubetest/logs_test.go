package kubetest_test

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod's logs go through the API server's pods/log, which reaches kwok as
// it would a kubelet: kubectl logs, tail, previous and follow all work.
func TestPodLogs(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "talker", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "talker", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	current, previous := kubetest.NewLogFile(t), kubetest.NewLogFile(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	current.Append(t, t0, "one", "two")
	current.Append(t, t0.Add(time.Second), "three")
	previous.Append(t, t0.Add(-time.Hour), "before the crash")
	c.ServePodLogs(t, ns, "talker", current, previous)
	c.WaitLogs(t, ns, "talker", "")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "talker"}, "one\ntwo\nthree"},
		{[]string{"logs", "talker", "--tail=1"}, "three"},
		{[]string{"logs", "talker", "--timestamps", "--tail=1"}, "2026-01-02T03:04:06.000000000Z three"},
		{[]string{"logs", "talker", "--previous"}, "before the crash"},
	} {
		if got := c.Kubectl(t, append([]string{"-n", ns}, tc.args...)...); got != tc.want {
			t.Errorf("kubectl %s = %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	// Follow: a line appended later arrives on the open stream.
	rc, err := c.Client.CoreV1().Pods(ns).GetLogs("talker", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(rc)
		defer close(lines)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for _, want := range []string{"one", "two", "three"} {
		if got := <-lines; got != want {
			t.Fatalf("follow: got %q, want %q", got, want)
		}
	}
	current.Append(t, time.Now(), "live")
	select {
	case got := <-lines:
		if got != "live" {
			t.Errorf("follow: got %q, want live", got)
		}
	case <-ctx.Done():
		t.Fatal("follow: the appended line never came")
	}
}
