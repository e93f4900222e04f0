package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/berthhq/berth/store"
)

// stream reads a version-2 body: it always holds the next decoded JSON
// value (a table header, a row or the trailer) in cur.
type stream struct {
	m      *Manifest
	dec    *json.Decoder
	cur    any
	curErr error
	used   bool
	counts map[string]int64
}

func (s *stream) advance() {
	s.cur = nil
	if s.curErr = s.dec.Decode(&s.cur); s.curErr != nil {
		if errors.Is(s.curErr, io.EOF) {
			s.curErr = fmt.Errorf("%w: the body ends before its trailer", ErrDamaged)
			return
		}
		s.curErr = damaged(s.curErr)
	}
}

func (s *stream) tables(fn func(store.TableData) error) error {
	if s.used {
		return errors.New("read backup: the tables were read already")
	}
	s.used = true
	s.counts = map[string]int64{}
	s.advance()
	for {
		if s.curErr != nil {
			return fmt.Errorf("read backup: %w", s.curErr)
		}
		obj, ok := s.cur.(map[string]any)
		if !ok {
			return fmt.Errorf("read backup: %w: a row outside any table", ErrDamaged)
		}
		if tr, ok := obj["trailer"]; ok {
			return s.finish(tr)
		}
		t, err := header(obj)
		if err != nil {
			return fmt.Errorf("read backup: %w", err)
		}
		if _, dup := s.counts[t.Name]; dup {
			return fmt.Errorf("read backup: %w: table %s twice", ErrDamaged, t.Name)
		}
		s.counts[t.Name] = 0
		s.advance()
		if err := fn(store.TableData{Table: t, Rows: s.rows(t)}); err != nil {
			return err
		}
		for range s.rows(t) { // skip what fn left unread (an error stays in curErr)
		}
	}
}

// rows yields the rows of table t up to the next header or the trailer.
func (s *stream) rows(t store.Table) func(yield func([]any, error) bool) {
	return func(yield func([]any, error) bool) {
		for {
			if s.curErr != nil {
				yield(nil, fmt.Errorf("read backup: table %s: %w", t.Name, s.curErr))
				return
			}
			raw, ok := s.cur.([]any)
			if !ok {
				return
			}
			if len(raw) != len(t.Columns) {
				s.curErr = fmt.Errorf("%w: a row of %d values for %d columns", ErrDamaged, len(raw), len(t.Columns))
				continue
			}
			row, err := decodeRow(raw)
			if err != nil {
				s.curErr = fmt.Errorf("%w: %v", ErrDamaged, err)
				continue
			}
			s.counts[t.Name]++
			s.advance()
			if !yield(row, nil) {
				return
			}
		}
	}
}

func header(obj map[string]any) (store.Table, error) {
	var h tableHeader
	b, _ := json.Marshal(obj)
	if err := json.Unmarshal(b, &h); err != nil || h.Table == "" {
		return store.Table{}, fmt.Errorf("%w: a bad table header", ErrDamaged)
	}
	t := store.Table{Name: h.Table}
	for _, c := range h.Columns {
		name, typ, _ := strings.Cut(c, " ")
		t.Columns = append(t.Columns, store.Column{Name: name, Type: typ})
	}
	return t, nil
}

// finish checks the trailer against the rows read and that nothing follows
// it (which also makes gzip check its CRC and the chunk reader its last
// chunk).
func (s *stream) finish(raw any) error {
	var tr struct {
		Tables map[string]int64 `json:"tables"`
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &tr); err != nil {
		return fmt.Errorf("read backup: %w: a bad trailer", ErrDamaged)
	}
	if !maps.Equal(tr.Tables, s.counts) {
		return fmt.Errorf("read backup: %w: the rows read (%v) are not the trailer's counts (%v)", ErrDamaged, s.counts, tr.Tables)
	}
	var extra any
	if err := s.dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			return fmt.Errorf("read backup: %w: data after the trailer", ErrDamaged)
		}
		return fmt.Errorf("read backup: %w", damaged(err))
	}
	s.m.Tables = tr.Tables
	return nil
}
