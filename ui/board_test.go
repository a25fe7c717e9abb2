package ui

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBoardRendersHostileDataInert(t *testing.T) {
	v := BoardView{Hub: "FRA", Date: "2026-11-25", Zone: "CET", AsOf: "08:00:00", Disrupted: 1,
		Departures: []BoardRow{{Key: `LH400-2026-11-25"><script>`, Time: "10:00", Flight: "LH 400", Route: `to <img src=x onerror=alert(1)>`,
			Status: "cancelled", Gate: `<script>alert(1)</script>`, Disrupted: true, Passengers: 3}}}
	var buf bytes.Buffer
	if err := BoardPage(v).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, bad := range []string{"<script>alert", "<img src=x", `"><script>`} {
		if strings.Contains(html, bad) {
			t.Fatalf("hostile text rendered live: %q", bad)
		}
	}
	for _, want := range []string{`data-testid="board-row"`, "status-cancelled", "disrupted", `<script src="/static/live.js" defer>`, `data-testid="disrupted-count">1<`} {
		if !strings.Contains(html, want) {
			t.Fatalf("board lacks %q", want)
		}
	}
}

func TestEmptyBoardTellsWhatToExpect(t *testing.T) {
	var buf bytes.Buffer
	if err := BoardPage(BoardView{Hub: "FRA"}).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No flights yet") {
		t.Fatal("empty board has no guidance")
	}
}

func TestHubDropsSlowSubscribers(t *testing.T) {
	h := NewHub()
	ch, cancel := h.Subscribe()
	for i := 0; i < 1000; i++ {
		h.Publish(Update{Event: "row", Data: "x"}) // never blocks
	}
	if len(ch) != cap(ch) {
		t.Fatalf("buffered %d of %d", len(ch), cap(ch))
	}
	cancel()
	h.Close()
	if h.Len() != 0 {
		t.Fatal("subscriber left after close")
	}
}
