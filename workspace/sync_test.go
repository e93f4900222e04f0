package workspace

import (
	"io"
	"strings"
	"sync"
)

var logMu sync.Mutex

// syncWriter serializes writes to a strings.Builder shared with the test.
type syncWriter struct{ w io.Writer }

func (s *syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return s.w.Write(p)
}

func logsString(b *strings.Builder) string {
	logMu.Lock()
	defer logMu.Unlock()
	return b.String()
}
