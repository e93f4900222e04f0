package backup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/store"
)

var sampleTables = []store.Table{
	{Name: "services", Columns: []store.Column{{Name: "name", Type: "text"}, {Name: "secrets", Type: "blob"},
		{Name: "replicas", Type: "integer"}, {Name: "cpu", Type: "double precision"}, {Name: "stopped", Type: "boolean"}}},
	{Name: "empty", Columns: []store.Column{{Name: "id", Type: "text"}}},
}

func sampleRows() map[string][][]any {
	return map[string][][]any{"services": {{"web", []byte{0, 1, 2, 255}, int64(1) << 53, 0.1, true}, {"api", nil, int64(-3), 1e-9, false}}}
}

func manifest() backup.Manifest {
	return backup.Manifest{BerthVersion: "v1", SchemaVersion: 7, Migrations: []int{1, 7}, CreatedAt: time.Unix(1700000000, 0).UTC(), Store: "sqlite"}
}

// write writes a backup of tables/rows and answers the file's bytes.
func write(t *testing.T, tables []store.Table, rows map[string][][]any, pass string) []byte {
	t.Helper()
	var buf bytes.Buffer
	counts, err := backup.Write(&buf, manifest(), store.SliceSource(tables, rows), pass)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if counts[tb.Name] != int64(len(rows[tb.Name])) {
			t.Errorf("Write counted %d rows of %s, want %d", counts[tb.Name], tb.Name, len(rows[tb.Name]))
		}
	}
	return buf.Bytes()
}

// read reads a backup whole: its manifest, tables and rows.
func read(raw []byte, pass string) (*backup.Manifest, []store.Table, map[string][][]any, error) {
	r, err := backup.Open(bytes.NewReader(raw), pass)
	if err != nil {
		return nil, nil, nil, err
	}
	var tables []store.Table
	rows := map[string][][]any{}
	err = r.Tables(func(td store.TableData) error {
		tables = append(tables, td.Table)
		for row, err := range td.Rows {
			if err != nil {
				return err
			}
			rows[td.Name] = append(rows[td.Name], row)
		}
		return nil
	})
	return r.Manifest, tables, rows, err
}

// sameRows compares rows read back with the rows written, value by value
// (JSON numbers come back as json.Number).
func sameRows(t *testing.T, got, want map[string][][]any) {
	t.Helper()
	for name, wrows := range want {
		if len(got[name]) != len(wrows) {
			t.Errorf("%s: %d rows, want %d", name, len(got[name]), len(wrows))
			continue
		}
		for i, row := range got[name] {
			for j, v := range row {
				if w := wrows[i][j]; !reflect.DeepEqual(number(v, w), w) {
					t.Fatalf("%s row %d col %d: %#v, want %#v", name, i, j, v, w)
				}
			}
		}
	}
}

func number(v, want any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	switch want.(type) {
	case int64:
		i, _ := n.Int64()
		return i
	case float64:
		f, _ := n.Float64()
		return f
	}
	return v
}

// TestRoundTrip: what Write writes Read gives back, with the trailer's
// counts in the manifest once read; with a passphrase the body holds no
// plain text, a wrong or missing passphrase and an altered manifest are
// refused before any table is handed out.
func TestRoundTrip(t *testing.T) {
	for _, pass := range []string{"", "correct horse"} {
		raw := write(t, sampleTables, sampleRows(), pass)
		if !bytes.HasPrefix(raw, []byte("BERTH-BACKUP 2\n")) {
			t.Fatalf("magic: %q", raw[:15])
		}
		got, tables, rows, err := read(raw, pass)
		if err != nil {
			t.Fatalf("pass %q: %v", pass, err)
		}
		if got.Tables["services"] != 2 || got.Tables["empty"] != 0 || len(got.Tables) != 2 || got.SchemaVersion != 7 || got.Version != 2 {
			t.Errorf("manifest %+v", got)
		}
		if !reflect.DeepEqual(tables, sampleTables) {
			t.Errorf("tables %+v", tables)
		}
		sameRows(t, rows, sampleRows())
		if pass == "" {
			continue
		}
		if bytes.Contains(raw, []byte("web")) {
			t.Error("the encrypted body holds plain text")
		}
		for _, p := range []string{"", "wrong"} {
			if _, err := backup.Open(bytes.NewReader(raw), p); !errors.Is(err, backup.ErrPassphrase) {
				t.Errorf("passphrase %q: %v", p, err)
			}
		}
		altered := bytes.Replace(raw, []byte(`"schemaVersion":7`), []byte(`"schemaVersion":6`), 1)
		if _, err := backup.Open(bytes.NewReader(altered), pass); !errors.Is(err, backup.ErrPassphrase) {
			t.Errorf("altered manifest: %v", err)
		}
	}
	if _, err := backup.Open(bytes.NewReader([]byte("hello\n")), ""); err == nil {
		t.Error("a file that is no backup was read")
	}
}

// big makes tables whose compressed body spans many chunks: metric-like
// rows with random values, and blobs.
func big(rng *rand.Rand) ([]store.Table, map[string][][]any) {
	tables := []store.Table{
		{Name: "metric_points", Columns: []store.Column{{Name: "series_id", Type: "bigint"}, {Name: "ts", Type: "bigint"}, {Name: "value", Type: "double precision"}, {Name: "tag", Type: "text"}}},
		{Name: "blobs", Columns: []store.Column{{Name: "id", Type: "text"}, {Name: "secrets", Type: "bytea"}}},
	}
	rows := map[string][][]any{}
	for i := range 40000 {
		rows["metric_points"] = append(rows["metric_points"], []any{int64(i % 97), int64(1_700_000_000 + i), rng.Float64() * 1e3, fmt.Sprintf("t%x", rng.Uint32())})
	}
	for i := range 300 {
		b := make([]byte, 100+rng.IntN(400))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		rows["blobs"] = append(rows["blobs"], []any{fmt.Sprintf("b%d", i), b})
	}
	rows["blobs"] = append(rows["blobs"], []any{"nil", nil})
	return tables, rows
}

