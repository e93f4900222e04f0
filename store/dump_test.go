package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// dump reads a Source into memory (tables in order, rows by table).
func dump(src store.Source) ([]store.Table, map[string][][]any, error) {
	var tables []store.Table
	rows := map[string][][]any{}
	err := src(func(td store.TableData) error {
		tables = append(tables, td.Table)
		rows[td.Name] = [][]any{}
		for r, err := range td.Rows {
			if err != nil {
				return err
			}
			rows[td.Name] = append(rows[td.Name], r)
		}
		return nil
	})
	return tables, rows, err
}

// TestExportImport: every kind exports into every kind: the tables come
// from the catalog (parents before children), the copy gives back the same
// services with their secrets (sealed with the same key, checked as the
// rows pass) and the same counts (SQL COUNT(*) of both stores); an audit
// entry written after the copy gets a fresh id (identity sequences moved).
// A table this schema lacks is refused, and so are secrets under another
// key, and both leave the target empty (one transaction rolled back).
func TestExportImport(t *testing.T) {
	sealer := storetest.NewSealer()
	for _, from := range storetest.Kinds() {
		for _, to := range storetest.Kinds() {
			t.Run(from+"-to-"+to, func(t *testing.T) {
				src := storetest.Open(t, from, sealer)
				svc, rev := newService("local", "", "web")
				must(t, src.CreateService(ctx, svc, rev))
				must(t, src.AppendAudit(ctx, auditEntry("first")))
				var tables []store.Table
				var rows map[string][][]any
				must(t, src.Export(ctx, func(versions []int, s store.Source) error {
					if len(versions) == 0 {
						t.Error("no schema versions")
					}
					var err error
					tables, rows, err = dump(s)
					return err
				}))
				pos := map[string]int{}
				for i, d := range tables {
					pos[d.Name] = i
				}
				if pos["services"] > pos["revisions"] {
					t.Errorf("revisions before services: %v", pos)
				}
				data := store.SliceSource(tables, rows)
				if _, err := storetest.Open(t, to, storetest.NewSealer()).CheckSecrets(ctx, data); err == nil {
					t.Error("secrets opened with another key")
				}
				other := storetest.Open(t, to, storetest.NewSealer())
				if _, err := other.Import(ctx, data); err == nil || !strings.Contains(err.Error(), "does not open with this secret key") {
					t.Errorf("import under another key: %v", err)
				}
				if empty, what, err := other.Empty(ctx); !empty || err != nil {
					t.Errorf("a refused import left rows: %s %v", what, err)
				}
				dst := storetest.Open(t, to, sealer)
				n, err := dst.CheckSecrets(ctx, data)
				if err != nil || n < 2 {
					t.Errorf("secrets: %d opened, %v", n, err)
				}
				res, err := dst.Import(ctx, data)
				must(t, err)
				if res.Secrets != n {
					t.Errorf("import opened %d secrets, CheckSecrets %d", res.Secrets, n)
				}
				got, err := dst.GetService(ctx, svc.Ref())
				must(t, err)
				equal(t, "copied service", got, svc)
				sc, err := src.Counts(ctx)
				must(t, err)
				dc, err := dst.Counts(ctx)
				must(t, err)
				equal(t, "counts", dc, sc)
				equal(t, "imported counts", res.Rows, sc)
				must(t, dst.AppendAudit(ctx, auditEntry("after")))
				if empty, _, _ := dst.Empty(ctx); empty {
					t.Error("Empty after import")
				}
				fresh := storetest.Open(t, to, sealer)
				bad := store.SliceSource(append(tables[:len(tables):len(tables)], store.Table{Name: "from_the_future", Columns: []store.Column{{Name: "x", Type: "text"}}}), rows)
				if _, err := fresh.Import(ctx, bad); err == nil || !strings.Contains(err.Error(), "newer berth") {
					t.Errorf("unknown table: %v", err)
				}
				if empty, what, err := fresh.Empty(ctx); !empty || err != nil {
					t.Errorf("a refused import left rows: %s %v", what, err)
				}
			})
		}
	}
}

// TestExportStreamsIntoImport: a store copied straight from one store's
// Export into another's Import (what migrate-store does, nothing collected)
// holds row for row what the source holds (tables larger than one INSERT
// batch included); a Source failing after its
// first tables rolls every one of them back.
func TestExportStreamsIntoImport(t *testing.T) {
	sealer := storetest.NewSealer()
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			src := storetest.Open(t, kind, sealer)
			for i := range 300 { // more than one INSERT batch, and a remainder
				must(t, src.AppendAudit(ctx, auditEntry(fmt.Sprintf("a%d", i))))
			}
			svc, rev := newService("local", "", "web")
			must(t, src.CreateService(ctx, svc, rev))
			dst := storetest.Open(t, kind, sealer)
			must(t, src.Export(ctx, func(_ []int, tables store.Source) error {
				_, err := dst.Import(ctx, tables)
				return err
			}))
			var want, got map[string][][]any
			must(t, src.Export(ctx, func(_ []int, s store.Source) (err error) { _, want, err = dump(s); return }))
			must(t, dst.Export(ctx, func(_ []int, s store.Source) (err error) { _, got, err = dump(s); return }))
			equal(t, "rows", got, want)

			boom := errors.New("the source broke")
			failing := storetest.Open(t, kind, sealer)
			tables := 0
			_, err := failing.Import(ctx, func(fn func(store.TableData) error) error {
				return src.Export(ctx, func(_ []int, s store.Source) error {
					return s(func(td store.TableData) error {
						if td.Name == "services" {
							return boom
						}
						tables++
						return fn(td)
					})
				})
			})
			if !errors.Is(err, boom) {
				t.Fatalf("import of a failing source: %v", err)
			}
			if tables == 0 {
				t.Fatal("no table was imported before the failure")
			}
			if empty, what, err := failing.Empty(ctx); !empty || err != nil {
				t.Errorf("a failed import left rows: %s %v", what, err)
			}
		})
	}
}

func auditEntry(action string) *berth.AuditEntry {
	return &berth.AuditEntry{Timestamp: base, UserID: "usr-1", Username: "alice", Action: action}
}
