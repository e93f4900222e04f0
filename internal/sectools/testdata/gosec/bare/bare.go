// Package bare excuses gosec findings without saying which or why.
package bare

import "os"

// Save writes b to p.
func Save(p string, b []byte) error {
	return os.WriteFile(p, b, 0o644) // #nosec
}

// SaveToo writes b to p.
func SaveToo(p string, b []byte) error {
	return os.WriteFile(p, b, 0o644) // #nosec G306
}
