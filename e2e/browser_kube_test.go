package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/kubetest"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// wsRecorder wraps the page's WebSocket before any script of the page runs
// (injected by the browser, outside the page's CSP): it keeps what the page
// sends and counts the events it receives by topic and type.
const wsRecorder = `(() => {
	const W = window.WebSocket;
	const rec = { sent: [], got: {} };
	window.__e2eWS = rec;
	window.WebSocket = class extends W {
		constructor(...args) {
			super(...args);
			this.addEventListener('message', (m) => {
				try {
					const e = JSON.parse(m.data);
					if (e && e.topic) { const k = e.topic + ' ' + e.type; rec.got[k] = (rec.got[k] || 0) + 1; }
				} catch (err) { /* not JSON: not an event */ }
			});
		}
		send(data) { rec.sent.push(String(data)); return super.send(data); }
	};
})()`

// recordWebSocket installs wsRecorder for every document the tab loads.
func (d *dashboard) recordWebSocket() {
	d.t().Helper()
	ctx, cancel := context.WithTimeout(d.Context(), 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: wsRecorder})
		return err
	})); err != nil {
		d.Fatalf("install the WebSocket recorder: %v", err)
	}
}

// wsEvents is how many events of that topic and type the page received.
func (d *dashboard) wsEvents(topic, typ string) int {
	d.t().Helper()
	var n int
	d.Eval(`(window.__e2eWS && window.__e2eWS.got[`+strconv.Quote(topic+" "+typ)+`]) || 0`, &n)
	return n
}

// wsSubscribed reports whether the page sent a subscribe naming topic.
func (d *dashboard) wsSubscribed(topic string) bool {
	d.t().Helper()
	var ok bool
	d.Eval(`(window.__e2eWS ? window.__e2eWS.sent : []).some((s) => {
		try { const m = JSON.parse(s); return m.action === 'subscribe' && (m.topics || []).includes(`+strconv.Quote(topic)+`); }
		catch (e) { return false; } })`, &ok)
	return ok
}

// readyDeployment waits until the Deployment has rolled out want replicas,
// all ready and updated, with want running pods of its current template,
// and returns it and those pods.
func readyDeployment(t *testing.T, ctx context.Context, c *kubetest.Cluster, ns, name string, want int32) (*appsv1.Deployment, []corev1.Pod) {
	t.Helper()
	var dep *appsv1.Deployment
	var pods []corev1.Pod
	Eventually(t, 60*time.Second, fmt.Sprintf("%s/%s rolled out with %d ready pods", ns, name, want), func() (bool, string) {
		var err error
		dep, err = c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st := dep.Status
		state := fmt.Sprintf("generation %d observed %d, replicas %d updated %d ready %d available %d",
			dep.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas)
		if st.ObservedGeneration != dep.Generation || st.Replicas != want || st.UpdatedReplicas != want ||
			st.ReadyReplicas != want || st.AvailableReplicas != want {
			return false, state
		}
		progressing := false
		for _, cond := range st.Conditions {
			if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "NewReplicaSetAvailable" {
				progressing = true
			}
		}
		if !progressing {
			return false, state + ", rollout not complete"
		}
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err.Error()
		}
		pods = pods[:0]
		var seen []string
		for _, p := range list.Items {
			ready := false
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			seen = append(seen, fmt.Sprintf("%s %s ready=%v deleting=%v", p.Name, p.Status.Phase, ready, p.DeletionTimestamp != nil))
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && ready &&
				p.Annotations["kubectl.kubernetes.io/restartedAt"] == dep.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] {
				pods = append(pods, p)
			}
		}
		return len(pods) == int(want) && len(list.Items) == int(want), state + "; pods " + strings.Join(seen, ", ")
	})
	return dep, pods
}

