package chat

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

// Parsed is what the grammar made of a message: the intent, its arguments
// as written (slot → word, extracted kinds → value) and which of them were
// typos the grammar corrected (slot → what was written).
type Parsed struct {
	Intent  *Intent
	Args    map[string]string
	Typos   map[string]string
	Since   time.Duration
	score   int
	unknown int
}

// unsure says whether a name in p is a typo or unknown: worth a second
// look with a fresh list of names.
func (p *Parsed) unsure() bool {
	return len(p.Typos) > 0 || p.unknown > 0
}

// Names are the entities a message is matched against: berth's real names.
type Names struct {
	Services     []string // distinct service names
	Environments []string // names and ids of the caller's environments
	Targets      []string
	// Subject is what "it" means: the subject of the conversation so far.
	Subject string
}

// pronouns stand for the conversation's subject.
var pronouns = map[string]bool{"it": true, "that": true, "this": true, "them": true}

// filler words carry no meaning for the grammar, in phrases and messages alike.
var filler = map[string]bool{"please": true, "the": true, "a": true, "an": true, "my": true, "can": true, "could": true,
	"would": true, "you": true, "me": true, "us": true, "berth": true, "kindly": true, "hey": true, "hi": true, "just": true,
	"now": true, "quickly": true, "service": true, "our": true, "some": true, "pls": true, "thanks": true, "thank": true,
	"currently": true, "right": true, "up?": true, "doing?": true, "app": true, "its": true}

var contractions = strings.NewReplacer("what's", "what is", "how's", "how is", "it's", "it is", "isn't", "is not",
	"doesn't", "does not", "what're", "what are", "who's", "who is", "i'd", "i would", "let's", "let us",
	"’", "'")

var (
	// "in the last hour", "over the past 30 minutes", "last 2h", "today"
	sinceRE = regexp.MustCompile(`\b(?:in |over |during |for |from )?(?:the )?(?:last|past) (?:(\d+) ?)?(h|hr|hrs|hour|hours|m|min|mins|minute|minutes|d|day|days|s|sec|secs|seconds)\b|\btoday\b`)
	// "2Gi", "512 MB", "2 gb of memory"
	// (not inside a name: "api-5g" stays a name)
	memoryRE = regexp.MustCompile(`(?:^|[^a-z0-9._:/-])((\d+(?:\.\d+)?) ?(gi|gib|gb|g|mi|mib|mb)\b(?: of)?(?: memory| ram| mem)?)`)
	// "2 cores", "4 cpus"
	coresRE = regexp.MustCompile(`\b(\d+) ?(?:cores?|cpus?|vcpus?)\b`)
	wordRE  = regexp.MustCompile(`[a-z0-9][a-z0-9._:/-]*`)
)

