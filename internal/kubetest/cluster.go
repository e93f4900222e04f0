// Package kubetest runs a real Kubernetes control plane for tests: etcd,
// kube-apiserver (TLS, token auth, RBAC), kube-controller-manager,
// kube-scheduler and kwok, which fakes nodes so pods reach Running without a
// kubelet. The binaries are built once from Go modules (tools/kube) and
// cached; one cluster serves a test binary, tests isolate by namespace.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/berthhq/berth/internal/toolcache"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// NodeName is the fake node kwok keeps Ready.
const NodeName = "kwok-node-0"

// Cluster is a running control plane owned by this process.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig with cluster-admin rights
	// (token auth, the cluster's CA), for kubectl and client-go.
	Kubeconfig string
	// Config and Client talk to the API server as cluster admin.
	Config *rest.Config
	Client kubernetes.Interface

	dir      string
	procs    []*process
	stopOnce sync.Once
}

type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Start builds the binaries if they are not cached (build output to
// buildLog), then starts a cluster on free loopback ports and waits until a
// fake node is Ready and schedulable.
func Start(ctx context.Context, buildLog io.Writer) (*Cluster, error) {
	bins, err := EnsureBinaries(ctx, buildLog)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	c := &Cluster{dir: dir}
	if err := c.start(ctx, bins); err != nil {
		c.Stop()
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, bins Binaries) error {
	p, err := writePKI(c.dir)
	if err != nil {
		return fmt.Errorf("write certificates: %w", err)
	}
	token := randomHex(24)
	tokens := filepath.Join(c.dir, "tokens.csv")
	// system:masters is cluster-admin: the harness, the controllers and kwok share it.
	if err := os.WriteFile(tokens, []byte(token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		return err
	}
	ports, err := toolcache.FreePorts(6)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, cmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	etcd, err := c.run(bins.Etcd, "etcd",
		"--name=default", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	if err := c.poll(ctx, etcd, 30*time.Second, func(ctx context.Context) error {
		return httpGet(ctx, etcdURL+"/health")
	}); err != nil {
		return err
	}

	host := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	api, err := c.run(bins.APIServer, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+p.certFile, "--tls-private-key-file="+p.keyFile, "--client-ca-file="+p.caFile,
		"--token-auth-file="+tokens, "--authorization-mode=RBAC", "--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p.saPublicFile, "--service-account-signing-key-file="+p.saPrivateFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		// A loopback address is no valid endpoint for the kubernetes Service: do not publish one.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false", "--profiling=false",
		// kwok's node names no resolvable host: reach its kubelet API (pod logs) by IP.
		"--kubelet-preferred-address-types=InternalIP",
		"--cert-dir="+filepath.Join(c.dir, "apiserver-certs"))
	if err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host:            host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM},
		QPS:             200,
		Burst:           400,
	}
	c.Client, err = kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if err := c.poll(ctx, api, 60*time.Second, func(ctx context.Context) error {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := c.writeKubeconfig(host, token, p.caPEM); err != nil {
		return err
	}

	if _, err := c.run(bins.ControllerManager, "kube-controller-manager",
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(cmPort),
		// No pod CIDRs to hand out on a fake node.
		"--controllers=*,-nodeipam", "--leader-elect=false",
		// The default 20 QPS makes a thousand Deployments take minutes.
		"--kube-api-qps=100", "--kube-api-burst=200",
		"--service-account-private-key-file="+p.saPrivateFile, "--root-ca-file="+p.caFile,
		"--cert-dir="+filepath.Join(c.dir, "cm-certs")); err != nil {
		return err
	}
	if _, err := c.run(bins.Scheduler, "kube-scheduler",
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort), "--leader-elect=false",
		"--cert-dir="+filepath.Join(c.dir, "sched-certs")); err != nil {
		return err
	}
	if err := c.installLogCRDs(ctx); err != nil {
		return err
	}
	// kwok also plays the kubelet's API: the node advertises 127.0.0.1 and
	// kwokPort, so the API server's pods/log reaches it, and kwok serves
	// the files that Logs and ClusterLogs objects name (logs.go).
	kwok, err := c.run(bins.Kwok, "kwok",
		"--kubeconfig="+c.Kubeconfig, "--manage-all-nodes=true",
		"--cidr=10.244.0.0/16", "--node-ip=127.0.0.1",
		"--node-port="+strconv.Itoa(kwokPort), "--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
		"--enable-crds=Logs,ClusterLogs",
		// Without node leases kwok posts node status only every 20–60 s,
		// past the node controller's 50 s grace: nodes went NotReady and
		// their pods unready for good in any run longer than a minute.
		"--node-lease-duration-seconds=40")
	if err != nil {
		return err
	}
	if err := c.createNode(ctx); err != nil {
		return err
	}
	return c.poll(ctx, kwok, 60*time.Second, c.nodeSchedulable)
}

func (c *Cluster) createNode(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{
				"type": "kwok", "kubernetes.io/hostname": NodeName,
				"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	return nil
}

// nodeSchedulable is Schedulable for the harness's node.
func (c *Cluster) nodeSchedulable(ctx context.Context) error {
	return Schedulable(ctx, c.Client, NodeName)
}

// Schedulable succeeds once kwok reports node name Ready; it then removes
// the not-ready taint itself rather than waiting for the node lifecycle
// controller's next pass. Poll it (more kwok nodes: bench-kube).
func Schedulable(ctx context.Context, client kubernetes.Interface, name string) error {
	node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return errors.New("node not Ready yet")
	}
	var keep []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Key != corev1.TaintNodeNotReady {
			keep = append(keep, t)
		}
	}
	if len(keep) == len(node.Spec.Taints) {
		return nil
	}
	node.Spec.Taints = keep
	_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	return errors.New("removed the not-ready taint; checking again")
}

func (c *Cluster) writeKubeconfig(host, token string, ca []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	return clientcmd.WriteToFile(*cfg, c.Kubeconfig)
}

// run starts a component with its output in dir/<name>.log. Pdeathsig ends
// it with the test binary even when cleanup never runs.
func (c *Cluster) run(bin, name string, args ...string) (*process, error) {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.Create(logPath) // #nosec G304 -- the log the test harness writes
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...) // #nosec G204 -- the harness runs the control plane binaries it built
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p, nil
}

// poll calls check until it succeeds, p exits, ctx ends or limit passes.
func (c *Cluster) poll(ctx context.Context, p *process, limit time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %s", p.name, logTail(p.log))
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", p.name, ctx.Err())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v; log: %s", p.name, limit, err, logTail(p.log))
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// Logs returns the tail of every component's log, for failure messages.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "--- %s\n%s\n", p.name, logTail(p.log))
	}
	return b.String()
}

