// Package backup reads and writes berth's backup files: a manifest in the
// clear, then berth's tables as gzipped JSON lines, optionally sealed with
// a passphrase (scrypt key derivation, AES-256-GCM, the manifest as
// associated data so it cannot be swapped).
//
// Sealed values in the tables (services' and environments' secrets) stay
// sealed with berth's secret key: a backup restores them only together
// with that key.
package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/berthhq/berth/store"
	"golang.org/x/crypto/scrypt"
)

// magic opens every backup file.
const magic = "BERTH-BACKUP 1\n"

// Manifest describes a backup.
type Manifest struct {
	BerthVersion  string           `json:"berthVersion"`
	SchemaVersion int              `json:"schemaVersion"` // the highest applied migration
	Migrations    []int            `json:"migrations"`    // every applied migration
	CreatedAt     time.Time        `json:"createdAt"`
	Store         string           `json:"store"` // sqlite or postgres
	Tables        map[string]int64 `json:"tables"`
	Encryption    *Encryption      `json:"encryption,omitempty"`
}

// Encryption says how the body is sealed.
type Encryption struct {
	Cipher string `json:"cipher"` // AES-256-GCM
	KDF    string `json:"kdf"`    // scrypt
	N      int    `json:"n"`
	R      int    `json:"r"`
	P      int    `json:"p"`
	Salt   []byte `json:"salt"`
	Nonce  []byte `json:"nonce"`
}

// ErrPassphrase means the passphrase is missing or wrong, or the file was
// altered.
var ErrPassphrase = errors.New("the backup is encrypted: the passphrase is missing or wrong, or the file was altered")

// Write writes m and tables to w, sealed with passphrase when it is not
// empty. m.Tables is filled in.
func Write(w io.Writer, m Manifest, tables []store.TableData, passphrase string) error {
	m.Tables = map[string]int64{}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	enc := json.NewEncoder(zw)
	for _, t := range tables {
		m.Tables[t.Name] = int64(len(t.Rows))
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name + " " + c.Type
		}
		if err := enc.Encode(map[string]any{"table": t.Name, "columns": cols, "rows": len(t.Rows)}); err != nil {
			return err
		}
		for _, row := range t.Rows {
			if err := enc.Encode(encodeRow(row)); err != nil {
				return fmt.Errorf("table %s: %w", t.Name, err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	payload := body.Bytes()
	if passphrase != "" {
		e := &Encryption{Cipher: "AES-256-GCM", KDF: "scrypt", N: 1 << 15, R: 8, P: 1, Salt: random(16), Nonce: random(12)}
		m.Encryption = e
		aead, err := e.aead(passphrase)
		if err != nil {
			return err
		}
		head, err := json.Marshal(m)
		if err != nil {
			return err
		}
		payload = aead.Seal(nil, e.Nonce, payload, head)
	}
	head, err := json.Marshal(m)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	_, _ = bw.WriteString(magic)
	_, _ = bw.Write(head)
	_ = bw.WriteByte('\n')
	_, _ = bw.Write(payload)
	return bw.Flush()
}

// ReadManifest reads only the manifest (no passphrase needed).
func ReadManifest(r io.Reader) (*Manifest, error) {
	m, _, err := readHead(bufio.NewReader(r))
	return m, err
}

func readHead(br *bufio.Reader) (*Manifest, []byte, error) {
	first, err := br.ReadString('\n')
	if err != nil || first != magic {
		return nil, nil, errors.New("not a berth backup (bad header)")
	}
	head, err := br.ReadBytes('\n')
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	head = bytes.TrimSuffix(head, []byte("\n"))
	var m Manifest
	if err := json.Unmarshal(head, &m); err != nil {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	return &m, head, nil
}

// Read reads a backup: its manifest and its tables, checking each table's
// row count against the manifest.
func Read(r io.Reader, passphrase string) (*Manifest, []store.TableData, error) {
	br := bufio.NewReader(r)
	m, head, err := readHead(br)
	if err != nil {
		return nil, nil, err
	}
	payload, err := io.ReadAll(br)
	if err != nil {
		return nil, nil, fmt.Errorf("read backup: %w", err)
	}
	if e := m.Encryption; e != nil {
		if passphrase == "" {
			return m, nil, ErrPassphrase
		}
		aead, err := e.aead(passphrase)
		if err != nil {
			return m, nil, err
		}
		if payload, err = aead.Open(nil, e.Nonce, payload, head); err != nil {
			return m, nil, ErrPassphrase
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return m, nil, fmt.Errorf("read backup: %w", err)
	}
	dec := json.NewDecoder(zr)
	dec.UseNumber()
	var tables []store.TableData
	for {
		var h struct {
			Table   string   `json:"table"`
			Columns []string `json:"columns"`
			Rows    int      `json:"rows"`
		}
		if err := dec.Decode(&h); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return m, nil, fmt.Errorf("read backup: %w", err)
		}
		td := store.TableData{Table: store.Table{Name: h.Table}}
		for _, c := range h.Columns {
			name, typ, _ := strings.Cut(c, " ")
			td.Columns = append(td.Columns, store.Column{Name: name, Type: typ})
		}
		for range h.Rows {
			var raw []any
			if err := dec.Decode(&raw); err != nil {
				return m, nil, fmt.Errorf("read backup: table %s: %w", h.Table, err)
			}
			row, err := decodeRow(raw)
			if err != nil {
				return m, nil, fmt.Errorf("read backup: table %s: %w", h.Table, err)
			}
			td.Rows = append(td.Rows, row)
		}
		if int64(len(td.Rows)) != m.Tables[h.Table] {
			return m, nil, fmt.Errorf("read backup: table %s has %d rows, the manifest says %d", h.Table, len(td.Rows), m.Tables[h.Table])
		}
		tables = append(tables, td)
	}
	if len(tables) != len(m.Tables) {
		return m, nil, fmt.Errorf("read backup: %d tables, the manifest lists %d", len(tables), len(m.Tables))
	}
	return m, tables, nil
}

// Bytes travel as {"$b": base64}; everything else as JSON's own values.
func encodeRow(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		if b, ok := v.([]byte); ok {
			out[i] = map[string]string{"$b": base64.StdEncoding.EncodeToString(b)}
			continue
		}
		out[i] = v
	}
	return out
}

func decodeRow(raw []any) ([]any, error) {
	for i, v := range raw {
		if m, ok := v.(map[string]any); ok {
			s, _ := m["$b"].(string)
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, err
			}
			raw[i] = b
		}
	}
	return raw, nil
}

func (e *Encryption) aead(passphrase string) (cipher.AEAD, error) {
	if e.Cipher != "AES-256-GCM" || e.KDF != "scrypt" {
		return nil, fmt.Errorf("unknown encryption %s/%s", e.Cipher, e.KDF)
	}
	key, err := scrypt.Key([]byte(passphrase), e.Salt, e.N, e.R, e.P, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
