package main

import (
	"fmt"

	"github.com/berthhq/berth/internal/berthproc"
)

// startBerth runs `berth serve` with one kubernetes target named k that
// watches every namespace of the cluster, and logs in.
func startBerth(bin, dir, kubeconfig string) (*berthproc.Server, error) {
	return berthproc.Start(bin, dir, fmt.Sprintf("targets:\n  - name: k\n    type: kubernetes\n    kubeconfig: %s\n", kubeconfig))
}

// serviceList is the part of GET /api/v1/services the bench reads.
type serviceList struct {
	Services []struct {
		Name, Namespace, Status string
		ReadyReplicas           int
	}
	Total int
}
