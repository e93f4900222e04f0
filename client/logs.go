package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// LogQuery selects log lines of a service. Tail 0 takes the server's default
// (the last 100 lines); Since is RFC 3339 or a duration back from now ("5m").
type LogQuery struct {
	Tail     int
	Since    string
	Previous bool
	Replica  string
}

func (o LogQuery) values(q url.Values) url.Values {
	if o.Tail > 0 {
		q.Set("tail", strconv.Itoa(o.Tail))
	}
	if o.Since != "" {
		q.Set("since", o.Since)
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Replica != "" {
		q.Set("replica", o.Replica)
	}
	return q
}

// Logs returns the recent log lines of a service.
func (c *Client) Logs(ctx context.Context, ref berth.ServiceRef, o LogQuery) ([]berth.LogLine, error) {
	p, q := svcPath(ref, "/logs")
	var out api.ServiceLogs
	if err := c.do(ctx, "GET", p, o.values(q), nil, &out); err != nil {
		return nil, err
	}
	return out.Lines, nil
}

// maxLogLine bounds one NDJSON line of a stream.
const maxLogLine = 1 << 20

// FollowLogs streams the log lines of a service to fn, the recent ones first
// then new ones as they come, until ctx is done (it then returns nil), the
// server ends the stream (nil) or fn returns an error (that error).
func (c *Client) FollowLogs(ctx context.Context, ref berth.ServiceRef, o LogQuery, fn func(berth.LogLine) error) error {
	p, q := svcPath(ref, "/logs")
	q = o.values(q)
	q.Set("follow", "true")
	resp, err := c.send(ctx, "GET", p, q, nil, "application/x-ndjson")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLogLine)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l berth.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("follow logs of %s: decode line: %w", ref.Name, err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	err = sc.Err()
	if ctx.Err() != nil || err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("follow logs of %s: %w", ref.Name, err)
}
