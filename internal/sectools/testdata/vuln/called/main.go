// Command called calls language.Parse, a vulnerable function of
// golang.org/x/text v0.3.6 (GO-2021-0113).
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tag, err := language.Parse(os.Args[1])
	fmt.Println(tag, err)
}
