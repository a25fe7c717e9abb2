-- Proposals can expire (every option stopped being bookable and nothing
-- replaces them), carry the version of the rebooking rules they were
-- planned under, and record which option a person approved and whether it
-- was the proposed one. SQLite cannot change a CHECK constraint in place,
-- so the table is rebuilt with the same rows.
CREATE TABLE proposals_new (
    id                TEXT PRIMARY KEY,
    locator           TEXT    NOT NULL,
    flight            TEXT    NOT NULL, -- the disrupting flight
    reason            TEXT    NOT NULL,
    rank              INTEGER NOT NULL, -- order of service under the priority rules
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'executed', 'rejected', 'failed', 'superseded', 'expired')),
    need              TEXT    NOT NULL,
    options           TEXT    NOT NULL,
    chosen            TEXT    NOT NULL DEFAULT '',
    rationale         TEXT    NOT NULL DEFAULT '',
    model_rationale   INTEGER NOT NULL DEFAULT 0,
    citations         TEXT    NOT NULL DEFAULT '[]',
    model             TEXT    NOT NULL DEFAULT '',
    model_digest      TEXT    NOT NULL DEFAULT '',
    prompt_hash       TEXT    NOT NULL DEFAULT '',
    log_offset        INTEGER NOT NULL,
    created_at        TEXT    NOT NULL,
    decided_by        TEXT    NOT NULL DEFAULT '',
    decided_at        TEXT    NOT NULL DEFAULT '',
    decision_reason   TEXT    NOT NULL DEFAULT '',
    replaced_by       TEXT    NOT NULL DEFAULT '',
    fingerprint       TEXT    NOT NULL DEFAULT '',
    rules_version     TEXT    NOT NULL DEFAULT '',
    approved_option   TEXT    NOT NULL DEFAULT '',
    approved_proposed INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO proposals_new (id, locator, flight, reason, rank, status, need, options, chosen, rationale, model_rationale, citations,
    model, model_digest, prompt_hash, log_offset, created_at, decided_by, decided_at, decision_reason, replaced_by, fingerprint)
SELECT id, locator, flight, reason, rank, status, need, options, chosen, rationale, model_rationale, citations,
    model, model_digest, prompt_hash, log_offset, created_at, decided_by, decided_at, decision_reason, replaced_by, fingerprint FROM proposals;
DROP TABLE proposals;
ALTER TABLE proposals_new RENAME TO proposals;
CREATE INDEX proposals_flight_status ON proposals (flight, status);
CREATE INDEX proposals_locator ON proposals (locator, status);

ALTER TABLE executions ADD COLUMN option_id TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN proposed INTEGER NOT NULL DEFAULT 0;
