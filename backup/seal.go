package backup

import (
	"bufio"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// The sealed body of a version-2 backup follows the STREAM construction
// (Hoang, Reyhanitabar, Rogaway, Vizár: "Online Authenticated-Encryption
// and its Nonce-Reuse Misuse-Resistance", 2015): the plaintext is cut into
// chunks of ChunkSize bytes (the last one shorter, possibly empty), each
// sealed on its own with AES-256-GCM under
//   nonce = NoncePrefix (8 random bytes per file) || chunk counter (4 bytes, big-endian)
//   associated data = the manifest line as written || last-chunk flag (1 byte)
// so a chunk moved to another place (its counter differs), a file cut at
// any point (its new last chunk was sealed with the flag 0, or a chunk is
// cut short), a chunk appended after the last, or a changed manifest byte
// each make a chunk fail to open. Reading and writing hold one chunk.

const (
	noncePrefixSize = 8
	aesOverhead     = 16 // GCM's tag
)

func chunkNonce(prefix []byte, counter uint32) []byte {
	n := make([]byte, 0, noncePrefixSize+4)
	n = append(n, prefix...)
	return binary.BigEndian.AppendUint32(n, counter)
}

func chunkAD(head []byte, last bool) []byte {
	ad := make([]byte, 0, len(head)+1)
	ad = append(ad, head...)
	if last {
		return append(ad, 1)
	}
	return append(ad, 0)
}

// sealWriter seals what is written in chunks. A full chunk is sealed only
// once more data comes (it is not the last); Close seals what is left as
// the last chunk.
type sealWriter struct {
	w             io.Writer
	aead          cipher.AEAD
	prefix        []byte
	adMid, adLast []byte
	buf, out      []byte
	size          int
	counter       uint32
	exhausted     bool // the counter's last value was used
}

func newSealWriter(w io.Writer, aead cipher.AEAD, prefix, head []byte, size int) *sealWriter {
	return &sealWriter{w: w, aead: aead, prefix: prefix, adMid: chunkAD(head, false), adLast: chunkAD(head, true),
		buf: make([]byte, 0, size), out: make([]byte, 0, size+aesOverhead), size: size}
}

func (s *sealWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(s.buf) == s.size {
			if err := s.seal(false); err != nil {
				return n - len(p), err
			}
		}
		k := min(s.size-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (s *sealWriter) seal(last bool) error {
	if s.exhausted {
		return errors.New("seal backup: too many chunks")
	}
	ad := s.adMid
	if last {
		ad = s.adLast
	}
	s.out = s.aead.Seal(s.out[:0], chunkNonce(s.prefix, s.counter), s.buf, ad)
	if s.counter == math.MaxUint32 {
		s.exhausted = true
	}
	s.counter++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

func (s *sealWriter) Close() error { return s.seal(true) }

// openReader opens the chunks sealWriter wrote, in order. A chunk is the
// last when it is short or when the file ends right after it; the file
// ending before a last chunk opened is a truncation.
type openReader struct {
	r             *bufio.Reader
	aead          cipher.AEAD
	prefix        []byte
	adMid, adLast []byte
	ct, pt        []byte
	off           int
	counter       uint32
	exhausted     bool
	done          bool
	err           error
}

func newOpenReader(r *bufio.Reader, aead cipher.AEAD, prefix, head []byte, size int) *openReader {
	return &openReader{r: r, aead: aead, prefix: prefix, adMid: chunkAD(head, false), adLast: chunkAD(head, true),
		ct: make([]byte, size+aesOverhead), pt: make([]byte, 0, size)}
}

func (o *openReader) Read(p []byte) (int, error) {
	for o.off == len(o.pt) {
		if o.err != nil {
			return 0, o.err
		}
		if o.done {
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.pt[o.off:])
	o.off += n
	return n, nil
}

func (o *openReader) next() error {
	n, err := io.ReadFull(o.r, o.ct)
	last := false
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the file ends before its last chunk (chunk %d)", ErrDamaged, o.counter)
	case errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	case err != nil:
		return fmt.Errorf("read backup: %w", err)
	default:
		if _, err := o.r.Peek(1); errors.Is(err, io.EOF) {
			last = true
		} else if err != nil {
			return fmt.Errorf("read backup: %w", err)
		}
	}
	if o.exhausted {
		return fmt.Errorf("%w: too many chunks", ErrDamaged)
	}
	ad := o.adMid
	if last {
		ad = o.adLast
	}
	pt, err := o.aead.Open(o.pt[:0], chunkNonce(o.prefix, o.counter), o.ct[:n], ad)
	if err != nil {
		if o.counter == 0 {
			// The passphrase and the manifest are checked by the first chunk.
			return ErrPassphrase
		}
		return fmt.Errorf("%w: chunk %d does not open", ErrDamaged, o.counter)
	}
	o.pt, o.off = pt, 0
	if o.counter == math.MaxUint32 {
		o.exhausted = true
	}
	o.counter++
	o.done = last
	return nil
}
