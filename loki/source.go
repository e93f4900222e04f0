package loki

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

// Default selector templates by provider. A template is a LogQL stream
// selector in which {name}, {namespace} and {target} stand for the service's;
// put them inside double-quoted values (they are escaped for that).
//   - LOCAL and AZURE: {service_name="{name}"}, the label Loki itself derives
//     (OpenTelemetry's service.name; Loki fills it from app/service labels).
//   - KUBERNETES: {namespace="{namespace}", app="{name}"}, what Promtail,
//     Alloy and the Grafana Agent attach to pods of a Deployment labelled app.
const (
	SelectorByServiceName = `{service_name="{name}"}`
	SelectorKubernetes    = `{namespace="{namespace}", app="{name}"}`
)

// DefaultSelector is the selector template for a target of provider.
func DefaultSelector(provider string) string {
	if provider == berth.ProviderKubernetes {
		return SelectorKubernetes
	}
	return SelectorByServiceName
}

// DefaultReplicaLabels are the labels that name a replica, first present wins.
var DefaultReplicaLabels = []string{"pod", "instance", "replica"}

const (
	// defaultLookback bounds reads without since: a quiet service's read
	// scans the whole range (Loki splits it by the hour).
	defaultLookback = 7 * 24 * time.Hour
	defaultPageSize = 1000 // under Loki's default max_entries_limit_per_query (5000)
	// maxLines bounds a read of "every line" (Tail 0): the latest maxLines.
	maxLines = 100000
	// maxSameTime is how many lines of one nanosecond a read can page
	// across: Loki's default max_entries_limit_per_query.
	maxSameTime = 5000
)

// SourceConfig configures a Source.
type SourceConfig struct {
	// Selector is the stream selector template (default SelectorByServiceName).
	Selector string
	// ReplicaLabels name a line's replica (default DefaultReplicaLabels).
	ReplicaLabels []string
	// Lookback is how far back a read goes (default 7 days; Loki refuses
	// more than its max_query_length, 721h by default).
	Lookback time.Duration
	// PageSize is the limit of each query_range call (default 1000).
	PageSize int
	Now      func() time.Time
}

// Source reads service logs from Loki: it implements berth.ServiceLogger for
// the targets whose logs Loki collects.
type Source struct {
	client   *Client
	selector string
	replicas []string
	lookback time.Duration
	page     int
	now      func() time.Time
}

var placeholder = regexp.MustCompile(`\{([A-Za-z_]*)\}`)

