// Package kubebench holds what the benchmarks on the tests' control plane
// share (bench-kube, bench-scale): a fast client, kwok nodes, namespaces and
// Deployments berth did not create, berth on the cluster, and the list
// comparison of berth against kubectl in the same run.
package kubebench

import (
	"fmt"

	"github.com/berthhq/berth/internal/berthproc"
)

// StartBerth runs `berth serve` with one kubernetes target named k that
// watches every namespace of the cluster, and logs in.
func StartBerth(bin, dir, kubeconfig string) (*berthproc.Server, error) {
	return berthproc.Start(bin, dir, fmt.Sprintf("targets:\n  - name: k\n    type: kubernetes\n    kubeconfig: %s\n", kubeconfig))
}

// ServiceList is the part of GET /api/v1/services the bench reads.
type ServiceList struct {
	Services []struct {
		Name, Namespace, Status string
		ReadyReplicas           int
	}
	Total int
}
