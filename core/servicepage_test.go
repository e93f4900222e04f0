package core_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store/storetest"
)

// workload is one object a fake cluster reports: its kind tells apart a
// Deployment and a StatefulSet of one name.
type workload struct {
	kind string
	svc  *berth.Service
}

// indexedCluster is clusterLike with an index (berth.ServiceIndexer), as
// the Kubernetes runtime keeps one; it counts the services it builds.
type indexedCluster struct {
	*clusterLike
	workloads []workload
	built     int
}

func (r *indexedCluster) ServiceKeys(context.Context) ([]berth.ServiceKey, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listErr != nil {
		return nil, 0, r.listErr
	}
	var keys []berth.ServiceKey
	for _, w := range r.workloads {
		keys = append(keys, berth.ServiceKey{Namespace: w.svc.Namespace, Name: w.svc.Name, Kind: w.kind})
	}
	slices.SortFunc(keys, func(a, b berth.ServiceKey) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return keys, 1, nil
}

func (r *indexedCluster) ServicesOf(_ context.Context, keys []berth.ServiceKey) ([]*berth.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*berth.Service, len(keys))
	for i, k := range keys {
		for _, w := range r.workloads {
			if w.kind == k.Kind && w.svc.Namespace == k.Namespace && w.svc.Name == k.Name {
				cp := *w.svc
				out[i] = &cp
				r.built++
			}
		}
	}
	return out, nil
}

func (r *indexedCluster) ListServices(ctx context.Context) ([]*berth.Service, error) {
	keys, _, err := r.ServiceKeys(ctx)
	if err != nil {
		return nil, err
	}
	return r.ServicesOf(ctx, keys)
}

// TestServicePages: paging through a few thousand services of a cluster
// (berth's own, stored, among them; a Deployment and a StatefulSet of one
// name) gives every service once, in target/namespace/name order, with
// the right total on every page, whether the runtime keeps an index or
// not; with an index, a walk through the pages builds each service once
// instead of every service per page.
func TestServicePages(t *testing.T) {
	t.Parallel()
	ctx := berth.WithActor(context.Background(), berth.System)
	// 3,000 workloads in 30 namespaces, reported in no particular order.
	var ws []workload
	for i := range 3000 {
		ws = append(ws, workload{"Deployment", &berth.Service{Name: fmt.Sprintf("app-%04d", i/30), Target: "k",
			Namespace: fmt.Sprintf("ns-%02d", i%30), Status: berth.ServiceStopped, Spec: berth.ServiceSpec{Image: "Deployment",
				Secrets: map[string]string{"K": "v"}}}})
	}
	ws = append(ws,
		workload{"StatefulSet", &berth.Service{Name: "app-0001", Target: "k", Namespace: "ns-00", Spec: berth.ServiceSpec{Image: "StatefulSet"}}},
		// berth's own, created without a namespace (the default one, apps)
		// and in one of the cluster's namespaces: their stored records win.
		workload{"Deployment", &berth.Service{Name: "b", Target: "k", Namespace: "apps", Managed: true}},
		workload{"Deployment", &berth.Service{Name: "mine", Target: "k", Namespace: "ns-07", Managed: true}},
	)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
	// What the pages must show: every workload, sorted, the stored ones
	// being berth's records (revision 1).
	var want []string
	for _, w := range ws {
		rev := 0
		if w.svc.Managed {
			rev = 1
		}
		want = append(want, fmt.Sprintf("%s/%s %s rev %d", w.svc.Namespace, w.svc.Name, w.kind, rev))
	}
	slices.Sort(want) // "Deployment" < "StatefulSet": the kinds' order too

	for _, indexed := range []bool{false, true} {
		t.Run(fmt.Sprintf("indexed=%v", indexed), func(t *testing.T) {
			t.Parallel()
			plain := &clusterLike{}
			ic := &indexedCluster{clusterLike: plain}
			var rt berth.Runtime = plain
			if indexed {
				rt = ic
			}
			c, err := core.New(core.Config{Store: storetest.Open(t, "sqlite", nil), Runtimes: []berth.Runtime{rt}})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ApplyService(ctx, "b", berth.ServiceSpec{Target: "k", Image: "b:1"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ApplyService(ctx, "mine", berth.ServiceSpec{Target: "k", Namespace: "ns-07", Image: "mine:1"}); err != nil {
				t.Fatal(err)
			}
			ic.workloads = ws
			// A runtime without an index has no order of kinds: list the
			// Deployment of app-0001 first, as the index orders them.
			byKind := slices.Clone(ws)
			slices.SortStableFunc(byKind, func(a, b workload) int { return cmp.Compare(a.kind, b.kind) })
			for _, w := range byKind {
				plain.found = append(plain.found, w.svc)
			}
			for _, size := range []int{97, 200, 5000} {
				ic.built = 0
				var got []string
				for offset := 0; ; offset += size {
					l, err := c.ListServices(ctx, "k", offset, size)
					if err != nil {
						t.Fatal(err)
					}
					if l.Total != len(want) {
						t.Fatalf("page size %d at %d: total %d, want %d", size, offset, l.Total, len(want))
					}
					if len(l.Services) == 0 {
						break
					}
					for _, s := range l.Services {
						image := s.Spec.Image
						if s.Managed {
							image = "Deployment" // the stored record's spec is berth's, not the cluster's
						}
						got = append(got, fmt.Sprintf("%s/%s %s rev %d", s.Namespace, s.Name, image, s.Revision))
						if s.Spec.Secrets["K"] != "" && s.Spec.Secrets["K"] != berth.Redacted {
							t.Fatalf("%s/%s: secret not redacted", s.Namespace, s.Name)
						}
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("pages of %d: %d services, want %d; first difference at %s", size, len(got), len(want), firstDiff(got, want))
				}
				// Each runtime service built once for the walk, not once per page
				// (the two stored ones are not built at all).
				if indexed && ic.built != len(ws)-2 {
					t.Errorf("pages of %d built %d services, want %d", size, ic.built, len(ws)-2)
				}
			}
			// Pages of one, at the edges.
			for _, offset := range []int{0, 1, 1500, len(want) - 1, len(want)} {
				l, err := c.ListServices(ctx, "k", offset, 1)
				if err != nil {
					t.Fatal(err)
				}
				wantN := min(1, len(want)-offset)
				if l.Total != len(want) || len(l.Services) != wantN {
					t.Errorf("page of 1 at %d: %d services of %d, want %d of %d", offset, len(l.Services), l.Total, wantN, len(want))
				} else if wantN == 1 && l.Services[0].Namespace+"/"+l.Services[0].Name != strings.Fields(want[offset])[0] {
					t.Errorf("page of 1 at %d: %s/%s, want %s", offset, l.Services[0].Namespace, l.Services[0].Name, want[offset])
				}
			}
		})
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%d: %q, want %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("%d (one is shorter)", min(len(a), len(b)))
}
