package app

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// A cursor is where a list stopped: the sort key of its last item, opaque
// to clients (base64url JSON), so that the next page starts after it even
// when rows were added in between.

// EncodeCursor returns the cursor for key.
func EncodeCursor(key any) string {
	b, _ := json.Marshal(key)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by EncodeCursor into key. Returns
// EINVALID naming the cursor field.
func DecodeCursor(s string, key any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, key) != nil {
		return Errorf(EINVALID, "cursor: not a cursor this node gave out (take it from the previous page's next link)")
	}
	return nil
}

// FlightCursor is the position in a list of flights, which is ordered by
// departure (estimated, else scheduled) and key.
type FlightCursor struct {
	Departure string `json:"d"` // RFC 3339, UTC
	Key       string `json:"k"`
}

// FlightCursorAfter is the cursor after f.
func FlightCursorAfter(f *Flight) FlightCursor {
	return FlightCursor{Departure: f.Departure().UTC().Format(time.RFC3339Nano), Key: f.Flight}
}

// ProposalCursor is the position in a list of proposals, which is ordered
// by disrupting flight, rank and id.
type ProposalCursor struct {
	Flight string `json:"f"`
	Rank   int    `json:"r"`
	ID     string `json:"i"`
}

// ProposalCursorAfter is the cursor after p.
func ProposalCursorAfter(p *Proposal) ProposalCursor {
	return ProposalCursor{Flight: p.Flight, Rank: p.Rank, ID: p.ID}
}
