package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// A logical dump of berth's tables: backups, restores and migrate-store
// copy every table the schema has, read from the database's catalog, so a
// table a later migration adds is copied without code here knowing it.
// Only the tables below are left out, each for its reason.
var dumpSkip = map[string]string{
	"schema_migrations":        "the target is migrated by its own berth; the versions travel in the manifest",
	"ws_tickets":               "single-use WebSocket tickets that live for seconds",
	"berth_event_payloads":     "large event payloads parked for seconds while LISTEN/NOTIFY carries their ids (events package)",
	"usage_rollup":             "derived from usage_intervals: Import rebuilds it (so a dump of a berth before migration 0011 restores complete)",
	"usage_rollup_users":       "derived from usage_intervals, as usage_rollup",
	"usage_crossings":          "derived from usage_intervals, as usage_rollup",
	"usage_cumulative":         "derived from usage_intervals, as usage_rollup (migration 0012)",
	"usage_cumulative_targets": "derived from usage_intervals, as usage_cumulative",
	"usage_cumulative_keys":    "derived from usage_intervals, as usage_cumulative",
}

// Column is one column of a table as the catalog declares it.
type Column struct {
	Name string
	Type string // lower-case declared type: text, bigint, integer, boolean, bytea, blob, double precision…
}

// Table is one table to dump, in an order where every table comes after
// those its foreign keys reference.
type Table struct {
	Name    string
	Columns []Column
	parents []string
}

// TableData is a table and its rows, streamed: Rows yields each row's
// values in Columns' order as it is read (from the database's cursor, or
// from a backup file), so no table is ever held whole in memory. Rows is
// valid only while the callback that received the TableData runs.
type TableData struct {
	Table
	Rows iter.Seq2[[]any, error]
}

// Source hands every table, parents before children, to fn in turn; an
// error from fn stops it and is returned (wrapped). Export's tables, a
// backup.Reader's Tables and SliceSource are Sources.
type Source func(fn func(TableData) error) error

// SliceSource is a Source over tables held in memory (tests, small data):
// each table's rows are rows[table name].
func SliceSource(tables []Table, rows map[string][][]any) Source {
	return func(fn func(TableData) error) error {
		for _, t := range tables {
			if err := fn(TableData{Table: t, Rows: SliceRows(rows[t.Name])}); err != nil {
				return err
			}
		}
		return nil
	}
}

// SliceRows yields rows held in memory.
func SliceRows(rows [][]any) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// SchemaVersions lists the applied migrations' versions, ascending.
func (s *Store) SchemaVersions(ctx context.Context) ([]int, error) {
	return schemaVersions(ctx, s.db)
}

