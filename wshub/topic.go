package wshub

import (
	"regexp"
	"strings"

	"github.com/berthhq/berth"
)

// logsPrefix starts every log topic.
const logsPrefix = "logs:"

// LogTopicSyntax is the form of a log topic, for error messages and docs.
const LogTopicSyntax = "logs:[<target>:][<namespace>/]<name>"

// targetName is what a log topic takes as a target: the configured names
// (letters, digits, '.', '_' and '-'), never ':' or '/', which separate
// the parts of the topic.
var targetName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

// ParseLogTopic reads a log topic, which names a service as the API does:
//
//	logs:web                  the service web, wherever it is (it must be unique)
//	logs:team-a/web           web in namespace team-a (Kubernetes), on any target
//	logs:prod:team-a/web      web in namespace team-a of target prod
//	logs:local:web            web on target local
//
// The target comes first and ends at the first ':'; the namespace ends at
// the '/'; namespace and name are DNS-1123 labels. Which service the ref
// names (and whether it exists) is core's to say when the follower starts.
func ParseLogTopic(topic string) (berth.ServiceRef, error) {
	rest, ok := strings.CutPrefix(topic, logsPrefix)
	if !ok {
		return berth.ServiceRef{}, badLogTopic(topic, "it does not start with logs:")
	}
	var ref berth.ServiceRef
	if target, r, ok := strings.Cut(rest, ":"); ok {
		if !targetName.MatchString(target) {
			return ref, badLogTopic(topic, "the target %q must be a configured target's name (letters, digits, '.', '_', '-')", target)
		}
		ref.Target, rest = target, r
	}
	if ns, name, ok := strings.Cut(rest, "/"); ok {
		if !validLabel(ns) {
			return ref, badLogTopic(topic, "the namespace %q must be a DNS-1123 label", ns)
		}
		ref.Namespace, rest = ns, name
	}
	if !validLabel(rest) {
		return ref, badLogTopic(topic, "the service name %q must be a DNS-1123 label", rest)
	}
	ref.Name = rest
	return ref, nil
}

func validLabel(s string) bool { return berth.ValidateDNSLabel("", s) == nil }

func badLogTopic(topic, format string, args ...any) error {
	args = append([]any{topic}, args...)
	return berth.Invalid("topics", "%q: "+format+"; a log topic is "+LogTopicSyntax+
		" (e.g. logs:web, logs:team-a/web, logs:prod:team-a/web)", args...)
}