// TestLargeRoundTrip: a backup many chunks long, sealed and plain, gives
// back every row equal, value by value; a reader that leaves a table's
// rows unread still checks the whole file against the trailer.
func TestLargeRoundTrip(t *testing.T) {
	tables, rows := big(rand.New(rand.NewPCG(1, 2)))
	for _, pass := range []string{"", "pw"} {
		raw := write(t, tables, rows, pass)
		if len(raw) < 8*backup.ChunkSize {
			t.Fatalf("the backup is %d bytes: want several chunks of %d", len(raw), backup.ChunkSize)
		}
		m, _, got, err := read(raw, pass)
		if err != nil {
			t.Fatalf("pass %q: %v", pass, err)
		}
		if m.Tables["metric_points"] != 40000 || m.Tables["blobs"] != 301 {
			t.Errorf("trailer counts %v", m.Tables)
		}
		sameRows(t, got, rows)
		r, err := backup.Open(bytes.NewReader(raw), pass)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Tables(func(store.TableData) error { return nil }); err != nil || r.Manifest.Tables["metric_points"] != 40000 {
			t.Errorf("skipping rows: %v, %v", err, r.Manifest.Tables)
		}
	}
}

// chunks locates a sealed backup's chunks: the offset of the first and the
// sealed size of each full one.
func chunks(t *testing.T, raw []byte) (first, size int) {
	t.Helper()
	m, err := backup.ReadManifest(bytes.NewReader(raw))
	if err != nil || m.Encryption == nil {
		t.Fatalf("manifest %+v: %v", m, err)
	}
	return bytes.IndexByte(raw[len("BERTH-BACKUP 2\n"):], '\n') + len("BERTH-BACKUP 2\n") + 1, m.Encryption.ChunkSize + 16
}

// TestDamagedFiles: a sealed backup cut at a chunk boundary, inside a chunk
// or by one byte, two chunks swapped, a chunk dropped or repeated, a byte
// of a chunk flipped, and a plain backup cut short each fail with
// ErrDamaged (ErrPassphrase when the first chunk, which also checks the
// manifest and passphrase, is the one touched), never reading as a valid
// backup.
func TestDamagedFiles(t *testing.T) {
	tables, rows := big(rand.New(rand.NewPCG(3, 4)))
	sealed := write(t, tables, rows, "pw")
	first, size := chunks(t, sealed)
	n := (len(sealed) - first) / size // full chunks
	if n < 4 {
		t.Fatalf("%d chunks", n)
	}
	at := func(i int) []byte { return sealed[first+i*size : first+(i+1)*size] }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flipped := bytes.Clone(sealed)
	flipped[first+2*size+100] ^= 1
	plain := write(t, tables, rows, "")
	for _, c := range []struct {
		name string
		raw  []byte
		pass string
	}{
		{"cut at a chunk boundary", sealed[:first+3*size], "pw"},
		{"cut inside a chunk", sealed[:first+3*size+500], "pw"},
		{"last byte cut", sealed[:len(sealed)-1], "pw"},
		{"chunks 1 and 2 swapped", cat(sealed[:first], at(0), at(2), at(1), sealed[first+3*size:]), "pw"},
		{"chunk 1 dropped", cat(sealed[:first], at(0), sealed[first+2*size:]), "pw"},
		{"chunk 1 repeated", cat(sealed[:first], at(0), at(1), at(1), sealed[first+2*size:]), "pw"},
		{"last chunk repeated", cat(sealed, sealed[first+n*size:]), "pw"},
		{"a byte flipped in chunk 2", flipped, "pw"},
		{"plain cut short", plain[:len(plain)/2], ""},
		{"plain without its last byte", plain[:len(plain)-1], ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := read(c.raw, c.pass)
			if !errors.Is(err, backup.ErrDamaged) {
				t.Errorf("read: %v, want ErrDamaged", err)
			}
		})
	}
	for i := range 5 {
		changed := bytes.Clone(sealed)
		changed[len("BERTH-BACKUP 2\n")+i*(first-len("BERTH-BACKUP 2\n")-1)/5] ^= 0x01
		if _, _, _, err := read(changed, "pw"); err == nil {
			t.Errorf("a manifest with byte %d changed was read", i)
		}
	}
}

// TestReadsVersion1: the files the version-1 writer wrote (testdata, kept
// as that writer left them) still restore, plain and sealed, with their
// manifests' counts checked; a wrong passphrase is refused.
func TestReadsVersion1(t *testing.T) {
	for file, pass := range map[string]string{"testdata/v1-plain.berth": "", "testdata/v1-sealed.berth": "correct horse"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m, tables, rows, err := read(raw, pass)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if m.Version != 1 || m.Tables["services"] != 2 || m.SchemaVersion != 7 {
			t.Errorf("%s: manifest %+v", file, m)
		}
		if !reflect.DeepEqual(tables, sampleTables) {
			t.Errorf("%s: tables %+v", file, tables)
		}
		sameRows(t, rows, sampleRows())
		if pass != "" {
			if _, err := backup.Open(bytes.NewReader(raw), "wrong"); !errors.Is(err, backup.ErrPassphrase) {
				t.Errorf("%s with a wrong passphrase: %v", file, err)
			}
		}
	}
}
