package backup_test

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/store"
)

func sample() []store.TableData {
	return []store.TableData{{
		Table: store.Table{Name: "services", Columns: []store.Column{{Name: "name", Type: "text"}, {Name: "secrets", Type: "blob"},
			{Name: "replicas", Type: "integer"}, {Name: "cpu", Type: "double precision"}, {Name: "stopped", Type: "boolean"}}},
		Rows: [][]any{{"web", []byte{0, 1, 2, 255}, int64(1) << 53, 0.1, true}, {"api", nil, int64(-3), 1e-9, false}},
	}, {Table: store.Table{Name: "empty", Columns: []store.Column{{Name: "id", Type: "text"}}}}}
}

// TestRoundTrip: what Write writes Read gives back, with the manifest's
// counts; with a passphrase the body holds no plain text, a wrong or
// missing passphrase and an altered manifest are refused.
func TestRoundTrip(t *testing.T) {
	for _, pass := range []string{"", "correct horse"} {
		var buf bytes.Buffer
		m := backup.Manifest{BerthVersion: "v1", SchemaVersion: 7, Migrations: []int{1, 7}, CreatedAt: time.Unix(1700000000, 0).UTC(), Store: "sqlite"}
		if err := backup.Write(&buf, m, sample(), pass); err != nil {
			t.Fatal(err)
		}
		raw := buf.Bytes()
		got, tables, err := backup.Read(bytes.NewReader(raw), pass)
		if err != nil {
			t.Fatalf("pass %q: %v", pass, err)
		}
		if got.Tables["services"] != 2 || got.Tables["empty"] != 0 || got.SchemaVersion != 7 {
			t.Errorf("manifest %+v", got)
		}
		want := sample()
		// JSON numbers come back as json.Number; compare through their text.
		for i, row := range tables[0].Rows {
			for j, v := range row {
				if w := want[0].Rows[i][j]; !reflect.DeepEqual(v, w) && !equalNumber(v, w) {
					t.Errorf("row %d col %d: %#v, want %#v", i, j, v, w)
				}
			}
		}
		if pass == "" {
			continue
		}
		if bytes.Contains(raw, []byte("web")) {
			t.Error("the encrypted body holds plain text")
		}
		for _, p := range []string{"", "wrong"} {
			if _, _, err := backup.Read(bytes.NewReader(raw), p); !errors.Is(err, backup.ErrPassphrase) {
				t.Errorf("passphrase %q: %v", p, err)
			}
		}
		altered := bytes.Replace(raw, []byte(`"schemaVersion":7`), []byte(`"schemaVersion":6`), 1)
		if _, _, err := backup.Read(bytes.NewReader(altered), pass); !errors.Is(err, backup.ErrPassphrase) {
			t.Errorf("altered manifest: %v", err)
		}
	}
	if _, _, err := backup.Read(bytes.NewReader([]byte("hello\n")), ""); err == nil {
		t.Error("a file that is no backup was read")
	}
}

func equalNumber(v, w any) bool {
	type stringer interface{ String() string }
	s, ok := v.(stringer)
	if !ok {
		return false
	}
	switch x := w.(type) {
	case int64:
		return s.String() == fmtInt(x)
	case float64:
		f, err := v.(interface{ Float64() (float64, error) }).Float64()
		return err == nil && f == x
	}
	return false
}

func fmtInt(x int64) string { return strconv.FormatInt(x, 10) }