// Stop ends every component, newest first, and removes the cluster's files.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			p := c.procs[i]
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		_ = os.RemoveAll(c.dir)
	})
}

func httpGet(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func logTail(path string) string {
	b, _ := os.ReadFile(path) // #nosec G304 -- the log the test harness writes
	b = bytes.TrimSpace(b)
	if len(b) > 3000 {
		b = append([]byte("…"), b[len(b)-3000:]...)
	}
	return string(b)
}

// RestartAPIServer kills kube-apiserver (SIGKILL, as a crash or a lost
// node: its graceful SIGTERM shutdown keeps serving for over 30 s), calls
// whileDown, then starts it again with the same flags (port, certificates,
// etcd) and waits until its /readyz answers. The other components reconnect
// by themselves. It must not run concurrently with Stop.
func (c *Cluster) RestartAPIServer(ctx context.Context, whileDown func()) error {
	i := slices.IndexFunc(c.procs, func(p *process) bool { return p.name == "kube-apiserver" })
	if i < 0 {
		return errors.New("restart kube-apiserver: not running")
	}
	old := c.procs[i]
	_ = old.cmd.Process.Kill()
	<-old.done
	if whileDown != nil {
		whileDown()
	}
	p, err := c.run(old.cmd.Path, old.name, old.cmd.Args[1:]...)
	if err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	// run appended it: it takes the old one's place, so Stop keeps its order.
	c.procs = slices.Delete(c.procs, len(c.procs)-1, len(c.procs))
	c.procs[i] = p
	return c.poll(ctx, p, 60*time.Second, func(ctx context.Context) error {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	})
}