// NewSource returns a source over c, checking the selector template.
func NewSource(c *Client, cfg SourceConfig) (*Source, error) {
	s := &Source{client: c, selector: strings.TrimSpace(cfg.Selector), replicas: cfg.ReplicaLabels,
		lookback: cfg.Lookback, page: cfg.PageSize, now: cfg.Now}
	if s.selector == "" {
		s.selector = SelectorByServiceName
	}
	if !strings.HasPrefix(s.selector, "{") || !strings.HasSuffix(s.selector, "}") {
		return nil, fmt.Errorf("loki selector %q: must be a stream selector {label=\"value\", ...}", s.selector)
	}
	for _, m := range placeholder.FindAllStringSubmatch(s.selector, -1) {
		switch m[1] {
		case "name", "namespace", "target":
		default:
			return nil, fmt.Errorf("loki selector %q: unknown placeholder %s (known: {name}, {namespace}, {target})", s.selector, m[0])
		}
	}
	if !strings.Contains(s.selector, "{name}") {
		return nil, fmt.Errorf("loki selector %q: must contain {name}, or every service would read the same lines", s.selector)
	}
	if s.replicas == nil {
		s.replicas = DefaultReplicaLabels
	}
	if s.lookback <= 0 {
		s.lookback = defaultLookback
	}
	if s.page <= 0 {
		s.page = defaultPageSize
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Selector is the stream selector of a service.
func (s *Source) Selector(ref berth.ServiceRef) string {
	return placeholder.ReplaceAllStringFunc(s.selector, func(p string) string {
		switch p {
		case "{name}":
			return quoteInner(ref.Name)
		case "{namespace}":
			return quoteInner(ref.Namespace)
		case "{target}":
			return quoteInner(ref.Target)
		}
		return p
	})
}

// query is the service's selector with label filters for opts: a replica
// matches any of the replica labels.
func (s *Source) query(ref berth.ServiceRef, opts berth.LogOptions) string {
	q := s.Selector(ref)
	if opts.Replica != "" && len(s.replicas) > 0 {
		var alts []string
		for _, l := range s.replicas {
			alts = append(alts, l+`="`+quoteInner(opts.Replica)+`"`)
		}
		q += " | " + strings.Join(alts, " or ")
	}
	if opts.Container != "" {
		q += ` | container="` + quoteInner(opts.Container) + `"`
	}
	return q
}

// ServiceLogs calls fn for the service's lines in time order: the latest
// opts.Tail since opts.Since (within the lookback), then, with Follow, each
// new line until ctx is done.
func (s *Source) ServiceLogs(ctx context.Context, ref berth.ServiceRef, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	if opts.Tail < 0 {
		return berth.Invalid("tail", "must not be negative, got %d", opts.Tail)
	}
	if opts.Previous {
		return berth.Invalid("previous", "logs of %s come from Loki, which keeps every instance's lines: use since instead", ref.Name)
	}
	q := s.query(ref, opts)
	now := s.now()
	start := opts.Since
	if start.IsZero() || start.Before(now.Add(-s.lookback)) {
		start = now.Add(-s.lookback)
	}
	limit := opts.Tail
	if limit == 0 {
		limit = maxLines
	}
	// end is exclusive: one nanosecond past now keeps a line stamped now.
	lines, err := s.latest(ctx, q, start, now.Add(time.Nanosecond), limit)
	if err != nil {
		return berth.Wrap(err, berth.EUNAVAILABLE, "read logs of %s", ref.Name)
	}
	for _, e := range lines {
		if err := fn(s.line(e)); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	// Tail from the last line shown (Loki replays from there, then streams),
	// or from now: lines already shown are recognised and skipped.
	seen := newSeen()
	from := now
	if n := len(lines); n > 0 {
		from = lines[n-1].Time
		for _, e := range lines {
			if e.Time.Equal(from) {
				seen.add(e)
			}
		}
	}
	emit := func(e Entry) error {
		if seen.has(e) {
			return nil
		}
		seen.add(e)
		if e.Time.After(from) {
			from = e.Time
		}
		return fn(s.line(e))
	}
	for {
		began := time.Now()
		err := s.tail(ctx, q, from, emit)
		if ctx.Err() != nil {
			return nil
		}
		// Loki ends a tail after tail_max_duration (1h by default): resume
		// from the last line. A tail refused at once (a limit) or a Loki
		// that went away ends the follow.
		if errors.Is(err, ErrTailClosed) && time.Since(began) > time.Minute {
			continue
		}
		return berth.Wrap(err, berth.EUNAVAILABLE, "follow logs of %s", ref.Name)
	}
}

// catchUpAfter is when a tail re-reads its start with query_range.
const catchUpAfter = time.Second

// tail passes the entries of one Loki tail to emit, on this goroutine. Loki
// subscribes to its ingesters after the WebSocket handshake and replays
// history before that subscription is live, so a line pushed in between
// would be lost: once the tail has run for catchUpAfter, a query_range over
// [from, now] fetches such lines (emit drops the ones already shown; a line
// caught this way can come after newer ones).
func (s *Source) tail(ctx context.Context, q string, from time.Time, emit func(Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	entries := make(chan Entry)
	ended := make(chan error, 1)
	go func() {
		ended <- s.client.Tail(ctx, q, from, func(e Entry) error {
			select {
			case entries <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	catchUp := time.NewTimer(catchUpAfter)
	defer catchUp.Stop()
	for {
		select {
		case e := <-entries:
			if err := emit(e); err != nil {
				return err
			}
		case <-catchUp.C:
			es, err := s.client.Query(ctx, q, from, s.now().Add(time.Nanosecond), maxSameTime, Forward)
			if err != nil {
				return err
			}
			for _, e := range es {
				if err := emit(e); err != nil {
					return err
				}
			}
		case err := <-ended:
			return err
		}
	}
}

// latest returns the last limit entries in [start, end), oldest first,
// paging backwards so that no page exceeds Loki's per-query limit. A page
// may end inside a run of lines sharing one timestamp, and a query cannot
// resume inside it: that timestamp is read whole by a query of its own.
func (s *Source) latest(ctx context.Context, q string, start, end time.Time, limit int) ([]Entry, error) {
	var out []Entry // newest first
	add := func(es []Entry) {
		for _, e := range es {
			if len(out) == limit {
				return
			}
			out = append(out, e)
		}
	}
	for len(out) < limit {
		n := min(s.page, limit-len(out))
		page, err := s.client.Query(ctx, q, start, end, n, Backward)
		if err != nil {
			return nil, err
		}
		if len(page) < n { // the rest of the range: complete
			add(page)
			break
		}
		oldest := page[len(page)-1].Time
		i := len(page)
		for i > 0 && page[i-1].Time.Equal(oldest) {
			i--
		}
		add(page[:i])
		same, err := s.client.Query(ctx, q, oldest, oldest.Add(time.Nanosecond), maxSameTime, Backward)
		if err != nil {
			return nil, err
		}
		add(same)
		if !oldest.After(start) {
			break
		}
		end = oldest // exclusive
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func (s *Source) line(e Entry) berth.LogLine {
	l := berth.LogLine{Time: e.Time, Line: e.Line, Stream: e.Labels["stream"]}
	for _, k := range s.replicas {
		if v := e.Labels[k]; v != "" {
			l.Replica = v
			break
		}
	}
	return l
}

// seenSet remembers entries by time, labels and line to drop repeats where
// a resumed tail overlaps what was shown. Only recent ones matter, so it
// forgets older ones when it grows.
type seenSet struct {
	keys   map[string]time.Time
	newest time.Time
}

func newSeen() *seenSet { return &seenSet{keys: map[string]time.Time{}} }

func entryKey(e Entry) string {
	names := make([]string, 0, len(e.Labels))
	for k := range e.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(strconv.FormatInt(e.Time.UnixNano(), 10))
	for _, k := range names {
		b.WriteString("\x00" + k + "=" + e.Labels[k])
	}
	b.WriteString("\x00\x00" + e.Line)
	return b.String()
}

func (s *seenSet) has(e Entry) bool { _, ok := s.keys[entryKey(e)]; return ok }

func (s *seenSet) add(e Entry) {
	s.keys[entryKey(e)] = e.Time
	if e.Time.After(s.newest) {
		s.newest = e.Time
	}
	// Overlaps span a reconnect or a page boundary, never minutes.
	if len(s.keys) > 10000 {
		s.keepFrom(s.newest.Add(-time.Minute))
	}
}

// keepFrom forgets entries before t.
func (s *seenSet) keepFrom(t time.Time) {
	for k, at := range s.keys {
		if at.Before(t) {
			delete(s.keys, k)
		}
	}
}

// quoteInner escapes v for the inside of a LogQL double-quoted string.
func quoteInner(v string) string {
	q := strconv.Quote(v)
	return q[1 : len(q)-1]
}

// Sources builds a Source for each target: selectors[target] when set, else
// DefaultSelector of its provider. It is what core.Config.LogSources takes.
func Sources(c *Client, targets []berth.TargetInfo, selectors map[string]string) (map[string]berth.ServiceLogger, error) {
	out := map[string]berth.ServiceLogger{}
	for _, t := range targets {
		sel := selectors[t.Name]
		if sel == "" {
			sel = DefaultSelector(t.Provider)
		}
		src, err := NewSource(c, SourceConfig{Selector: sel})
		if err != nil {
			return nil, fmt.Errorf("log source of target %s: %w", t.Name, err)
		}
		out[t.Name] = src
	}
	return out, nil
}
