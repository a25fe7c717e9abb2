package ui

import (
	"io"
	"strings"
)

// sseLines splits at every line end a server-sent event stream knows: CR
// LF, a lone CR and a lone LF. Splitting at LF alone let a CR in the data
// (a gate "X\r\rdata: INJ") end the field and start forged ones.
var sseLines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// writeSSE writes one server-sent event; every line of data becomes its
// own data field, so nothing in data can end the event or add a field.
func writeSSE(w io.Writer, event, data string) {
	event = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, event)
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	for _, line := range strings.Split(sseLines.Replace(data), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}
