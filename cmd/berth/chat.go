package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
)

// newChatCmd is `berth chat "scale web to 3"` (one message; a mutation
// asks y/N before it is confirmed, --yes skips the question) and, without
// a message, a REPL that keeps the conversation's context.
func newChatCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "chat [MESSAGE...]",
		Short: "Ask berth or tell it what to do, in plain words (no message: an interactive session)",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(e)
			if err != nil {
				return err
			}
			s := &chatSession{e: e, f: f, c: c, yes: yes, in: bufio.NewReader(e.stdin)}
			if len(args) > 0 {
				return s.say(cmd.Context(), strings.Join(args, " "))
			}
			return s.repl(cmd.Context())
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "confirm a proposed action without asking")
	return cmd
}

// chatSession is one conversation: the context travels from answer to message.
type chatSession struct {
	e       *cliEnv
	f       *clientFlags
	c       *client.Client
	yes     bool
	in      *bufio.Reader
	context string
}

func (s *chatSession) repl(ctx context.Context) error {
	fmt.Fprintln(s.e.stdout, `berth chat: ask about your services and environments ("help"; "exit" or Ctrl-D ends)`)
	for {
		fmt.Fprint(s.e.stdout, "berth> ")
		line, err := s.in.ReadString('\n')
		line = strings.TrimSpace(line)
		if line == "exit" || line == "quit" {
			return nil
		}
		if line != "" {
			if serr := s.say(ctx, line); serr != nil {
				fmt.Fprintln(s.e.stdout, berthErrorText(serr))
			}
		}
		if err == io.EOF {
			fmt.Fprintln(s.e.stdout)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
}

// say sends one message, prints the answer and, for a proposed action,
// asks before confirming it.
func (s *chatSession) say(ctx context.Context, msg string) error {
	r, err := s.send(ctx, api.ChatRequest{Message: msg, Context: s.context})
	if err != nil {
		return err
	}
	if r.Confirm == nil {
		return nil
	}
	if !s.yes {
		fmt.Fprintf(s.e.stdout, "%s? [y/N] ", r.Confirm.Summary)
		line, _ := s.in.ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(s.e.stdout, "Nothing was done.")
			return nil
		}
	}
	done, err := s.send(ctx, api.ChatRequest{Confirm: r.Confirm.Token})
	if err != nil {
		return err
	}
	for _, a := range done.Actions {
		if a.Status != berth.AuditCompleted {
			return berth.Errorf(berth.ESERVICE, "%s", a.Result)
		}
	}
	return nil
}

func (s *chatSession) send(ctx context.Context, req api.ChatRequest) (*api.ChatResponse, error) {
	var raw json.RawMessage
	rawCtx := s.f.capture(ctx, &raw)
	r, err := s.c.Chat(rawCtx, req)
	if err != nil {
		return nil, err
	}
	s.context = r.Context
	if s.f.json() {
		return r, s.e.printRaw(raw)
	}
	printChat(s.e, r)
	return r, nil
}

func printChat(e *cliEnv, r *api.ChatResponse) {
	if r.Confirm == nil || !strings.HasPrefix(r.Reply, "I will ") {
		fmt.Fprintln(e.stdout, r.Reply)
	}
	if r.Code != nil {
		fmt.Fprintf(e.stdout, "--- %s ---\n%s", r.Code.Language, r.Code.Content)
		if !strings.HasSuffix(r.Code.Content, "\n") {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintln(e.stdout, "---")
	}
	if len(r.Suggestions) > 0 && r.Confirm == nil {
		fmt.Fprintf(e.stdout, "Try: %s\n", strings.Join(r.Suggestions, " | "))
	}
}
