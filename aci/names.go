package aci

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/berthhq/berth"
)

// Every name is derived from the environment id, so a retried or repeated
// create finds what an earlier attempt made instead of making a second one.
const (
	groupPrefix   = "berth-"
	sharePrefix   = "workspace-"
	containerName = "workspace"
	volumeName    = "workspace"
)

// Tags berth puts on container groups. Azure tag keys may not contain '/',
// so berth's label keys map '/' to '_' (app.kubernetes.io/managed-by becomes
// app.kubernetes.io_managed-by).
var (
	tagManagedBy = tagKey("app.kubernetes.io/managed-by")
	tagKind      = tagKey("berth.dev/kind")
	tagID        = tagKey("berth.dev/id")
	tagOwner     = tagKey("berth.dev/owner")
	// tagInstallation names the berth installation that made a resource.
	tagInstallation = tagKey("berth.dev/installation")
	// tagKeyID is a fingerprint of the storage key a group mounts its share
	// with (see keyID), so that a start after a key rotation can tell.
	tagKeyID = tagKey("berth.dev/storage-key-id")
)

// Metadata keys berth puts on file shares. Share metadata names must be C#
// identifiers, so every character other than a letter or digit maps to '_'
// (berth.dev/id becomes berth_dev_id).
var (
	metaManagedBy    = metaKey("app.kubernetes.io/managed-by")
	metaKind         = metaKey("berth.dev/kind")
	metaID           = metaKey("berth.dev/id")
	metaOwner        = metaKey("berth.dev/owner")
	metaInstallation = metaKey("berth.dev/installation")
)

const (
	managedByValue = "berth"
	kindValue      = "environment"
)

func tagKey(label string) string { return strings.ReplaceAll(label, "/", "_") }

func metaKey(label string) string {
	b := []byte(label)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	return string(b)
}

// names are the Azure names of one environment's resources.
type names struct {
	group, share, dnsLabel string
}

var (
	// Container group: 1–63 lower-case letters, digits and single hyphens.
	groupRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// File share: 3–63 lower-case letters, digits and single hyphens.
	shareRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	// DNS label: 5–63 characters, starting with a letter.
	dnsRE = regexp.MustCompile(`^[a-z][a-z0-9-]{3,61}[a-z0-9]$`)
)

// namesFor derives and validates the names of env's resources. The DNS
// label is global to the region (<label>.<region>.azurecontainer.io), so it
// carries a short hash of the subscription and resource group: two berth
// installations never claim the same label for the same environment id.
func (r *Runtime) namesFor(envID string) (names, error) {
	if err := berth.ValidateDNSLabel("id", envID); err != nil {
		return names{}, err
	}
	sum := sha256.Sum256([]byte(strings.ToLower(r.cfg.SubscriptionID + "/" + r.cfg.ResourceGroup)))
	n := names{
		group:    groupPrefix + envID,
		share:    sharePrefix + envID,
		dnsLabel: envID + "-" + hex.EncodeToString(sum[:3]),
	}
	return n, n.validate()
}

func (n names) validate() error {
	checks := []struct {
		what, v string
		re      *regexp.Regexp
		rule    string
	}{
		{"container group name", n.group, groupRE, "1 to 63 lower-case letters, digits and hyphens, starting and ending with a letter or digit"},
		{"file share name", n.share, shareRE, "3 to 63 lower-case letters, digits and hyphens, starting and ending with a letter or digit"},
		{"DNS name label", n.dnsLabel, dnsRE, "5 to 63 lower-case letters, digits and hyphens, starting with a letter and ending with a letter or digit"},
	}
	for _, c := range checks {
		if !c.re.MatchString(c.v) || strings.Contains(c.v, "--") {
			return berth.Invalid("id", "the %s %q derived from it is not valid on Azure: %s, no consecutive hyphens", c.what, c.v, c.rule)
		}
	}
	return nil
}

// envIDOfGroup returns the environment id a berth container group name
// carries, or "".
func envIDOfGroup(name string) string {
	if id, ok := strings.CutPrefix(name, groupPrefix); ok {
		return id
	}
	return ""
}

// envIDOfShare returns the environment id a berth share name carries, or "".
func envIDOfShare(name string) string {
	if id, ok := strings.CutPrefix(name, sharePrefix); ok {
		return id
	}
	return ""
}
