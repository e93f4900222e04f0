// Command imported imports golang.org/x/text/language (vulnerable in
// v0.3.6) but calls none of its vulnerable functions.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	fmt.Println(language.English.IsRoot())
}