var numberWords = map[string]int{"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "twenty": 20}

// number reads "3" or "three".
func number(w string) (int, bool) {
	if n, ok := numberWords[w]; ok {
		return n, true
	}
	n, err := strconv.Atoi(w)
	return n, err == nil && n >= 0 && n < 1_000_000
}

// tokens normalises a message and takes out what is said anywhere in it
// (a duration, a memory size, cores), returned in ext.
func tokens(msg string) (toks []string, ext map[string]string, since time.Duration) {
	s := contractions.Replace(strings.ToLower(msg))
	ext = map[string]string{}
	if m := sinceRE.FindStringSubmatch(s); m != nil {
		since = parseSince(m)
		s = strings.Replace(s, m[0], " ", 1)
	}
	if m := memoryRE.FindStringSubmatchIndex(s); m != nil {
		ext["memory"] = memoryQuantity(s[m[4]:m[5]], s[m[6]:m[7]])
		s = s[:m[2]] + " " + s[m[3]:]
	}
	if m := coresRE.FindStringSubmatch(s); m != nil {
		ext["cores"] = m[1]
		s = strings.Replace(s, m[0], " ", 1)
	}
	for _, w := range wordRE.FindAllString(s, -1) {
		w = strings.TrimRight(w, ".:/-")
		if w == "" || filler[w] {
			continue
		}
		toks = append(toks, w)
	}
	return toks, ext, since
}

func parseSince(m []string) time.Duration {
	if m[0] == "today" {
		return 24 * time.Hour
	}
	n := 1
	if m[1] != "" {
		n, _ = strconv.Atoi(m[1])
	}
	unit := time.Hour
	switch m[2][0] {
	case 'm':
		unit = time.Minute
	case 'd':
		unit = 24 * time.Hour
	case 's':
		unit = time.Second
	}
	return time.Duration(n) * unit
}

// memoryQuantity turns "2" "gb" into a Kubernetes quantity ("2Gi").
func memoryQuantity(n, unit string) string {
	if strings.HasPrefix(unit, "g") {
		return n + "Gi"
	}
	return n + "Mi"
}

// phrase is a compiled phrase of an intent.
type phrase struct {
	intent *Intent
	parts  []part
	lits   int
}

type part struct {
	words []string // literal alternatives; nil for a slot
	slot  string
	kind  Kind
}

// Grammar matches messages against the intent table.
type Grammar struct {
	phrases []phrase
	images  []string
}

// NewGrammar compiles the intent table.
func NewGrammar() *Grammar {
	g := &Grammar{images: imageNames()}
	for i := range Intents {
		in := &Intents[i]
		kinds := map[string]Kind{}
		for _, a := range in.Args {
			kinds[a.Name] = a.Kind
		}
		for _, ph := range in.Phrases {
			p := phrase{intent: in}
			for _, w := range strings.Fields(ph) {
				if strings.HasPrefix(w, "{") {
					slot := strings.Trim(w, "{}")
					k, ok := kinds[slot]
					if !ok {
						panic("chat: phrase " + ph + " of " + in.Name + " uses undeclared slot " + slot)
					}
					p.parts = append(p.parts, part{slot: slot, kind: k})
					continue
				}
				var alts []string
				for _, a := range strings.Split(w, "|") {
					if !filler[a] {
						alts = append(alts, a)
					}
				}
				if len(alts) > 0 {
					p.parts = append(p.parts, part{words: alts})
					p.lits++
				}
			}
			g.phrases = append(g.phrases, p)
		}
	}
	return g
}

// quality of a word in a slot: how well it names an entity of the slot's kind.
const (
	qNone  = 0 // not a name berth knows (still taken: the answer says so)
	qFuzzy = 1 // a typo of one
	qExact = 2
)

// Parse matches msg; nil when nothing in the table fits.
func (g *Grammar) Parse(msg string, names Names) *Parsed {
	toks, ext, since := tokens(msg)
	if len(toks) > 24 {
		toks = toks[:24]
	}
	r := resolver{names: names, images: g.images, memo: map[string]resolved{}}
	// "on kube", "in staging": a target named anywhere.
	target := ""
	for i := 0; i+1 < len(toks); i++ {
		if (toks[i] == "on" || toks[i] == "in" || toks[i] == "at" || toks[i] == "to") && contains(names.Targets, toks[i+1]) {
			target = toks[i+1]
			toks = append(toks[:i:i], toks[i+2:]...)
			break
		}
	}
	var best *Parsed
	for i := range g.phrases {
		p := &g.phrases[i]
		m, ok := p.match(toks, &r)
		if !ok {
			continue
		}
		if best == nil || m.score > best.score {
			best = m
		}
	}
	if best == nil {
		return nil
	}
	best.Since = since
	for _, a := range best.Intent.Args {
		switch {
		case a.Kind == KTarget && target != "":
			best.Args[a.Name] = target
		case ext[a.Name] != "" && best.Args[a.Name] == "":
			best.Args[a.Name] = ext[a.Name]
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// capture is one way of matching a phrase.
type capture struct {
	skips, exact, fuzzy, unknown int
	args                         map[string]string
	typos                        map[string]string
}

// match finds the best way toks fit the phrase: literals in order, each
// slot one word, extra words skipped (and counted against the match).
func (p *phrase) match(toks []string, r *resolver) (*Parsed, bool) {
	memo := map[[2]int]memoEntry{}
	best, ok := p.rec(0, 0, toks, r, memo)
	if !ok {
		return nil, false
	}
	if p.lits == 0 && best.exact+best.fuzzy == 0 {
		return nil, false // a bare slot must name something real
	}
	if best.unknown > 0 && (p.lits == 0 || best.skips >= 2) {
		// An unknown name amid words the phrase does not use is a guess,
		// not an understanding ("get rid of the frontend thing").
		return nil, false
	}
	score := 10*p.lits + 6*best.exact + 3*best.fuzzy - 2*best.skips - 4*best.unknown
	return &Parsed{Intent: p.intent, Args: best.args, Typos: best.typos, score: score, unknown: best.unknown}, true
}

func (c capture) value() int { return 6*c.exact + 3*c.fuzzy - 2*c.skips - 4*c.unknown }

type memoEntry struct {
	c  capture
	ok bool
}

func (p *phrase) rec(pi, ii int, toks []string, r *resolver, memo map[[2]int]memoEntry) (capture, bool) {
	if e, ok := memo[[2]int{pi, ii}]; ok {
		return e.c, e.ok
	}
	c, ok := p.recNew(pi, ii, toks, r, memo)
	memo[[2]int{pi, ii}] = memoEntry{c, ok}
	return c, ok
}

func (p *phrase) recNew(pi, ii int, toks []string, r *resolver, memo map[[2]int]memoEntry) (capture, bool) {
	if pi == len(p.parts) {
		return capture{skips: len(toks) - ii, args: map[string]string{}, typos: map[string]string{}}, true
	}
	pt := p.parts[pi]
	var best capture
	found := false
	for j := ii; j < len(toks); j++ {
		w := toks[j]
		var q int
		var val string
		if pt.words != nil {
			if !contains(pt.words, w) {
				continue
			}
		} else {
			var ok bool
			val, q, ok = r.resolve(pt.kind, w)
			if !ok {
				continue
			}
		}
		rest, ok := p.rec(pi+1, j+1, toks, r, memo)
		if !ok {
			continue
		}
		rest.skips += j - ii
		if pt.words == nil {
			rest = rest.with(pt.slot, val)
			switch q {
			case qExact:
				rest.exact++
			case qFuzzy:
				rest.fuzzy++
				rest.typos[pt.slot] = w
			default:
				rest.unknown++
			}
		}
		if !found || rest.value() > best.value() {
			best, found = rest, true
		}
	}
	return best, found
}

// with returns c with one more argument (copying the maps: alternatives share the tail).
func (c capture) with(slot, val string) capture {
	args := make(map[string]string, len(c.args)+1)
	for k, v := range c.args {
		args[k] = v
	}
	args[slot] = val
	typos := make(map[string]string, len(c.typos))
	for k, v := range c.typos {
		typos[k] = v
	}
	c.args, c.typos = args, typos
	return c
}

type resolved struct {
	val string
	q   int
	ok  bool
}

// resolver checks words against the entities of a kind, memoised per message.
type resolver struct {
	names  Names
	images []string
	memo   map[string]resolved
}

func (r *resolver) resolve(kind Kind, w string) (string, int, bool) {
	key := string(kind) + "\x00" + w
	if v, ok := r.memo[key]; ok {
		return v.val, v.q, v.ok
	}
	v := r.resolveNew(kind, w)
	r.memo[key] = v
	return v.val, v.q, v.ok
}

func (r *resolver) resolveNew(kind Kind, w string) resolved {
	switch kind {
	case KNumber, KRevision:
		if n, ok := number(w); ok {
			return resolved{strconv.Itoa(n), qExact, true}
		}
		return resolved{}
	case KImage:
		if _, ok := generators[w]; ok {
			return resolved{w, qExact, true}
		}
		if alias, ok := imageAliases[w]; ok {
			return resolved{alias, qExact, true}
		}
		if c := closest(w, r.images); c != "" {
			return resolved{c, qFuzzy, true}
		}
		return resolved{}
	case KRec:
		if id, ok := strings.CutPrefix(w, "rec-"); ok && id != "" && isLabel(w) {
			return resolved{w, qExact, true}
		}
		return resolved{}
	case KRecKind:
		for _, k := range berth.RecKinds() {
			if w == string(k) {
				return resolved{w, qExact, true}
			}
		}
		if w == "rightsizing" {
			return resolved{string(berth.RecRightsize), qExact, true}
		}
		return resolved{}
	case KName:
		if isLabel(w) && !stop[w] {
			return resolved{w, qExact, true}
		}
		return resolved{}
	case KService, KEnv:
		list := r.names.Services
		if kind == KEnv {
			list = r.names.Environments
		}
		if pronouns[w] {
			if r.names.Subject != "" && (kind == KService) == contains(r.names.Services, r.names.Subject) {
				return resolved{r.names.Subject, qExact, true}
			}
			return resolved{w, qNone, true}
		}
		if stop[w] {
			return resolved{}
		}
		if contains(list, w) {
			return resolved{w, qExact, true}
		}
		if c := closest(w, list); c != "" {
			return resolved{c, qFuzzy, true}
		}
		if !isLabel(w) {
			return resolved{}
		}
		return resolved{w, qNone, true}
	}
	return resolved{}
}

// stop words are never names.
var stop = map[string]bool{"to": true, "of": true, "in": true, "on": true, "by": true, "is": true, "and": true, "with": true,
	"for": true, "from": true, "what": true, "why": true, "how": true, "replicas": true, "replica": true, "revision": true,
	"environment": true, "env": true, "called": true, "named": true, "up": true, "down": true, "back": true, "all": true,
	"services": true, "environments": true, "logs": true, "errors": true, "at": true, "i": true}

func isLabel(w string) bool {
	if w == "" || len(w) > 63 {
		return false
	}
	for i, c := range w {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(w)-1) {
			return false
		}
	}
	return true
}

// closest is the one name within a small edit distance of w ("" when none,
// or when two are equally close: then it is no offer but a guess).
func closest(w string, names []string) string {
	if len(w) < 3 {
		return ""
	}
	maxd := 1
	if len(w) >= 5 {
		maxd = 2
	}
	best, bestD, tie := "", maxd+1, false
	for _, n := range names {
		if abs(len(n)-len(w)) > maxd {
			continue
		}
		d := distance(w, n, maxd)
		switch {
		case d < bestD:
			best, bestD, tie = n, d, false
		case d == bestD:
			tie = true
		}
	}
	if tie || best == "" {
		return ""
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// distance is the optimal-string-alignment distance of a and b (a swap of
// two neighbours counts one), stopping early above maxd.
func distance(a, b string, maxd int) int {
	la, lb := len(a), len(b)
	prev2 := make([]int, lb+1)
	prev := make([]int, lb+1)
	cur := make([]int, lb+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= la; i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > maxd {
			return maxd + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[lb]
}
