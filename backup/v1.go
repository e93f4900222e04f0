package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berthhq/berth/store"
)

// readV1 reads a version-1 body whole (one AES-GCM seal over the gzip
// stream; a table header with its row count before its rows), checking each
// table's rows against the manifest's counts, and answers it as a Source.
// Version-1 files come from a berth that held the whole dump in memory.
func readV1(br *bufio.Reader, m *Manifest, head []byte, passphrase string) (store.Source, error) {
	payload, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if e := m.Encryption; e != nil {
		if passphrase == "" {
			return nil, ErrPassphrase
		}
		aead, err := e.aead(passphrase)
		if err != nil {
			return nil, err
		}
		if payload, err = aead.Open(nil, e.Nonce, payload, head); err != nil {
			return nil, ErrPassphrase
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	dec := json.NewDecoder(zr)
	dec.UseNumber()
	var tables []store.Table
	rows := map[string][][]any{}
	for {
		var h struct {
			Table   string   `json:"table"`
			Columns []string `json:"columns"`
			Rows    int      `json:"rows"`
		}
		if err := dec.Decode(&h); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read backup: %w", err)
		}
		t := store.Table{Name: h.Table}
		for _, c := range h.Columns {
			name, typ, _ := strings.Cut(c, " ")
			t.Columns = append(t.Columns, store.Column{Name: name, Type: typ})
		}
		var tr [][]any
		for range h.Rows {
			var raw []any
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("read backup: table %s: %w", h.Table, err)
			}
			row, err := decodeRow(raw)
			if err != nil {
				return nil, fmt.Errorf("read backup: table %s: %w", h.Table, err)
			}
			tr = append(tr, row)
		}
		if int64(len(tr)) != m.Tables[h.Table] {
			return nil, fmt.Errorf("read backup: table %s has %d rows, the manifest says %d", h.Table, len(tr), m.Tables[h.Table])
		}
		tables = append(tables, t)
		rows[t.Name] = tr
	}
	if len(tables) != len(m.Tables) {
		return nil, fmt.Errorf("read backup: %d tables, the manifest lists %d", len(tables), len(m.Tables))
	}
	return store.SliceSource(tables, rows), nil
}
