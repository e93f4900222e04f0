package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/client"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

func newSvcCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "svc",
		Aliases: []string{"service", "services"},
		Short:   "Manage services",
	}
	cmd.AddCommand(
		newSvcApplyCmd(e, f), newSvcListCmd(e, f), newSvcGetCmd(e, f), newSvcRmCmd(e, f),
		newSvcScaleCmd(e, f), newSvcRollbackCmd(e, f),
		newSvcActionCmd(e, f, "start", "Start a stopped service", svcReady),
		newSvcActionCmd(e, f, "stop", "Stop every replica, keeping the spec", svcStopped),
		newSvcActionCmd(e, f, "restart", "Restart the replicas one at a time", svcReady),
		newSvcRevisionsCmd(e, f), newSvcLogsCmd(e, f), newSvcConfigCmd(e, f),
	)
	return cmd
}

// addRefFlags adds --target and --namespace, which narrow the service a NAME means.
func addRefFlags(cmd *cobra.Command, ref *berth.ServiceRef) {
	cmd.Flags().StringVar(&ref.Target, "target", "", "target of the service")
	cmd.Flags().StringVarP(&ref.Namespace, "namespace", "n", "", "namespace of the service (cluster targets)")
}

// svcRun is the shape of most service commands: a call that changes the
// service, then maybe a wait, then its answer printed.
func svcRun(cmd *cobra.Command, e *cliEnv, f *clientFlags, ref berth.ServiceRef, w waitFlags, goal svcGoal,
	call func(c *client.Client, ctx context.Context) (*api.ServiceResult, error)) error {
	return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
		return svcChange(ctx, e, c, ref, w, goal, call)
	})
}

// svcChange is the do of svcRun, for commands that make other calls first.
func svcChange(ctx context.Context, e *cliEnv, c *client.Client, ref berth.ServiceRef, w waitFlags, goal svcGoal,
	call func(c *client.Client, ctx context.Context) (*api.ServiceResult, error)) (func() error, error) {
	res, err := call(c, ctx)
	if err != nil {
		return nil, err
	}
	if w.wait {
		if res.Service != nil { // wait for the service the server resolved
			ref.Target, ref.Namespace = res.Service.Target, res.Service.Namespace
		}
		if err := waitService(ctx, e, c, ref, goal, w.timeout); err != nil {
			return nil, err
		}
	}
	return e.reply("%s: %s\n", ref.Name, res.Message), nil
}

// specFile is the YAML of `svc apply`: a ServiceSpec plus an optional name.
func parseSpecFile(data []byte) (name string, spec berth.ServiceSpec, err error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return "", spec, berth.Invalid("file", "%v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		return "", spec, berth.Invalid("file", "want a mapping of spec fields")
	}
	if n, ok := m["name"]; ok {
		if err := json.Unmarshal(n, &name); err != nil {
			return "", spec, berth.Invalid("name", "must be a string")
		}
		delete(m, "name")
	}
	rest, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields() // a typo in a spec file should not pass silently
	if err := dec.Decode(&spec); err != nil {
		return "", spec, berth.Invalid("file", "%v", err)
	}
	return name, spec, nil
}

func newSvcApplyCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var file, name string
	var pre client.Precondition
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "apply -f SPEC.yaml",
		Short: "Create or update a service from a YAML (or JSON) spec",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("if-revision") && pre.Revision < 1 {
				return berth.Invalid("if-revision", "must be a revision number, 1 or more (got %d)", pre.Revision)
			}
			var data []byte
			var err error
			if file == "-" {
				data, err = readAll(e)
			} else {
				data, err = os.ReadFile(file) // #nosec G304 -- the CLI reads the file its user names
			}
			if err != nil {
				return fmt.Errorf("read spec: %w", err)
			}
			fileName, spec, err := parseSpecFile(data)
			if err != nil {
				return err
			}
			if name == "" {
				name = fileName
			}
			if name == "" {
				return berth.Invalid("name", "give it in the file (name:) or with --name")
			}
			ref := berth.ServiceRef{Name: name, Target: spec.Target, Namespace: spec.Namespace}
			return svcRun(cmd, e, f, ref, w, svcReady, func(c *client.Client, ctx context.Context) (*api.ServiceResult, error) {
				if err := requireCapability(ctx, c, spec.Target, berth.CapServices); err != nil {
					return nil, err
				}
				res, _, err := c.ApplyServiceIf(ctx, name, spec, pre)
				return res, err
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "spec file (- for stdin)")
	cmd.Flags().StringVar(&name, "name", "", "service name (overrides name: in the file)")
	cmd.Flags().IntVar(&pre.Revision, "if-revision", 0, "apply only while the service is at this revision (the one you read); otherwise nothing changes")
	cmd.Flags().BoolVar(&pre.Absent, "create-only", false, "apply only if no service of that name exists yet")
	cmd.MarkFlagsMutuallyExclusive("if-revision", "create-only")
	_ = cmd.MarkFlagRequired("file")
	addWaitFlags(cmd, &w)
	return cmd
}

func newSvcListCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var o client.ListOptions
	var target string
	cmd := newListCmd("List services", func(cmd *cobra.Command) error {
		return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
			l, err := c.ListServices(ctx, target, o)
			if err != nil {
				return nil, err
			}
			return func() error {
				t := newTable(e.stdout, "NAME", "TARGET", "STATUS", "READY", "REVISION", "AGE", "MESSAGE")
				for _, s := range l.Services {
					t.row(qualified(s), s.Target, string(s.Status), fmt.Sprintf("%d/%d", s.ReadyReplicas, s.Replicas),
						itoa(s.Revision), age(s.CreatedAt), s.Message)
				}
				for _, u := range l.Unreachable {
					fmt.Fprintf(e.stderr, "warning: target %s is unreachable, only its services stored in berth are listed: %s\n", u.Name, u.Error)
				}
				return flushPage(e, t, len(l.Services), l.Total)
			}, nil
		})
	})
	cmd.Flags().StringVar(&target, "target", "", "only this target's services")
	addPageFlags(cmd, &o)
	return cmd
}

func qualified(s *berth.Service) string {
	if s.Namespace != "" {
		return s.Namespace + "/" + s.Name
	}
	return s.Name
}

func newSvcGetCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var ref berth.ServiceRef
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a service and its replicas",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref.Name = args[0]
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				s, err := c.GetService(ctx, ref)
				if err != nil {
					return nil, err
				}
				return func() error { return printService(e, s) }, nil
			})
		},
	}
	addRefFlags(cmd, &ref)
	return cmd
}

func printService(e *cliEnv, s *berth.Service) error {
	what := s.Spec.Image
	if len(s.Spec.Command) > 0 {
		what = strings.TrimSpace(what + " " + strings.Join(s.Spec.Command, " "))
	}
	ports := []string{}
	for _, p := range s.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
	}
	managed := "yes"
	if !s.Managed {
		managed = "no (found on the target)"
	}
	err := fields(e.stdout,
		"Name", qualified(s),
		"Target", s.Target,
		"Status", string(s.Status),
		"Message", s.Message,
		"Ready", fmt.Sprintf("%d/%d", s.ReadyReplicas, s.Replicas),
		"Revision", itoa(s.Revision),
		"Managed", managed,
		"Run", what,
		"Ports", strings.Join(ports, ", "),
		"Env", strings.Join(sortedKeys(s.Spec.Env), ", "),
		"Secrets", strings.Join(sortedKeys(s.Spec.Secrets), ", "),
		"Config files", strings.Join(sortedKeys(s.Spec.Config.Files), ", "),
		"Created", when(s.CreatedAt),
		"Updated", when(s.UpdatedAt),
	)
	if err != nil {
		return err
	}
	if err := printReplicas(e, s.Instances); err != nil {
		return err
	}
	return printWorkloadEvents(e, s.Events)
}

