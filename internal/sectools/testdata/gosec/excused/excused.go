// Package excused writes a file anyone may read, and says why that is fine.
package excused

import "os"

// Save writes b to p.
func Save(p string, b []byte) error {
	return os.WriteFile(p, b, 0o644) // #nosec G306 -- the file is public by design
}
