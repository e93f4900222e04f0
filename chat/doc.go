package chat

import (
	"fmt"
	"strings"
)

// MarkdownTable is the intent table as docs/chat.md shows it (a test keeps
// the two the same; go test ./chat -run TestDocs -update rewrites it).
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| intent | for example | also understood | least role | confirm | core call |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, in := range Intents {
		confirm := "no: answers at once"
		if in.Mutating {
			confirm = "yes, audited as `" + in.Action + "`"
		}
		var also []string
		for i, p := range in.Phrases {
			if i == 4 {
				also = append(also, "…")
				break
			}
			also = append(also, "`"+p+"`")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | `%s` |\n", in.Name, strings.ReplaceAll(in.Help, "|", "/"),
			strings.ReplaceAll(strings.Join(also, ", "), "|", "\\|"), in.Role, confirm, in.Call)
	}
	return b.String()
}
