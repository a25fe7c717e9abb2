package app

import (
	"encoding/json"
	"time"
)

// Flight statuses.
const (
	FlightScheduled = "scheduled"
	FlightBoarding  = "boarding"
	FlightDeparted  = "departed"
	FlightArrived   = "arrived"
	FlightDelayed   = "delayed"
	FlightCancelled = "cancelled"
	FlightDiverted  = "diverted"
)

// Flight is the current record of one flight on one local departure date.
// Its key is carrier + number + "-" + date, e.g. LH400-2026-11-25.
type Flight struct {
	Flight             string         `json:"flight"`
	Carrier            string         `json:"carrier"`
	Number             string         `json:"number"`
	Date               string         `json:"date"`
	Origin             string         `json:"origin"`
	Destination        string         `json:"destination"`
	ScheduledDeparture time.Time      `json:"scheduled_departure"`
	ScheduledArrival   time.Time      `json:"scheduled_arrival"`
	EstimatedDeparture *time.Time     `json:"estimated_departure,omitempty"`
	EstimatedArrival   *time.Time     `json:"estimated_arrival,omitempty"`
	Status             string         `json:"status"`
	DivertedTo         string         `json:"diverted_to,omitempty"`
	Gate               string         `json:"gate,omitempty"`
	Aircraft           string         `json:"aircraft,omitempty"`
	Capacity           map[string]int `json:"capacity,omitempty"`
}

// FlightKey returns the key of a flight: carrier+number-date.
func FlightKey(carrier, number, date string) string { return carrier + number + "-" + date }

// Departure returns the best known departure time.
func (f *Flight) Departure() time.Time {
	if f.EstimatedDeparture != nil {
		return *f.EstimatedDeparture
	}
	return f.ScheduledDeparture
}

// Arrival returns the best known arrival time.
func (f *Flight) Arrival() time.Time {
	if f.EstimatedArrival != nil {
		return *f.EstimatedArrival
	}
	return f.ScheduledArrival
}

// DelayMinutes returns the departure delay in whole minutes (0 if on time).
func (f *Flight) DelayMinutes() int {
	d := f.Departure().Sub(f.ScheduledDeparture)
	if d <= 0 {
		return 0
	}
	return int(d / time.Minute)
}

// Booking statuses.
const (
	BookingActive    = "active"
	BookingCancelled = "cancelled"
)

// Booking is a passenger name record.
type Booking struct {
	Locator    string             `json:"locator"`
	Status     string             `json:"status"`
	Passengers []BookingPassenger `json:"passengers"`
	Segments   []Segment          `json:"segments"`
}

// BookingPassenger is a traveller as listed on a booking.
type BookingPassenger struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Tier string   `json:"tier,omitempty"`
	SSR  []string `json:"ssr,omitempty"`
}

// Segment is one flight of a booking's itinerary.
type Segment struct {
	Flight string `json:"flight"`
	Cabin  string `json:"cabin"`
	Seat   string `json:"seat,omitempty"`
}

// Passenger is a person's profile.
type Passenger struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Tier     string   `json:"tier,omitempty"`
	SSR      []string `json:"ssr,omitempty"`
	Language string   `json:"language,omitempty"`
}

// Document is a policy or procedure text.
type Document struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Tags      []string   `json:"tags,omitempty"`
	Airport   string     `json:"airport,omitempty"`
	ValidFrom *time.Time `json:"valid_from,omitempty"`
	ValidTo   *time.Time `json:"valid_to,omitempty"`
}

// Version identifies which event an entity's state reflects. Newer state
// wins by event time; events with equal times are ordered by log offset.
// See docs/decisions/0003-ordering-of-late-events.md.
type Version struct {
	EventID   string    `json:"event_id"`
	EventTime time.Time `json:"event_time"`
	Offset    uint64    `json:"offset"`
}

// Newer reports whether v should replace cur.
func (v Version) Newer(cur Version) bool {
	if !v.EventTime.Equal(cur.EventTime) {
		return v.EventTime.After(cur.EventTime)
	}
	return v.Offset > cur.Offset
}

// FlightRecord is a flight with the version its state reflects.
type FlightRecord struct {
	Flight
	Version Version `json:"version"`
}

// BookingRecord is a booking with its version.
type BookingRecord struct {
	Booking
	Version Version `json:"version"`
}

// PassengerRecord is a passenger with its version.
type PassengerRecord struct {
	Passenger
	Version Version `json:"version"`
}

// DocumentRecord is a document with its version.
type DocumentRecord struct {
	Document
	Version Version `json:"version"`
}

// FlightFilter selects flights. Empty fields match anything.
type FlightFilter struct {
	Designator string // carrier + number, e.g. LH400: that flight on every date
	Airport    string // origin or destination
	Date       string
	Status     string
	Limit      int
	After      *FlightCursor // only flights after this position (a page's cursor)
}

// DecodeData unmarshals an event's data into v.
func DecodeData(e *Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return Errorf(EINVALID, "data: %v", err)
	}
	return nil
}
