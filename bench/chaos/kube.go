package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const kubeNS = "chaos"

// rollout is one update of the service "web" on the kubernetes target.
type rollout struct {
	restart      bool
	ackAt        time.Time // berth answered the PUT
	downAt, upAt time.Time // kube-apiserver told to stop, ready again
	stoppedAt    time.Time // its process exited
	midRollout   bool      // the rollout had begun and not finished when it stopped
	notReady     bool      // berth's /readyz said not ready while it was down
	kubeDoneAt   time.Time // the Deployment's status: every replica updated, ready, available, no old one left
	berthDoneAt  time.Time // berth's GET says RUNNING, all replicas ready, at the new revision
}

type kubeResult struct {
	rollouts []*rollout
	replicas int
}

// runKube rolls out a service of berth's kubernetes target again and again
// on the test control plane, restarting kube-apiserver in the middle of
// every other rollout, and times each to completion.
func runKube(ctx context.Context, o options, bin string, loads *[]float64) (*kubeResult, error) {
	dir, err := os.MkdirTemp("", "bench-chaos-kube-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	step("starting the Kubernetes control plane (builds its binaries when not cached)")
	cctx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	defer cancel()
	cluster, err := kubetest.Start(cctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	defer cluster.Stop()
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kubeNS}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if err := kubetest.Eventually(cctx, func(ctx context.Context) error {
		_, err := cluster.Client.CoreV1().ServiceAccounts(kubeNS).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r := &replica{name: "k", addr: addr, url: "http://" + addr, dir: dir, bin: bin,
		http:   &http.Client{Timeout: 30 * time.Second},
		config: fmt.Sprintf("defaultTarget: k\ntargets:\n  - name: k\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    defaultNamespace: %s\n", cluster.Kubeconfig, kubeNS, kubeNS),
		env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "BERTH_ADMIN_PASSWORD=chaos-admin-password",
			"BERTH_RATE_LIMIT=-1", "BERTH_LOG_LEVEL=warn", "BERTH_DATA_DIR=" + filepath.Join(dir, "data")}}
	step("starting berth with a kubernetes target")
	if err := r.start(); err != nil {
		return nil, err
	}
	defer r.stop()
	if _, err := r.waitReady(ctx, 90*time.Second); err != nil {
		return nil, err
	}
	var login struct{ Token string }
	if err := r.api(ctx, "", "POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "chaos-admin-password"}, &login); err != nil {
		return nil, err
	}
	res := &kubeResult{replicas: o.kubeReps}
	// Round 0 creates the service; it is not timed.
	for i := 0; i <= 2*o.kubeRounds; i++ {
		ro, err := rollOut(ctx, cluster, r, login.Token, i, o.kubeReps, i > 0 && i%2 == 0, o.kubeDown)
		if err != nil {
			return nil, fmt.Errorf("rollout %d: %w\n%s", i, err, r.logTail())
		}
		if i == 0 {
			continue
		}
		res.rollouts = append(res.rollouts, ro)
		detail := ""
		if ro.restart {
			detail = fmt.Sprintf(" (apiserver stopping %s, down until ready %s, mid-rollout %v; complete %s after it was back, berth %s after Kubernetes)",
				since(ro.downAt, ro.stoppedAt), since(ro.stoppedAt, ro.upAt), ro.midRollout, since(ro.upAt, ro.kubeDoneAt), since(ro.kubeDoneAt, ro.berthDoneAt))
		}
		step("rollout %d (%s): complete in Kubernetes %s, in berth %s after the PUT%s", i, map[bool]string{true: "kube-apiserver restarted", false: "undisturbed"}[ro.restart],
			since(ro.ackAt, ro.kubeDoneAt), since(ro.ackAt, ro.berthDoneAt), detail)
		*loads = append(*loads, loadavg())
	}
	return res, nil
}

// rollOut applies revision seq of "web" and waits until both Kubernetes and
// berth say it is complete, restarting kube-apiserver once the rollout has
// begun when restart is set.
func rollOut(ctx context.Context, c *kubetest.Cluster, r *replica, token string, seq, replicas int, restart bool, down time.Duration) (*rollout, error) {
	ro := &rollout{restart: restart}
	spec := map[string]any{"target": "k", "namespace": kubeNS, "image": "nginx:1.27", "replicas": replicas,
		"env": map[string]string{"ROLLOUT": strconv.Itoa(seq)}}
	var out struct {
		Service struct{ Revision int }
	}
	if err := r.api(ctx, token, "PUT", "/api/v1/services/web", spec, &out); err != nil {
		return nil, err
	}
	ro.ackAt = time.Now()
	deps := c.Client.AppsV1().Deployments(kubeNS)
	if restart {
		// Wait until the new ReplicaSet has pods, then take the API server away.
		deadline := time.Now().Add(time.Minute)
		for {
			d, err := deps.Get(ctx, "web", metav1.GetOptions{})
			if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= 1 {
				ro.midRollout = d.Status.UpdatedReplicas < int32(replicas) || d.Status.Replicas > int32(replicas) || d.Status.AvailableReplicas < int32(replicas) // #nosec G115 -- a small replica count
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("the rollout did not begin within a minute: %v", err)
			}
			pause(ctx, 10*time.Millisecond)
		}
		ro.downAt = time.Now()
		if err := c.RestartAPIServer(ctx, func() {
			ro.stoppedAt = time.Now()
			end := time.Now().Add(down)
			for time.Now().Before(end) {
				if !r.ready(ctx) {
					ro.notReady = true
				}
				pause(ctx, 200*time.Millisecond)
			}
		}); err != nil {
			return nil, err
		}
		ro.upAt = time.Now()
	}
	deadline := time.Now().Add(3 * time.Minute)
	for ro.kubeDoneAt.IsZero() || ro.berthDoneAt.IsZero() {
		now := time.Now()
		if ro.kubeDoneAt.IsZero() {
			d, err := deps.Get(ctx, "web", metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) && now.After(deadline) {
				return nil, err
			}
			n := int32(replicas) // #nosec G115 -- a small replica count
			if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == n &&
				d.Status.ReadyReplicas == n && d.Status.AvailableReplicas == n && d.Status.Replicas == n &&
				envOf(d.Spec.Template.Spec.Containers, "ROLLOUT") == strconv.Itoa(seq) {
				ro.kubeDoneAt = now
			}
		}
		if ro.berthDoneAt.IsZero() {
			var got struct {
				Service struct {
					Status        string
					ReadyReplicas int
					Replicas      int
					Revision      int
				}
			}
			if err := r.api(ctx, token, "GET", "/api/v1/services/web?target=k&namespace="+kubeNS, nil, &got); err == nil &&
				got.Service.Status == "RUNNING" && got.Service.ReadyReplicas == replicas && got.Service.Revision == out.Service.Revision {
				ro.berthDoneAt = now
			}
		}
		if now.After(deadline) {
			step("rollout %d: not complete 3 minutes after the PUT (in Kubernetes: %v, in berth: %v)", seq, !ro.kubeDoneAt.IsZero(), !ro.berthDoneAt.IsZero())
			return ro, nil
		}
		pause(ctx, 50*time.Millisecond)
	}
	return ro, nil
}

func envOf(cs []corev1.Container, name string) string {
	for _, c := range cs {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

func printKube(w interface{ Write([]byte) (int, error) }, o options, kr *kubeResult) {
	var plainK, plainB, rsK, rsB, downs, afterUp, lag []float64
	mid, notReady, restarts, incomplete := 0, 0, 0, 0
	for _, ro := range kr.rollouts {
		if ro.kubeDoneAt.IsZero() || ro.berthDoneAt.IsZero() {
			incomplete++
			continue
		}
		k, _ := secs(ro.ackAt, ro.kubeDoneAt)
		b, _ := secs(ro.ackAt, ro.berthDoneAt)
		if ro.restart {
			restarts++
			rsK, rsB = append(rsK, k), append(rsB, b)
			d, _ := secs(ro.downAt, ro.upAt)
			downs = append(downs, d)
			u, _ := secs(ro.upAt, ro.kubeDoneAt)
			afterUp = append(afterUp, u)
			l, _ := secs(ro.kubeDoneAt, ro.berthDoneAt)
			lag = append(lag, l)
			if ro.midRollout {
				mid++
			}
			if ro.notReady {
				notReady++
			}
		} else {
			plainK, plainB = append(plainK, k), append(plainB, b)
		}
	}
	fmt.Fprintf(w, "\nKubernetes: rollout of a %d-replica berth service (PUT → complete), kube-apiserver SIGKILLed and restarted in %d of %d rollouts (%d mid-rollout; down %.1fs median, kill to ready)\n",
		kr.replicas, restarts, len(kr.rollouts), mid, median(downs))
	fmt.Fprintln(w, "rollout\tmedian in Kubernetes\tmedian in berth\tn")
	fmt.Fprintf(w, "  undisturbed\t%.2fs\t%.2fs\t%d\n", median(plainK), median(plainB), len(plainK))
	fmt.Fprintf(w, "  kube-apiserver restarted\t%.2fs\t%.2fs\t%d\n", median(rsK), median(rsB), len(rsK))
	fmt.Fprintf(w, "  ratio restarted / undisturbed\t%s\t%s\t\n", ratio(median(rsK), median(plainK)), ratio(median(rsB), median(plainB)))
	fmt.Fprintf(w, "  kube-apiserver back → rollout complete in Kubernetes\t%.2fs\t\t%d\n", median(afterUp), len(afterUp))
	fmt.Fprintf(w, "  complete in Kubernetes → berth says so (its informers' lag)\t\t%.2fs\t%d\n", median(lag), len(lag))
	fmt.Fprintf(w, "  rollouts that did not complete within 3 minutes (must be 0)\t%d of %d\n", incomplete, len(kr.rollouts))
	fmt.Fprintf(w, "  berth's /readyz said not ready while kube-apiserver was down\t%d of %d\n", notReady, restarts)
}
