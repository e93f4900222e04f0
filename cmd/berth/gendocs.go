package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenDocsCmd writes man pages and shell completions generated from the
// command tree, for the .deb and .rpm (`make package`). Hidden: packagers
// use it, people do not.
func newGenDocsCmd(e *cliEnv) *cobra.Command {
	var man, completions string
	cmd := &cobra.Command{
		Use:    "gendocs",
		Short:  "Write man pages and shell completions generated from berth's commands",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			root.DisableAutoGenTag = true // the pages do not change with the day they were built
			if man != "" {
				if err := os.MkdirAll(man, 0o750); err != nil {
					return err
				}
				hdr := &doc.GenManHeader{Title: "BERTH", Section: "1", Source: "berth " + version, Manual: "berth manual"}
				if err := doc.GenManTree(root, hdr, man); err != nil {
					return fmt.Errorf("write man pages to %s: %w", man, err)
				}
			}
			if completions != "" {
				return writeCompletions(root, completions)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&man, "man", "", "directory to write section-1 man pages to")
	cmd.Flags().StringVar(&completions, "completions", "", "directory to write berth.bash, _berth (zsh) and berth.fish to")
	return cmd
}

func writeCompletions(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	gens := map[string]func(string) error{
		"berth.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
		"_berth":     root.GenZshCompletionFile,
		"berth.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
	}
	for name, gen := range gens {
		if err := gen(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("write completion %s: %w", name, err)
		}
	}
	return nil
}
