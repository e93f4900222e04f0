package store_test

import (
	"strings"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestExportImport: every kind exports into every kind: the tables come
// from the catalog (parents before children), the copy gives back the same
// services with their secrets (sealed with the same key) and the same
// counts; an audit entry written after the copy gets a fresh id (identity
// sequences moved). A table this schema lacks is refused.
func TestExportImport(t *testing.T) {
	sealer := storetest.NewSealer()
	for _, from := range storetest.Kinds() {
		for _, to := range storetest.Kinds() {
			t.Run(from+"-to-"+to, func(t *testing.T) {
				src := storetest.Open(t, from, sealer)
				svc, rev := newService("local", "", "web")
				must(t, src.CreateService(ctx, svc, rev))
				must(t, src.AppendAudit(ctx, auditEntry("first")))
				var data []store.TableData
				versions, err := src.Export(ctx, func(td store.TableData) error { data = append(data, td); return nil })
				must(t, err)
				if len(versions) == 0 {
					t.Fatal("no schema versions")
				}
				pos := map[string]int{}
				for i, d := range data {
					pos[d.Name] = i
				}
				if pos["services"] > pos["revisions"] {
					t.Errorf("revisions before services: %v", pos)
				}
				dst := storetest.Open(t, to, sealer)
				n, err := dst.CheckSecrets(ctx, data)
				if err != nil || n < 2 {
					t.Errorf("secrets: %d opened, %v", n, err)
				}
				must(t, dst.Import(ctx, data))
				got, err := dst.GetService(ctx, svc.Ref())
				must(t, err)
				equal(t, "copied service", got, svc)
				sc, err := src.Counts(ctx)
				must(t, err)
				dc, err := dst.Counts(ctx)
				must(t, err)
				equal(t, "counts", dc, sc)
				must(t, dst.AppendAudit(ctx, auditEntry("after")))
				if empty, _, _ := dst.Empty(ctx); empty {
					t.Error("Empty after import")
				}
				bad := []store.TableData{{Table: store.Table{Name: "from_the_future", Columns: []store.Column{{Name: "x", Type: "text"}}}}}
				if err := dst.Import(ctx, bad); err == nil || !strings.Contains(err.Error(), "newer berth") {
					t.Errorf("unknown table: %v", err)
				}
				if _, err := storetest.Open(t, to, storetest.NewSealer()).CheckSecrets(ctx, data); err == nil {
					t.Error("secrets opened with another key")
				}
			})
		}
	}
}

func auditEntry(action string) *berth.AuditEntry {
	return &berth.AuditEntry{Timestamp: base, UserID: "usr-1", Username: "alice", Action: action}
}