// printReplicas is the replicas table of `svc get` (nothing without any).
func printReplicas(e *cliEnv, instances []berth.ReplicaState) error {
	if len(instances) > 0 {
		fmt.Fprintln(e.stdout)
		t := newTable(e.stdout, "REPLICA", "STATE", "READY", "RESTARTS", "REVISION", "PID", "PORT", "LAST EXIT")
		for _, r := range instances {
			pid, port := "", ""
			if r.PID > 0 {
				pid = itoa(r.PID)
			}
			if r.Port > 0 {
				port = itoa(r.Port)
			}
			t.row(r.Name, r.State, strconv.FormatBool(r.Ready), itoa(r.Restarts), itoa(r.Revision), pid, port, r.LastExit)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

// printWorkloadEvents ends `svc get` as kubectl describe does.
func printWorkloadEvents(e *cliEnv, events []berth.WorkloadEvent) error {
	if len(events) == 0 {
		return nil
	}
	// As kubectl describe ends: what the orchestrator said, newest first.
	fmt.Fprintln(e.stdout)
	t := newTable(e.stdout, "AGE", "TYPE", "REASON", "OBJECT", "MESSAGE")
	for _, ev := range events {
		reason := ev.Reason
		if ev.Count > 1 {
			reason = fmt.Sprintf("%s (x%d)", ev.Reason, ev.Count)
		}
		t.row(age(ev.Time), ev.Type, reason, ev.Object, ev.Message)
	}
	return t.flush()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func newSvcRmCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var ref berth.ServiceRef
	var w waitFlags
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a service from its target and from berth",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref.Name = args[0]
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				ack, err := c.DeleteService(ctx, ref)
				if err != nil {
					return nil, err
				}
				if w.wait {
					// Not captured: the answer to print is the delete's.
					if err := waitService(cmd.Context(), e, c, ref, svcGone, w.timeout); err != nil {
						return nil, err
					}
				}
				return e.reply("%s: %s\n", ref.Name, ack.Message), nil
			})
		},
	}
	addRefFlags(cmd, &ref)
	addWaitFlags(cmd, &w)
	return cmd
}

func newSvcActionCmd(e *cliEnv, f *clientFlags, action, short string, goal svcGoal) *cobra.Command {
	var ref berth.ServiceRef
	call := map[string]func(*client.Client, context.Context, berth.ServiceRef) (*api.ServiceResult, error){
		"start": (*client.Client).StartService, "stop": (*client.Client).StopService, "restart": (*client.Client).RestartService,
	}[action]
	cmd := newActionCmd(action+" NAME", short, func(cmd *cobra.Command, name string, w waitFlags) error {
		ref.Name = name
		capability := map[string]berth.Capability{"restart": berth.CapRestart}[action]
		return svcRun(cmd, e, f, ref, w, goal, namedTargetCan(ref.Target, cmp.Or(capability, berth.CapServices),
			func(c *client.Client, ctx context.Context) (*api.ServiceResult, error) {
				return call(c, ctx, ref)
			}))
	})
	addRefFlags(cmd, &ref)
	return cmd
}

func newSvcScaleCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var ref berth.ServiceRef
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "scale NAME REPLICAS",
		Short: "Set the number of replicas",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return berth.Invalid("replicas", "must be a whole number from 0, got %q", args[1])
			}
			ref.Name = args[0]
			return svcRun(cmd, e, f, ref, w, svcReady, namedTargetCan(ref.Target, berth.CapScale,
				func(c *client.Client, ctx context.Context) (*api.ServiceResult, error) {
					return c.ScaleService(ctx, ref, n)
				}))
		},
	}
	addRefFlags(cmd, &ref)
	addWaitFlags(cmd, &w)
	return cmd
}

func newSvcRollbackCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var ref berth.ServiceRef
	var revision int
	cmd := newActionCmd("rollback NAME", "Roll back to a stored revision (default: the previous one)", func(cmd *cobra.Command, name string, w waitFlags) error {
		ref.Name = name
		return svcRun(cmd, e, f, ref, w, svcReady, namedTargetCan(ref.Target, berth.CapRollback,
			func(c *client.Client, ctx context.Context) (*api.ServiceResult, error) {
				return c.RollbackService(ctx, ref, revision)
			}))
	})
	cmd.Flags().IntVar(&revision, "revision", 0, "revision to roll back to (default: the previous one)")
	addRefFlags(cmd, &ref)
	return cmd
}

func newSvcRevisionsCmd(e *cliEnv, f *clientFlags) *cobra.Command {
	var ref berth.ServiceRef
	cmd := &cobra.Command{
		Use:     "revisions NAME",
		Aliases: []string{"history"},
		Short:   "List the stored revisions of a service",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref.Name = args[0]
			return f.call(cmd, e, func(ctx context.Context, c *client.Client) (func() error, error) {
				revs, err := c.ListRevisions(ctx, ref)
				if err != nil {
					return nil, err
				}
				return func() error {
					t := newTable(e.stdout, "REVISION", "CAUSE", "AUTHOR", "AGE")
					for _, r := range revs {
						t.row(itoa(r.Number), r.Cause, r.Author, age(r.CreatedAt))
					}
					return t.flush()
				}, nil
			})
		},
	}
	addRefFlags(cmd, &ref)
	return cmd
}
