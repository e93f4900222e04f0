// Package backup reads and writes berth's backup files.
//
// Version 2 (magic "BERTH-BACKUP 2", what Write writes) streams: a manifest
// line in the clear first (versions, time, store, encryption parameters),
// then the body, berth's tables as gzipped JSON lines written as they are
// produced — per table a header object, then one array per row — ending
// with a trailer object holding every table's row count, checked on read.
// With a passphrase the gzip stream is sealed in fixed-size chunks (see
// seal.go: the STREAM construction), so neither writing nor reading ever
// holds more than a chunk, whatever the store's size.
//
// Version 1 (magic "BERTH-BACKUP 1": counts in the manifest, the whole body
// sealed with one AES-GCM call) is still read, in memory: it was written by
// a berth that held the whole dump in memory, so it is small by
// construction, and backups people keep must stay restorable.
//
// Sealed values in the tables (services' and environments' secrets) stay
// sealed with berth's secret key: a backup restores them only together
// with that key.
package backup

import (
	"bufio"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berthhq/berth/store"
	"golang.org/x/crypto/scrypt"
)

const (
	magic1 = "BERTH-BACKUP 1\n"
	magic2 = "BERTH-BACKUP 2\n"
)

// scryptN is scrypt's cost for new backups (tests lower it: the reader
// takes N from the manifest).
var scryptN = 1 << 15

// ChunkSize is the plaintext size of every sealed chunk but the last.
const ChunkSize = 64 << 10

// Manifest describes a backup.
type Manifest struct {
	BerthVersion  string    `json:"berthVersion"`
	SchemaVersion int       `json:"schemaVersion"` // the highest applied migration
	Migrations    []int     `json:"migrations"`    // every applied migration
	CreatedAt     time.Time `json:"createdAt"`
	Store         string    `json:"store"` // sqlite or postgres
	// Tables are the row counts: in a version-1 manifest; in version 2 they
	// travel in the trailer and are filled in once Reader.Tables has read
	// (and checked) the whole body.
	Tables     map[string]int64 `json:"tables,omitempty"`
	Encryption *Encryption      `json:"encryption,omitempty"`
	// Version is the file format (1 or 2), from the magic line.
	Version int `json:"-"`
}

// Encryption says how the body is sealed.
type Encryption struct {
	Cipher string `json:"cipher"` // AES-256-GCM
	KDF    string `json:"kdf"`    // scrypt
	N      int    `json:"n"`
	R      int    `json:"r"`
	P      int    `json:"p"`
	Salt   []byte `json:"salt"`
	Nonce  []byte `json:"nonce,omitempty"` // version 1: the one nonce
	// Version 2: chunks of ChunkSize plaintext bytes, each nonce the
	// NoncePrefix followed by the chunk's counter.
	ChunkSize   int    `json:"chunkSize,omitempty"`
	NoncePrefix []byte `json:"noncePrefix,omitempty"`
}

// ErrPassphrase means the passphrase is missing or wrong, or the file was
// altered.
var ErrPassphrase = errors.New("the backup is encrypted: the passphrase is missing or wrong, or the file was altered")

// ErrDamaged means the file was truncated, altered or had parts reordered.
var ErrDamaged = errors.New("the backup is damaged: truncated, altered or reordered")

