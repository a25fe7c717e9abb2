-- Operational state materialised from the log. Every row records the
-- event it reflects (id, event time, log offset); see
-- docs/decisions/0003-ordering-of-late-events.md for the ordering rule.

CREATE TABLE consumer_offsets (
    consumer   TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    log_offset INTEGER NOT NULL,
    log_time   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (consumer, topic)
) STRICT;

CREATE TABLE flights (
    key                 TEXT PRIMARY KEY,
    carrier             TEXT NOT NULL,
    number              TEXT NOT NULL,
    date                TEXT NOT NULL,
    origin              TEXT NOT NULL,
    destination         TEXT NOT NULL,
    scheduled_departure TEXT NOT NULL,
    departure           TEXT NOT NULL, -- estimated, else scheduled (UTC, RFC 3339)
    arrival             TEXT NOT NULL,
    status              TEXT NOT NULL,
    gate                TEXT NOT NULL DEFAULT '',
    data                TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    event_time          TEXT NOT NULL,
    log_offset          INTEGER NOT NULL,
    log_time            TEXT NOT NULL
) STRICT;
CREATE INDEX flights_origin_date ON flights (origin, date);
CREATE INDEX flights_destination_date ON flights (destination, date);
CREATE INDEX flights_date_status ON flights (date, status);
CREATE INDEX flights_departure ON flights (departure);

CREATE TABLE bookings (
    locator    TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    data       TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_time TEXT NOT NULL,
    log_offset INTEGER NOT NULL,
    log_time   TEXT NOT NULL
) STRICT;

CREATE TABLE booking_segments (
    locator    TEXT    NOT NULL REFERENCES bookings (locator) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    flight_key TEXT    NOT NULL,
    cabin      TEXT    NOT NULL,
    seat       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (locator, idx)
) STRICT;
CREATE INDEX booking_segments_flight ON booking_segments (flight_key, cabin);

CREATE TABLE booking_passengers (
    locator      TEXT NOT NULL REFERENCES bookings (locator) ON DELETE CASCADE,
    passenger_id TEXT NOT NULL,
    PRIMARY KEY (locator, passenger_id)
) STRICT;
CREATE INDEX booking_passengers_passenger ON booking_passengers (passenger_id);

CREATE TABLE passengers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    tier       TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_time TEXT NOT NULL,
    log_offset INTEGER NOT NULL,
    log_time   TEXT NOT NULL
) STRICT;
CREATE INDEX passengers_name ON passengers (name COLLATE NOCASE);

-- An erased person leaves only this: the version of the erasure, so that
-- an older event arriving late cannot bring the person back.
CREATE TABLE passenger_erasures (
    id         TEXT PRIMARY KEY,
    event_id   TEXT NOT NULL,
    event_time TEXT NOT NULL,
    log_offset INTEGER NOT NULL
) STRICT;

CREATE TABLE documents (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    airport    TEXT NOT NULL DEFAULT '',
    deleted    INTEGER NOT NULL DEFAULT 0,
    data       TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_time TEXT NOT NULL,
    log_offset INTEGER NOT NULL,
    log_time   TEXT NOT NULL
) STRICT;
