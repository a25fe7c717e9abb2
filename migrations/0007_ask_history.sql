-- Every question asked of the node, by whom, and what it answered: part
-- of the site's audit trail. Not derived from the log, so a rebuild keeps
-- it (vectors.KeptTables). An erasure blanks the rows that name the person.
CREATE TABLE ask_history (
    id          INTEGER PRIMARY KEY,
    asked_at    TEXT    NOT NULL, -- the node's clock (the simulated one in a demo), UTC
    asked_by    TEXT    NOT NULL, -- a user's name, or "token:" + the API token's name
    user_id     INTEGER NOT NULL DEFAULT 0,
    token_id    INTEGER NOT NULL DEFAULT 0,
    via         TEXT    NOT NULL CHECK (via IN ('console', 'api')),
    question    TEXT    NOT NULL,
    scope       TEXT    NOT NULL DEFAULT '{}', -- the request's flight, booking, airport (JSON)
    kind        TEXT    NOT NULL DEFAULT '',
    answer      TEXT    NOT NULL DEFAULT '',
    summary     TEXT    NOT NULL DEFAULT '',
    sources     TEXT    NOT NULL DEFAULT '[]', -- JSON array of app.AskSource
    freshness   TEXT    NOT NULL DEFAULT '',
    lagging     INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    elapsed_ms  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX ask_history_by ON ask_history (asked_by, id);