// Write writes a version-2 backup of m and the tables of src to w, as src
// produces them, sealed with passphrase when it is not empty. It answers
// every table's row count (what the trailer says).
func Write(w io.Writer, m Manifest, src store.Source, passphrase string) (map[string]int64, error) {
	m.Tables = nil
	bw := bufio.NewWriterSize(w, ChunkSize)
	var aead cipher.AEAD
	if passphrase != "" {
		e := &Encryption{Cipher: "AES-256-GCM", KDF: "scrypt", N: scryptN, R: 8, P: 1, Salt: random(16),
			ChunkSize: ChunkSize, NoncePrefix: random(noncePrefixSize)}
		m.Encryption = e
		var err error
		if aead, err = e.aead(passphrase); err != nil {
			return nil, err
		}
	}
	head, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	_, _ = bw.WriteString(magic2)
	_, _ = bw.Write(head)
	_ = bw.WriteByte('\n')
	var body io.WriteCloser = nopCloser{bw}
	if aead != nil {
		body = newSealWriter(bw, aead, m.Encryption.NoncePrefix, head, ChunkSize)
	}
	zw := gzip.NewWriter(body)
	counts, err := writeBody(zw, src)
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := body.Close(); err != nil {
		return nil, err
	}
	return counts, bw.Flush()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type tableHeader struct {
	Table   string   `json:"table"`
	Columns []string `json:"columns"` // "name type"
}

type trailer struct {
	Trailer struct {
		Tables map[string]int64 `json:"tables"`
	} `json:"trailer"`
}

func writeBody(w io.Writer, src store.Source) (map[string]int64, error) {
	enc := json.NewEncoder(w)
	counts := map[string]int64{}
	err := src(func(t store.TableData) error {
		if _, dup := counts[t.Name]; dup {
			return fmt.Errorf("table %s twice", t.Name)
		}
		counts[t.Name] = 0
		h := tableHeader{Table: t.Name, Columns: make([]string, len(t.Columns))}
		for i, c := range t.Columns {
			h.Columns[i] = c.Name + " " + c.Type
		}
		if err := enc.Encode(h); err != nil {
			return err
		}
		for row, err := range t.Rows {
			if err != nil {
				return err
			}
			if err := enc.Encode(encodeRow(row)); err != nil {
				return fmt.Errorf("table %s: %w", t.Name, err)
			}
			counts[t.Name]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var tr trailer
	tr.Trailer.Tables = counts
	return counts, enc.Encode(tr)
}

// ReadManifest reads only the manifest (no passphrase needed).
func ReadManifest(r io.Reader) (*Manifest, error) {
	m, _, err := readHead(bufio.NewReader(r))
	return m, err
}

func readHead(br *bufio.Reader) (*Manifest, []byte, error) {
	first, err := br.ReadString('\n')
	version := 0
	switch {
	case err != nil:
	case first == magic1:
		version = 1
	case first == magic2:
		version = 2
	}
	if version == 0 {
		return nil, nil, errors.New("not a berth backup (bad header)")
	}
	head, err := br.ReadBytes('\n')
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	head = head[:len(head)-1]
	var m Manifest
	if err := json.Unmarshal(head, &m); err != nil {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	m.Version = version
	return &m, head, nil
}

// Reader reads one backup: Manifest at once, the tables through Tables.
type Reader struct {
	Manifest *Manifest
	tables   store.Source
}

// Open reads a backup's manifest and makes its tables ready to stream;
// with a sealed body it checks the passphrase on the first chunk.
func Open(r io.Reader, passphrase string) (*Reader, error) {
	br := bufio.NewReaderSize(r, ChunkSize+aesOverhead+1)
	m, head, err := readHead(br)
	if err != nil {
		return nil, err
	}
	if m.Version == 1 {
		tables, err := readV1(br, m, head, passphrase)
		if err != nil {
			return nil, err
		}
		return &Reader{Manifest: m, tables: tables}, nil
	}
	var body io.Reader = br
	if e := m.Encryption; e != nil {
		if passphrase == "" {
			return nil, ErrPassphrase
		}
		aead, err := e.aead(passphrase)
		if err != nil {
			return nil, err
		}
		if e.ChunkSize <= 0 || e.ChunkSize > 16<<20 || len(e.NoncePrefix) != noncePrefixSize {
			return nil, fmt.Errorf("read backup: bad encryption parameters (chunk size %d)", e.ChunkSize)
		}
		body = newOpenReader(br, aead, e.NoncePrefix, head, e.ChunkSize)
	}
	zr, err := gzip.NewReader(body)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", damaged(err))
	}
	dec := json.NewDecoder(zr)
	dec.UseNumber()
	s := &stream{m: m, dec: dec}
	return &Reader{Manifest: m, tables: s.tables}, nil
}

// Tables hands every table of the backup to fn (a store.Source, readable
// once), checking the rows against the trailer's counts at the end; only
// then are Manifest.Tables filled in. A table's rows fn leaves unread are
// skipped.
func (r *Reader) Tables(fn func(store.TableData) error) error { return r.tables(fn) }

// damaged marks a truncated or corrupted stream as ErrDamaged, keeping
// ErrPassphrase and ErrDamaged from the chunk reader as they are.
func damaged(err error) error {
	if errors.Is(err, ErrPassphrase) || errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w (%v)", ErrDamaged, err)
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
