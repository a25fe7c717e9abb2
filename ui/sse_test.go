package ui

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// TestSSEKeepsHostileDataInOneEvent parses what writeSSE wrote the way a
// browser does (CR, LF and CR LF all end a line) and checks that data with
// line ends of every kind stays one event with one name.
func TestSSEKeepsHostileDataInOneEvent(t *testing.T) {
	for _, data := range []string{"X\r\rdata: INJ\r", "a\r\nevent: evil\r\n\r\ndata: b", "plain", "two\nlines"} {
		var buf bytes.Buffer
		writeSSE(&buf, "row\revil", data)
		events, names := 0, 0
		sc := bufio.NewScanner(&buf)
		sc.Split(func(b []byte, atEOF bool) (int, []byte, error) {
			if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
				if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
					return i + 2, b[:i], nil
				}
				return i + 1, b[:i], nil
			}
			if atEOF && len(b) > 0 {
				return len(b), b, nil
			}
			return 0, nil, nil
		})
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				events++
			case strings.HasPrefix(line, "event:"):
				names++
			case !strings.HasPrefix(line, "data: "):
				t.Fatalf("%q: stray line %q", data, line)
			}
		}
		if events != 1 || names != 1 {
			t.Fatalf("%q: %d events, %d names; want 1 and 1:\n%q", data, events, names, buf.String())
		}
	}
}
