package chat

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/chat.md's intent table")

const (
	docPath    = "../docs/chat.md"
	tableBegin = "<!-- intents: generated from chat.Intents by go test ./chat -run TestDocs -update -->\n"
	tableEnd   = "<!-- end of intents -->"
)

// TestDocs: docs/chat.md shows the intent table as it is.
func TestDocs(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no intent table between %q and %q", docPath, tableBegin, tableEnd)
	}
	want := doc[:i+len(tableBegin)] + MarkdownTable() + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's intent table is not the table of chat.Intents: run go test ./chat -run TestDocs -update", docPath)
}
