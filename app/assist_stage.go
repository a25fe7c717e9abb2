package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// AssistConsumer is the consumer name of the assist stage.
const AssistConsumer = "assist"

// AssistRequest is the data of an assist.requested event: a staff question
// or a request for proposals, from a site application or from central.
type AssistRequest struct {
	CorrelationID string `json:"correlation_id"`
	Kind          string `json:"kind,omitempty"` // question (default) or proposals
	Question      string `json:"question,omitempty"`
	Flight        string `json:"flight,omitempty"`
	Booking       string `json:"booking,omitempty"`
	Airport       string `json:"airport,omitempty"`
}

// AssistAnswer is the data of an assist.answered event.
type AssistAnswer struct {
	CorrelationID string     `json:"correlation_id"`
	RequestID     string     `json:"request_id"`
	Kind          string     `json:"kind"`
	Answer        *AskAnswer `json:"answer,omitempty"`
	Proposals     []string   `json:"proposals,omitempty"`
	Error         string     `json:"error,omitempty"`
}

// AssistPositions keeps the assist stage's position.
type AssistPositions interface {
	Position(ctx context.Context, consumer, topic string) (uint64, error)
	SetPosition(ctx context.Context, consumer, topic string, offset uint64, t time.Time) error
}

// AssistStage serves model requests that arrive on the log: it reads
// assist.requested events in order, answers each with the same asker and
// limits as the HTTP API, and publishes assist.answered with the request's
// correlation id. The answer's id is derived from the request's, so a
// request handled again after a crash is answered once.
type AssistStage struct {
	Log       Log
	Positions AssistPositions
	Asker     *Asker
	Proposer  *Proposer
	Logger    *slog.Logger
	Now       func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open starts the stage.
func (s *AssistStage) Open() error {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.Logger = s.Logger.With("subsystem", "assist")
	if s.Now == nil {
		s.Now = time.Now
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.run()
	return nil
}

// Close stops the stage after the request in hand.
func (s *AssistStage) Close(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	return waitGroup(ctx, &s.wg)
}

func (s *AssistStage) run() {
	defer s.wg.Done()
	f := &follower{
		stage: "assist stage", topic: TopicAssist, log: s.Log, logger: s.Logger, batch: 16,
		minBackoff: 200 * time.Millisecond, maxBackoff: 10 * time.Second,
		start: func(ctx context.Context) (uint64, error) {
			pos, err := s.Positions.Position(ctx, AssistConsumer, TopicAssist)
			if err != nil {
				return 0, fmt.Errorf("position: %w", err)
			}
			return pos, nil
		},
		// Each request is answered, then its position stored: a model
		// answer takes long, and one answered is not asked again.
		handle: func(ctx context.Context, entries []LogEntry) error {
			for _, le := range entries {
				if err := s.handle(le); err != nil {
					return err
				}
				if err := s.Positions.SetPosition(context.WithoutCancel(ctx), AssistConsumer, TopicAssist, le.Offset, le.Stored); err != nil {
					return fmt.Errorf("set position: %w", err)
				}
			}
			return nil
		},
	}
	f.run(s.ctx)
}

// handle answers one entry; answers themselves and anything else on the
// topic are passed over.
func (s *AssistStage) handle(le LogEntry) error {
	e, err := DefaultValidator().Parse(le.Data, TopicAssist)
	if err != nil || e.Type != TypeAssistRequested {
		return nil
	}
	var req AssistRequest
	if err := json.Unmarshal(e.Data, &req); err != nil {
		return nil
	}
	ans := AssistAnswer{CorrelationID: req.CorrelationID, RequestID: e.ID, Kind: req.Kind}
	switch req.Kind {
	case "", "question":
		ans.Kind = "question"
		if s.Asker == nil {
			ans.Error = "questions need the local models"
			break
		}
		a, err := s.Asker.Ask(s.ctx, AskRequest{Question: req.Question, Flight: req.Flight, Booking: req.Booking, Airport: req.Airport}, nil)
		if err != nil {
			if s.ctx.Err() != nil {
				return err // shutting down: the request is answered after the restart
			}
			ans.Error = ErrorMessage(err)
		} else {
			ans.Answer = &a
		}
	case "proposals":
		ps, err := s.Proposer.Proposals(s.ctx, ProposalFilter{Flight: req.Flight, Status: ProposalPending})
		if err != nil {
			return err
		}
		if len(ps) == 0 && req.Flight != "" {
			if ps, err = s.Proposer.PlanFlight(s.ctx, req.Flight, le.Offset); err != nil {
				ans.Error = ErrorMessage(err)
			}
		}
		for _, p := range ps {
			ans.Proposals = append(ans.Proposals, p.ID)
		}
	default:
		ans.Error = fmt.Sprintf("kind: question or proposals, got %q", req.Kind)
	}
	out, err := NewEvent("assist-answer-"+e.ID, "apron/assist", TypeAssistAnswered, e.Subject, s.Now(), ans)
	if err != nil {
		return err
	}
	if _, err := s.Log.Append(context.WithoutCancel(s.ctx), TopicAssist, []*Event{out}); err != nil {
		return err
	}
	s.Logger.Info("assist request answered", "correlation_id", req.CorrelationID, "kind", ans.Kind, "error", ans.Error)
	return nil
}
