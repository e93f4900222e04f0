package chat

import "regexp"

// Secrets people paste into a chat, kept out of the audit log and of
// anything the chat repeats: berth API keys, JWTs, provider keys,
// "password=…" style assignments, URLs with credentials and long opaque
// strings.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`brt_[A-Za-z0-9_-]+`),
	regexp.MustCompile(`chc_[A-Za-z0-9_-]+`),
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`),
	regexp.MustCompile(`\b(?:sk|pk|rk|ghp|gho|ghs|github_pat|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}`),
	regexp.MustCompile(`(?i)\b((?:[a-z0-9_]*?)(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|credential)s?\s*(?:[:=]|\bis\b|\bto\b)\s*)("[^"]*"|'[^']*'|\S+)`),
	regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@`),
	regexp.MustCompile(`\b[A-Za-z0-9+/_-]{40,}={0,2}`),
}

// Redact replaces the secrets found in s by [redacted].
func Redact(s string) string {
	for i, re := range secretPatterns {
		switch i {
		case 4: // keep the name: "password=[redacted]"
			s = re.ReplaceAllString(s, "${1}[redacted]")
		case 5: // keep the user: "postgres://app:[redacted]@db"
			s = re.ReplaceAllString(s, "${1}[redacted]@")
		default:
			s = re.ReplaceAllString(s, "[redacted]")
		}
	}
	return s
}
