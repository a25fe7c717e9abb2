package app

import (
	"regexp"
	"strings"
)

// AskRequest is a staff question with an optional scope.
type AskRequest struct {
	Question string `json:"question"`
	Flight   string `json:"flight,omitempty"`  // flight key or number, e.g. LH400
	Booking  string `json:"booking,omitempty"` // record locator
	Airport  string `json:"airport,omitempty"` // IATA code
}

// Validate names the first bad field.
func (r *AskRequest) Validate() error {
	r.Question = strings.TrimSpace(r.Question)
	if r.Question == "" || len(r.Question) > 1000 {
		return Errorf(EINVALID, "question: 1 to 1000 characters")
	}
	if r.Airport != "" && !reIATACode.MatchString(r.Airport) {
		return Errorf(EINVALID, "airport: a three-letter IATA code, got %q", r.Airport)
	}
	if r.Booking != "" && !reLocatorCode.MatchString(r.Booking) {
		return Errorf(EINVALID, "booking: a six-character record locator, got %q", r.Booking)
	}
	return nil
}

var (
	reIATACode    = regexp.MustCompile(`^[A-Z]{3}$`)
	reLocatorCode = regexp.MustCompile(`^[A-Z0-9]{6}$`)
)