// createCart creates, as someone else than berth would, a Deployment cart
// of one replica in namespace ns, its namespace in its env.
func createCart(t *testing.T, ctx context.Context, c *kubetest.Cluster, ns string) {
	t.Helper()
	sel := map[string]string{"app": "cart"}
	_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "cart"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "cart", Image: "busybox:1",
					Env: []corev1.EnvVar{{Name: "CART_NAMESPACE", Value: ns}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s/cart: %v", ns, err)
	}
}

// TestBrowserKubernetes: the dashboard on a Kubernetes target, for a
// Deployment berth did not create (shop/cart) beside one of the same name
// in another namespace (other/cart): both listed as their own rows, the
// service page scales and restarts shop/cart (read back with client-go),
// shows its events and follows its logs live over the target-qualified
// log topic, and other/cart is left exactly as it was.
func TestBrowserKubernetes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build of the cluster takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	sameNamespace(t, ctx, cluster, "shop")
	sameNamespace(t, ctx, cluster, "other")

	// Every pod of shop logs this file (kwok serves it as their output).
	logFile := kubetest.NewLogFile(t)
	logFile.Append(t, time.Now().Add(-time.Minute), "cart boot", "cart ready")
	cluster.ServeNamespaceLogs(t, "shop", logFile, nil)
	createCart(t, ctx, cluster, "shop")
	createCart(t, ctx, cluster, "other")
	_, shopPods := readyDeployment(t, ctx, cluster, "shop", "cart", 1)
	readyDeployment(t, ctx, cluster, "other", "cart", 1)
	cluster.WaitLogs(t, "shop", shopPods[0].Name, "")
	otherBefore := snapshot(t, ctx, cluster, "other", "cart")

	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: local\n    type: local\n  - name: kube\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [shop, other]\n",
		cluster.Kubeconfig))

	// What the API says of them: two services named cart on kube, one per
	// namespace, neither created by berth.
	var shopAPI map[string]any
	Eventually(t, 60*time.Second, "the API lists shop/cart and other/cart on kube, RUNNING", func() (bool, string) {
		list := b.MustDo(200, "GET", "/api/v1/services?target=kube", nil)
		found := map[string]map[string]any{}
		for _, s := range list["services"].([]any) {
			m := s.(map[string]any)
			found[str(m, "namespace")+"/"+str(m, "name")] = m
		}
		shop, other := found["shop/cart"], found["other/cart"]
		if len(found) != 2 || shop == nil || other == nil {
			return false, mustJSON(list)
		}
		for _, m := range []map[string]any{shop, other} {
			if str(m, "target") != "kube" || m["managed"] != false || str(m, "status") != "RUNNING" || num(m, "readyReplicas") != 1 {
				return false, mustJSON(list)
			}
		}
		shopAPI = shop
		return true, ""
	})
	name := str(shopAPI, "name") // the API's name: "cart", with namespace "shop"
	if name != "cart" || str(shopAPI, "namespace") != "shop" {
		t.Fatalf("the API names shop's cart %q in namespace %q", name, str(shopAPI, "namespace"))
	}

	d := openDashboard(t, b)
	d.recordWebSocket()
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")
	step := steps(t, b.use, d.Use)
	// The rows of the two carts, told apart by their links (the namespace
	// is part of the service's route).
	shopHref, otherHref := "#/services/shop%2Fcart?target=kube", "#/services/other%2Fcart?target=kube"
	rowOf := func(href string) string {
		return svcRow(name) + `[data-target="kube"]:has(` + tid("service-name") + `[href="` + href + `"])`
	}
	shopRow, otherRow := rowOf(shopHref), rowOf(otherHref)
	var pods []corev1.Pod // shop/cart's, from the scale on

	// The list: one row per namespace, told apart by their links (the
	// namespace is part of the service's route).
	step("the list", func(t *testing.T) {
		d.Click("nav-services")
		d.WaitHash("#/services")
		d.WaitVisible("services-table")
		for _, r := range []struct{ sel, ns string }{{shopRow, "shop"}, {otherRow, "other"}} {
			d.WaitVisibleSel(r.sel)
			d.WaitTextSel(r.sel+" "+tid("service-status"), "RUNNING")
			d.WaitTextSel(r.sel+" "+tid("service-replicas"), "1/1")
			if got := d.TextSel(r.sel + " " + tid("service-target")); got != "kube" {
				t.Errorf("%s/cart's row: target %q, want kube", r.ns, got)
			}
			cells := d.Texts(r.sel + " td")
			if len(cells) < 7 || cells[0] != "cart" || cells[4] != r.ns || cells[6] != "external" {
				t.Errorf("%s/cart's row: cells %q, want name cart, namespace %s, managed external", r.ns, cells, r.ns)
			}
		}
		if n := d.Count(svcRow(name)); n != 2 {
			t.Errorf("%d rows named cart, want 2: %v", n, d.Texts(svcRow(name)))
		}
		d.check()
	})

	// The service page, through the row's link.
	step("the service page", func(t *testing.T) {
		d.ClickSel(shopRow + " " + tid("service-name"))
		d.WaitHash(shopHref)
		d.WaitText("service-title", "shop/cart")
		d.WaitText("service-status", "RUNNING")
		d.WaitText("service-replicas", "1/1")
		d.markPage()

		// What berth may do to a service it did not create: scale, stop,
		// restart, roll back; not delete it nor change its configuration (the
		// API refuses both), so the page offers neither. Its env shows, read-only.
		d.waitEnabled(tid("action-restart"), true)
		d.waitEnabled(tid("action-stop"), true)
		d.waitEnabled(tid("action-start"), false) // it runs
		d.waitEnabled(tid("action-delete"), false)
		d.WaitTextSel(tid("env-var-row")+`[data-key="CART_NAMESPACE"]`, "shop")
		if n := d.Count(tid("config-save") + ", " + tid("config-add") + ", " + tid("config-env-value")); n != 0 {
			t.Errorf("the page offers to change the configuration of a service berth did not create (%d control(s))", n)
		}
		if code, m := b.Do(b.Token(), "PUT", "/api/v1/services/shop%2Fcart/config?target=kube", map[string]any{"env": map[string]string{"CART_NAMESPACE": "x"}}); code != 409 {
			t.Errorf("PUT config of shop/cart: %d %v, want 409 (the page must not offer it)", code, m)
		}

		// Its logs: what the pod logged so far, from the API.
		d.WaitTextSel(tid("logs")+" "+tid("log-line"), "cart ready")
		d.check()
	})

	// Scale to 2: the page shows the desired count at once; the Deployment
	// (not berth's) says 2, and two pods become ready.
	step("scale", func(t *testing.T) {
		d.Eventually("scale-input shows 1", func() (bool, string) {
			v := d.Value("scale-input")
			return v == "1", v
		})
		d.SetValue("scale-input", "2")
		d.Click("scale-submit")
		d.WaitText("service-replicas", "/2 ready")
		Eventually(t, 30*time.Second, "shop/cart's spec.replicas 2", func() (bool, string) {
			dep, err := cluster.Client.AppsV1().Deployments("shop").Get(ctx, "cart", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return *dep.Spec.Replicas == 2, fmt.Sprint(*dep.Spec.Replicas)
		})
		_, pods = readyDeployment(t, ctx, cluster, "shop", "cart", 2)
		berthSees(t, b, pods)
		if m := b.MustDo(200, "GET", "/api/v1/logs?type=scale&status=completed", nil); num(m, "total") != 1 {
			t.Errorf("the scale is not audited once: %v", m)
		}
		d.check()
	})

	// Restart: kubectl's annotation on the pod template, and a rollout of
	// two new pods that carry it.
	step("restart", func(t *testing.T) {
		d.waitEnabled(tid("action-restart"), true)
		d.Click("action-restart")
		var restartedAt string
		Eventually(t, 30*time.Second, "restartedAt on shop/cart's pod template", func() (bool, string) {
			dep, err := cluster.Client.AppsV1().Deployments("shop").Get(ctx, "cart", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			restartedAt = dep.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
			return restartedAt != "", fmt.Sprint(dep.Spec.Template.Annotations)
		})
		if _, err := time.Parse(time.RFC3339, restartedAt); err != nil {
			t.Errorf("restartedAt %q is not an RFC 3339 time: %v", restartedAt, err)
		}
		scaled := pods
		_, pods = readyDeployment(t, ctx, cluster, "shop", "cart", 2)
		for _, p := range pods {
			for _, old := range append(scaled, shopPods...) {
				if p.UID == old.UID {
					t.Errorf("pod %s survived the restart", p.Name)
				}
			}
		}
		berthSees(t, b, pods)
		if m := b.MustDo(200, "GET", "/api/v1/logs?type=restart&status=completed", nil); num(m, "total") != 1 {
			t.Errorf("the restart is not audited once: %v", m)
		}
		Eventually(t, 30*time.Second, "the scale's event in GET shop/cart", func() (bool, string) {
			m := b.MustDo(200, "GET", "/api/v1/services/shop%2Fcart?target=kube", nil)
			return strings.Contains(mustJSON(m["service"].(map[string]any)["events"]), "from 1 to 2"), ""
		})

		// other/cart: the actions on shop/cart left it exactly as it was.
		if got := snapshot(t, ctx, cluster, "other", "cart"); got != otherBefore {
			t.Errorf("other/cart changed: before %+v, after %+v", otherBefore, got)
		}
	})

	// The page, read again through the list now that the rollout is done:
	// both rows, each with its own state.
	step("both rows after the rollout", func(t *testing.T) {
		d.Click("nav-services")
		d.WaitHash("#/services")
		d.WaitTextSel(shopRow+" "+tid("service-replicas"), "2/2")
		d.WaitTextSel(shopRow+" "+tid("service-status"), "RUNNING")
		d.WaitTextSel(otherRow+" "+tid("service-replicas"), "1/1")
		d.WaitTextSel(otherRow+" "+tid("service-status"), "RUNNING")
		if n := d.Count(svcRow(name)); n != 2 {
			t.Errorf("%d rows named cart, want 2: %v", n, d.Texts(svcRow(name)))
		}
		d.ClickSel(shopRow + " " + tid("service-name"))
		d.WaitHash(shopHref)
		d.WaitText("service-title", "shop/cart")
		d.WaitText("service-status", "RUNNING")
		d.WaitText("service-replicas", "2/2")
		d.WaitText("service-revision", "2") // the restart's ReplicaSet
		for _, p := range pods {
			d.WaitVisibleSel(tid("replica-row") + fmt.Sprintf("[data-name=%q]", p.Name))
		}
		if n := d.Count(tid("replica-row")); n != 2 {
			t.Errorf("%d replica rows after the restart, want 2: %v", n, d.Texts(tid("replica-row")))
		}
	})

	// Events: the controller's, the scale to 2 among them.
	step("events", func(t *testing.T) {
		d.WaitTextSel(tid("service-events")+" "+tid("event-row"), "ScalingReplicaSet")
		d.WaitTextSel(tid("service-events")+" "+tid("event-row"), "from 1 to 2")
		d.check()
	})

	// Live logs: the new pods' lines (from the API), then lines they log
	// now reach the page over the WebSocket, on the topic that names the
	// target and the namespace, appended to what it shows (the first line
	// stays the same element: nothing is re-read).
	step("live logs", func(t *testing.T) {
		for _, p := range pods {
			d.WaitTextSel(tid("logs")+" "+tid("log-line"), p.Name)
		}
		topic := "logs:kube:shop/cart"
		d.Eventually("the page subscribed to "+topic, func() (bool, string) {
			return d.wsSubscribed(topic), ""
		})
		d.Eval(`document.querySelector(`+strconv.Quote(tid("log-line"))+`).__e2eFirst = true`, nil)
		before := d.Count(tid("log-line"))
		eventsBefore := d.wsEvents(topic, "log.line")
		for i := 1; i <= 3; i++ {
			line := fmt.Sprintf("cart live %d", i)
			logFile.Append(t, time.Now(), line)
			d.WaitTextSel(tid("logs")+" "+tid("log-line"), line)
		}
		d.Eventually("each pod's 3 live lines", func() (bool, string) {
			n := d.Count(tid("log-line"))
			return n >= before+6, fmt.Sprintf("%d lines, %d before", n, before)
		})
		if n := d.wsEvents(topic, "log.line"); n < eventsBefore+6 {
			t.Errorf("%d log.line events on %s, %d before the new lines: want at least 6 more", n, topic, eventsBefore)
		}
		var kept bool
		d.Eval(`(() => { const el = document.querySelector(`+strconv.Quote(tid("log-line"))+`); return !!(el && el.__e2eFirst); })()`, &kept)
		if !kept {
			t.Errorf("the log lines were re-read, not appended live")
		}
		if n := d.Count(".log-note"); n != 0 {
			t.Errorf("the log stream ended: %v", d.Texts(".log-note"))
		}
		for _, l := range d.Texts(tid("log-line")) {
			if !strings.Contains(l, "cart ") || !strings.Contains(l, "cart-") {
				t.Errorf("a log line %q is not one of shop/cart's pods", l)
			}
		}
		d.assertNotReloaded("scale, restart and live logs")
		d.check()
	})

	// Still nothing changed on other/cart, in the cluster and through the API.
	step("the other cart untouched", func(t *testing.T) {
		if got := snapshot(t, ctx, cluster, "other", "cart"); got != otherBefore {
			t.Errorf("other/cart changed: before %+v, after %+v", otherBefore, got)
		}
		other := b.MustDo(200, "GET", "/api/v1/services/other%2Fcart?target=kube", nil)
		if num(other, "service", "replicas") != 1 || num(other, "service", "readyReplicas") != 1 || str(other, "service", "status") != "RUNNING" {
			t.Errorf("other/cart through the API: %v", other["service"])
		}
	})

	// A change made outside berth (kubectl scale) reaches the open list
	// live: the sync loop publishes what changes of services it did not create.
	step("a change outside berth is live", func(t *testing.T) {
		d.Click("nav-services")
		d.WaitHash("#/services")
		d.WaitTextSel(otherRow+" "+tid("service-replicas"), "1/1")
		sc, err := cluster.Client.AppsV1().Deployments("other").GetScale(ctx, "cart", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sc.Spec.Replicas = 3
		if _, err := cluster.Client.AppsV1().Deployments("other").UpdateScale(ctx, "cart", sc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		d.WaitTextSel(otherRow+" "+tid("service-replicas"), "3/3")
		d.assertNotReloaded("a scale made with client-go")
		d.check()
	})
}

// berthSees waits until berth's API shows shop/cart RUNNING with exactly
// these pods, all ready.
func berthSees(t *testing.T, b *Berth, pods []corev1.Pod) {
	t.Helper()
	var want []string
	for _, p := range pods {
		want = append(want, p.Name)
	}
	sort.Strings(want)
	Eventually(t, 30*time.Second, "berth sees shop/cart RUNNING with pods "+strings.Join(want, ", "), func() (bool, string) {
		s := b.MustDo(200, "GET", "/api/v1/services/shop%2Fcart?target=kube", nil)["service"].(map[string]any)
		var got []string
		instances, _ := s["instances"].([]any)
		for _, in := range instances {
			got = append(got, str(in.(map[string]any), "name"))
		}
		sort.Strings(got)
		return str(s, "status") == "RUNNING" && num(s, "replicas") == len(want) && num(s, "readyReplicas") == len(want) &&
			strings.Join(got, " ") == strings.Join(want, " "), fmt.Sprintf("%s %v/%v %v", str(s, "status"), s["readyReplicas"], s["replicas"], got)
	})
}
