// Package unexcused writes a file anyone may read: gosec's G306.
package unexcused

import "os"

// Save writes b to p.
func Save(p string, b []byte) error {
	return os.WriteFile(p, b, 0o644)
}
