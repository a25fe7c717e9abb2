-- Rebooking proposals, the booking engine's seat holds and idempotency
-- records, and the transactional outbox of events to publish.

CREATE TABLE proposals (
    id              TEXT PRIMARY KEY,
    locator         TEXT    NOT NULL,
    flight          TEXT    NOT NULL, -- the disrupting flight
    reason          TEXT    NOT NULL,
    rank            INTEGER NOT NULL, -- order of service under the priority rules
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'executed', 'rejected', 'failed', 'superseded')),
    need            TEXT    NOT NULL,
    options         TEXT    NOT NULL,
    chosen          TEXT    NOT NULL DEFAULT '',
    rationale       TEXT    NOT NULL DEFAULT '',
    model_rationale INTEGER NOT NULL DEFAULT 0,
    citations       TEXT    NOT NULL DEFAULT '[]',
    model           TEXT    NOT NULL DEFAULT '',
    model_digest    TEXT    NOT NULL DEFAULT '',
    prompt_hash     TEXT    NOT NULL DEFAULT '',
    log_offset      INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,
    decided_by      TEXT    NOT NULL DEFAULT '',
    decided_at      TEXT    NOT NULL DEFAULT '',
    decision_reason TEXT    NOT NULL DEFAULT '',
    replaced_by     TEXT    NOT NULL DEFAULT '',
    fingerprint     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX proposals_flight_status ON proposals (flight, status);
CREATE INDEX proposals_locator ON proposals (locator, status);

-- Seats taken by executed rebookings whose booking change the state has
-- not applied yet; a hold ends when the booking's state is at least as new.
CREATE TABLE seat_holds (
    proposal_id TEXT    NOT NULL,
    locator     TEXT    NOT NULL,
    flight_key  TEXT    NOT NULL,
    cabin       TEXT    NOT NULL,
    seats       INTEGER NOT NULL,
    event_time  TEXT    NOT NULL,
    PRIMARY KEY (proposal_id, flight_key)
) STRICT;
CREATE INDEX seat_holds_flight ON seat_holds (flight_key, cabin);

CREATE TABLE executions (
    idempotency_key TEXT PRIMARY KEY,
    proposal_id     TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    detail          TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

-- Events produced by a transaction, published to the log afterwards with
-- ids fixed here, so a crash in between publishes them once.
CREATE TABLE outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    event TEXT NOT NULL
) STRICT;