func schemaVersions(ctx context.Context, q querier) ([]int, error) {
	rows, err := q.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// KnownVersions lists the versions of the migrations this berth carries.
func KnownVersions() []int {
	migs, _ := loadMigrations(SQLite)
	out := make([]int, len(migs))
	for i, m := range migs {
		out[i] = m.version
	}
	return out
}

// Tables lists the tables to dump (every table but dumpSkip's), parents
// before children.
func (s *Store) Tables(ctx context.Context) ([]Table, error) {
	return s.tables(ctx, s.db)
}

func (s *Store) tables(ctx context.Context, q querier) ([]Table, error) {
	var names []string
	var err error
	if s.kind == Postgres {
		names, err = strings1(ctx, q, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	} else {
		names, err = strings1(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	}
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	byName := map[string]*Table{}
	for _, n := range names {
		if _, skip := dumpSkip[n]; skip {
			continue
		}
		t := &Table{Name: n}
		if err := s.describe(ctx, q, t); err != nil {
			return nil, fmt.Errorf("describe table %s: %w", n, err)
		}
		byName[n] = t
	}
	return order(byName)
}

func strings1(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// describe reads a table's columns (in their declared order) and the
// tables its foreign keys reference.
func (s *Store) describe(ctx context.Context, q querier, t *Table) error {
	if s.kind == Postgres {
		rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, t.Name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c Column
			if err := rows.Scan(&c.Name, &c.Type); err != nil {
				return err
			}
			c.Type = strings.ToLower(c.Type)
			t.Columns = append(t.Columns, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		t.parents, err = strings1(ctx, q, `SELECT DISTINCT ccu.table_name FROM information_schema.table_constraints tc
			JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name AND tc.table_schema = ccu.table_schema
			WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() AND tc.table_name = $1`, t.Name)
		return err
	}
	rows, err := q.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, t.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return err
		}
		c.Type = strings.ToLower(c.Type)
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	t.parents, err = strings1(ctx, q, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, t.Name)
	return err
}

// order sorts tables parents first (then by name).
func order(byName map[string]*Table) ([]Table, error) {
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Table
	done := map[string]bool{}
	for len(out) < len(names) {
		progress := false
		for _, n := range names {
			if done[n] {
				continue
			}
			ready := true
			for _, p := range byName[n].parents {
				if p != n && byName[p] != nil && !done[p] {
					ready = false
				}
			}
			if ready {
				out = append(out, *byName[n])
				done[n] = true
				progress = true
			}
		}
		if !progress {
			return nil, errors.New("order tables: foreign keys form a cycle")
		}
	}
	return out, nil
}

// Export reads every table in one consistent snapshot and calls fn with
// the snapshot's schema versions and a Source of its tables, each table's
// rows read straight from the query's cursor while fn consumes them: on
// PostgreSQL one REPEATABLE READ read-only transaction; on SQLite a `VACUUM
// INTO` copy (an online snapshot that never blocks berth's writers for long)
// read in a private temporary file. The Source is valid only during fn.
func (s *Store) Export(ctx context.Context, fn func(versions []int, tables Source) error) error {
	if s.kind == SQLite {
		return s.exportSQLite(ctx, fn)
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer tx.Rollback()
	return s.exportTx(ctx, tx, fn)
}

func (s *Store) exportSQLite(ctx context.Context, fn func([]int, Source) error) error {
	dir, err := os.MkdirTemp("", "berth-snapshot-")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(dir)
	snap := filepath.Join(dir, "snapshot.db")
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", snap); err != nil {
		return fmt.Errorf("export: snapshot the database: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+uriPath(snap)+"?mode=ro")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer tx.Rollback()
	snapStore := &Store{db: db, kind: SQLite, sealer: s.sealer}
	return snapStore.exportTx(ctx, tx, fn)
}

func (s *Store) exportTx(ctx context.Context, tx *sql.Tx, fn func([]int, Source) error) error {
	versions, err := schemaVersions(ctx, tx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	tables, err := s.tables(ctx, tx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	src := func(each func(TableData) error) error {
		for _, t := range tables {
			if err := each(TableData{Table: t, Rows: readRows(ctx, tx, t)}); err != nil {
				return fmt.Errorf("export table %s: %w", t.Name, err)
			}
		}
		return nil
	}
	return fn(versions, src)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func columnList(cols []Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.Name)
	}
	return strings.Join(names, ", ")
}

// readRows yields a table's rows from its cursor, one freshly allocated
// slice per row (a consumer may keep it).
func readRows(ctx context.Context, q querier, t Table) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		rows, err := q.QueryContext(ctx, "SELECT "+columnList(t.Columns)+" FROM "+quoteIdent(t.Name)) // #nosec G202 -- identifiers from the database's own catalog, quoted
		if err != nil {
			yield(nil, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			vals := make([]any, len(t.Columns))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				yield(nil, err)
				return
			}
			if !yield(vals, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// Counts returns the number of rows of every dumped table.
func (s *Store) Counts(ctx context.Context) (map[string]int64, error) {
	tables, err := s.Tables(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(t.Name)).Scan(&n); err != nil { // #nosec G202 -- a catalog identifier, quoted
			return nil, fmt.Errorf("count %s: %w", t.Name, err)
		}
		out[t.Name] = n
	}
	return out, nil
}

// Empty reports whether every dumped table is empty (what a restore or a
// migration may write into), naming a table that is not.
func (s *Store) Empty(ctx context.Context) (bool, string, error) {
	counts, err := s.Counts(ctx)
	if err != nil {
		return false, "", err
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if counts[n] > 0 {
			return false, fmt.Sprintf("%s has %d rows", n, counts[n]), nil
		}
	}
	return true, "", nil
}

// Imported is what an Import wrote: every table's row count (tables with
// no rows included) and how many sealed values opened with this store's key.
type Imported struct {
	Rows    map[string]int64
	Secrets int
}

// Import writes the tables of src into this store in ONE transaction, as
// src produces them (rows are inserted as they arrive, nothing is held):
// every table must exist here (a table or column this berth's schema lacks
// means the data comes from a newer berth: refused), columns are matched by
// name and converted to this database's types, and every sealed value (a
// "secrets" column) must open with this store's key, checked as the rows
// pass. Any failure, src's own included (a backup's trailer not matching,
// say), rolls everything back. Identity sequences are moved past the
// imported ids on PostgreSQL. The store should be Empty.
func (s *Store) Import(ctx context.Context, src Source) (Imported, error) {
	res := Imported{Rows: map[string]int64{}}
	tables, err := s.Tables(ctx)
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	mine := map[string]Table{}
	for _, t := range tables {
		mine[t.Name] = t
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := src(func(d TableData) error {
			dst, ok := mine[d.Name]
			if !ok {
				return fmt.Errorf("table %s is not in this berth's schema (a newer berth wrote it): upgrade berth first", d.Name)
			}
			n, secrets, err := s.importTable(ctx, tx, dst, d)
			res.Rows[d.Name] += n
			res.Secrets += secrets
			if err != nil {
				return fmt.Errorf("import table %s: %w", d.Name, err)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := s.rebuildUsageRollup(ctx, tx); err != nil {
			return err
		}
		if err := s.rebuildUsageCumulative(ctx, tx); err != nil {
			return err
		}
		return s.markRolledUp(ctx, tx)
	})
	if err != nil {
		return Imported{}, fmt.Errorf("import: %w", err)
	}
	return res, nil
}

func (s *Store) importTable(ctx context.Context, tx *sql.Tx, dst Table, d TableData) (rows int64, secrets int, err error) {
	types := map[string]string{}
	for _, c := range dst.Columns {
		types[c.Name] = c.Type
	}
	sealed := -1
	for i, c := range d.Columns {
		if _, ok := types[c.Name]; !ok {
			return 0, 0, fmt.Errorf("column %s is not in this berth's schema (a newer berth wrote it): upgrade berth first", c.Name)
		}
		if c.Name == "secrets" {
			sealed = i
		}
	}
	if len(d.Columns) == 0 {
		return 0, 0, errors.New("no columns")
	}
	// Rows go in batches of multi-row INSERTs (a bounded number of values:
	// memory stays flat, and far fewer round trips than one per row).
	batch := max(1, importBatchValues/len(d.Columns))
	full, err := s.prepareInsert(ctx, tx, d, batch)
	if err != nil {
		return 0, 0, err
	}
	defer full.Close()
	args := make([]any, 0, batch*len(d.Columns))
	flush := func(stmt *sql.Stmt) error {
		_, err := stmt.ExecContext(ctx, args...)
		args = args[:0]
		return err
	}
	for row, err := range d.Rows {
		if err != nil {
			return rows, secrets, err
		}
		if len(row) != len(d.Columns) {
			return rows, secrets, fmt.Errorf("row %d has %d values for %d columns", rows+1, len(row), len(d.Columns))
		}
		if sealed >= 0 {
			ok, err := s.openSealed(d.Name, row[sealed])
			if err != nil {
				return rows, secrets, err
			}
			if ok {
				secrets++
			}
		}
		for i, c := range d.Columns {
			v, err := convert(row[i], types[c.Name])
			if err != nil {
				return rows, secrets, fmt.Errorf("column %s: %w", c.Name, err)
			}
			args = append(args, v)
		}
		rows++
		if len(args) == cap(args) {
			if err := flush(full); err != nil {
				return rows, secrets, err
			}
		}
	}
	if len(args) > 0 {
		rest, err := s.prepareInsert(ctx, tx, d, len(args)/len(d.Columns))
		if err != nil {
			return rows, secrets, err
		}
		defer rest.Close()
		if err := flush(rest); err != nil {
			return rows, secrets, err
		}
	}
	if s.kind == Postgres && rows > 0 {
		for _, c := range d.Columns {
			var seq sql.NullString
			if err := tx.QueryRowContext(ctx, "SELECT pg_get_serial_sequence($1, $2)", quoteIdent(d.Name), c.Name).Scan(&seq); err != nil {
				return rows, secrets, err
			}
			if seq.Valid {
				if _, err := tx.ExecContext(ctx, "SELECT setval($1, (SELECT COALESCE(MAX("+quoteIdent(c.Name)+"), 0) + 1 FROM "+quoteIdent(d.Name)+"), false)", seq.String); err != nil { // #nosec G202 -- catalog identifiers, quoted
					return rows, secrets, fmt.Errorf("move sequence of %s: %w", c.Name, err)
				}
			}
		}
	}
	return rows, secrets, nil
}

// importBatchValues bounds the values of one INSERT (SQLite and PostgreSQL
// both take far more parameters than this).
const importBatchValues = 512

func (s *Store) prepareInsert(ctx context.Context, tx *sql.Tx, d TableData, rows int) (*sql.Stmt, error) {
	return tx.PrepareContext(ctx, s.q("INSERT INTO "+quoteIdent(d.Name)+" ("+columnList(d.Columns)+") VALUES "+placeholders(rows, len(d.Columns)))) // #nosec G202 -- catalog identifiers, quoted
}

// openSealed opens one sealed value with this store's sealer (false for an
// empty one), so a restore or migration under another secret key fails
// before it commits.
func (s *Store) openSealed(table string, v any) (bool, error) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case string:
		b = []byte(x)
	}
	if len(b) == 0 {
		return false, nil
	}
	if _, err := s.sealer.Open(b); err != nil {
		return false, fmt.Errorf("table %s: a sealed value does not open with this secret key: restore the key the data was written with (%w)", table, err)
	}
	return true, nil
}

// convert turns a value read from either database, or decoded from a
// backup's JSON (json.Number, string, bool, []byte), into one typ accepts.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean", "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case json.Number:
			n, err := x.Int64()
			return n != 0, err
		}
	case "bigint", "integer", "int", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case json.Number:
			return x.Int64()
		}
	case "double precision", "real", "float", "double":
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case json.Number:
			return x.Float64()
		}
	case "bytea", "blob":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	default:
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
			return n.Float64()
		}
		return v, nil
	}
	return nil, fmt.Errorf("a %T cannot be stored as %s", v, typ)
}

// CheckSecrets opens every sealed value (the secrets column of any table)
// of src with this store's sealer as the rows pass, so data under another
// secret key is caught; it returns how many it opened. (Import makes the
// same check itself; this one is for data already in a store.)
func (s *Store) CheckSecrets(ctx context.Context, src Source) (int, error) {
	n := 0
	err := src(func(d TableData) error {
		sealed := slices.IndexFunc(d.Columns, func(c Column) bool { return c.Name == "secrets" })
		if sealed < 0 {
			return nil
		}
		for row, err := range d.Rows {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			ok, err := s.openSealed(d.Name, row[sealed])
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	return n, err
}
