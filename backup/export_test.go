package backup

// Tests seal with a cheap scrypt cost: they check the format, not the KDF's
// strength (the version-1 fixtures keep the real cost).
func init() { scryptN = 1 << 10 }
