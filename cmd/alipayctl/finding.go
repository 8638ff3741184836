package main

import (
	"fmt"
	"io"
)

// finding is one diagnosis: what explains the failure and, when a variant verifies, the
// content that does.
type finding struct {
	id      string
	summary string
	detail  []string
	content string // content that verifies; empty when the finding is not a variant
	charset string // charset the content was hashed in
}

func writeFinding(w io.Writer, f finding) {
	fmt.Fprintf(w, "DIAGNOSIS [%s]: %s\n", f.id, f.summary)
	for _, d := range f.detail {
		fmt.Fprintf(w, "  %s\n", d)
	}
	if f.content != "" {
		fmt.Fprintf(w, "  content that verifies (%s):\n%s\n", f.charset, f.content)
	}
}
