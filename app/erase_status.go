package app

import (
	"context"
	"encoding/json"
	"sort"
	"time"
)

// Erasure states on the admin page.
const (
	ErasureRunning   = "in progress"
	ErasureCompleted = "completed"
)

// ErasureStatus is one erasure as the admin page shows it: running (the
// eraser is at it now) or completed (its audit event is in the log).
// Like the audit record it names neither the person nor their bookings.
type ErasureStatus struct {
	Erasure     string         `json:"erasure"`
	State       string         `json:"state"`
	RequestedBy string         `json:"requested_by"`
	RequestedAt time.Time      `json:"requested_at"`
	StartedAt   time.Time      `json:"started_at,omitzero"`
	Report      *ErasureReport `json:"report,omitempty"`
}

// RequestedByAttr is the CloudEvents extension attribute in which the
// ingest API records who sent a passenger.erased: the authenticated
// user, whatever the event's source says. The node trusts it only on an
// entry it sealed itself and that did not come from Kafka.
const RequestedByAttr = "apronrequestedby"

// RequestedByUnknown stands for the requester of an erasure that came
// in without an authenticated user (a NATS client).
const RequestedByUnknown = "unauthenticated (not through the API)"

func (e *Eraser) track(rep ErasureReport, start time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running == nil {
		e.running = map[string]ErasureStatus{}
	}
	e.running[rep.Erasure] = ErasureStatus{Erasure: rep.Erasure, State: ErasureRunning, RequestedBy: rep.RequestedBy, RequestedAt: rep.RequestedAt, StartedAt: start}
}

func (e *Eraser) untrack(ref string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, ref)
}

// Erasures returns the erasures running now and those the audit topic
// records as completed, the latest first.
func (e *Eraser) Erasures(ctx context.Context) ([]ErasureStatus, error) {
	var out []ErasureStatus
	done := map[string]bool{}
	err := e.Erase.Entries(ctx, TopicAudit, "", func(le LogEntry) error {
		ev, err := ParseTrusted(le.Data)
		if err != nil || ev.Type != TypeErasureCompleted {
			return nil
		}
		var rep ErasureReport
		if json.Unmarshal(ev.Data, &rep) != nil || done[rep.Erasure] {
			return nil
		}
		done[rep.Erasure] = true
		out = append(out, ErasureStatus{Erasure: rep.Erasure, State: ErasureCompleted, RequestedBy: rep.RequestedBy, RequestedAt: rep.RequestedAt, Report: &rep})
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	for _, st := range e.running {
		if !done[st.Erasure] {
			out = append(out, st)
		}
	}
	e.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].RequestedAt.After(out[j].RequestedAt) })
	return out, nil
}

// WithRequestedBy returns e with RequestedByAttr set to by, replacing
// whatever the sender put there.
func WithRequestedBy(e *Event, by string) (*Event, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(e.Raw, &env); err != nil {
		return nil, Errorf(EINVALID, "event %q: %v", e.ID, err)
	}
	env[RequestedByAttr], _ = json.Marshal(by)
	raw, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	out := *e
	out.Raw = raw
	return &out, nil
}
