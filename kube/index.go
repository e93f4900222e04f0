package kube

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/berthhq/berth"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Kinds of workload a ServiceKey names.
const (
	kindDeploymentKey  = "Deployment"
	kindStatefulSetKey = "StatefulSet"
)

// serviceIndex keeps the key of every Deployment and StatefulSet the
// informers hold, fed by their handlers, and a version bumped by every
// change of one of them. The sorted keys are rebuilt only when a workload
// was added or deleted, so a page of services costs the page: before, each
// request converted and sorted every workload of the cluster (321 ms a
// page at 10,000 Deployments).
type serviceIndex struct {
	mu      sync.Mutex
	keys    map[berth.ServiceKey]struct{}
	sorted  []berth.ServiceKey // nil when keys changed since it was built
	version uint64
}

func newServiceIndex() *serviceIndex {
	return &serviceIndex{keys: map[berth.ServiceKey]struct{}{}}
}

// handler feeds the index from the informer of kind.
func (x *serviceIndex) handler(kind string) cache.ResourceEventHandler {
	key := func(obj any) (berth.ServiceKey, bool) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		m, ok := obj.(metav1.Object)
		if !ok {
			return berth.ServiceKey{}, false
		}
		return berth.ServiceKey{Namespace: m.GetNamespace(), Name: m.GetName(), Kind: kind}, true
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if k, ok := key(obj); ok {
				x.set(k, true)
			}
		},
		UpdateFunc: func(_, obj any) { x.touch() },
		DeleteFunc: func(obj any) {
			if k, ok := key(obj); ok {
				x.set(k, false)
			}
		},
	}
}

func (x *serviceIndex) set(k berth.ServiceKey, present bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.version++
	if _, had := x.keys[k]; had == present {
		return
	}
	if present {
		x.keys[k] = struct{}{}
	} else {
		delete(x.keys, k)
	}
	x.sorted = nil
}

func (x *serviceIndex) touch() {
	x.mu.Lock()
	x.version++
	x.mu.Unlock()
}

// snapshot returns the keys in order and the version. The slice is never
// modified once built: a change builds a new one.
func (x *serviceIndex) snapshot() ([]berth.ServiceKey, uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.sorted == nil {
		sorted := make([]berth.ServiceKey, 0, len(x.keys))
		for k := range x.keys {
			sorted = append(sorted, k)
		}
		slices.SortFunc(sorted, compareKeys)
		x.sorted = sorted
	}
	return x.sorted, x.version
}

// compareKeys orders keys by namespace, name, then kind.
func compareKeys(a, b berth.ServiceKey) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
}

var _ berth.ServiceIndexer = (*Runtime)(nil)

// ServiceKeys returns the keys of every Deployment and StatefulSet of the
// watched namespaces, sorted, once the caches have synced.
func (r *Runtime) ServiceKeys(ctx context.Context) ([]berth.ServiceKey, uint64, error) {
	if err := r.waitSynced(ctx); err != nil {
		return nil, 0, err
	}
	keys, version := r.index.snapshot()
	return keys, version, nil
}

// ServicesOf converts the workloads of keys, from the caches (nil for one
// deleted since its key was read).
func (r *Runtime) ServicesOf(ctx context.Context, keys []berth.ServiceKey) ([]*berth.Service, error) {
	if err := r.waitSynced(ctx); err != nil {
		return nil, err
	}
	out := make([]*berth.Service, len(keys))
	for n, k := range keys {
		i := r.listerIndex(k.Namespace)
		switch k.Kind {
		case kindDeploymentKey:
			if d, err := r.deploys[i].Deployments(k.Namespace).Get(k.Name); err == nil {
				out[n] = r.deploymentService(d)
			}
		case kindStatefulSetKey:
			if s, err := r.sets[i].StatefulSets(k.Namespace).Get(k.Name); err == nil {
				out[n] = r.statefulSetService(s)
			}
		default:
			return nil, fmt.Errorf("services of target %q: unknown kind %q", r.cfg.Target, k.Kind)
		}
	}
	return out, nil
}
