-- The search index: documents derived from state, their full text (FTS5),
-- their vectors (one vec0 table per embedding model, created at run time
-- and listed in index_models) and the embedding cache.

-- One row per entity the index has seen; a row without documents is a
-- tombstone (cancelled, erased, deleted) so that a late older event cannot
-- bring the documents back.
CREATE TABLE index_entities (
    kind       TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    event_time TEXT    NOT NULL,
    log_offset INTEGER NOT NULL,
    log_time   TEXT    NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0,
    source     BLOB, -- the record the documents came from (bookings), for re-derivation after an erasure
    PRIMARY KEY (kind, key)
) STRICT;

-- rowid is shared with docs_fts and every vec_* table.
CREATE TABLE index_docs (
    rowid      INTEGER PRIMARY KEY,
    doc_id     TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    entity_key TEXT    NOT NULL,
    airports   TEXT    NOT NULL DEFAULT '', -- space separated IATA codes
    date       TEXT    NOT NULL DEFAULT '',
    title      TEXT    NOT NULL DEFAULT '',
    text       TEXT    NOT NULL,
    text_hash  TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    event_time TEXT    NOT NULL,
    log_offset INTEGER NOT NULL,
    log_time   TEXT    NOT NULL
) STRICT;
CREATE INDEX index_docs_entity ON index_docs (kind, entity_key);
CREATE INDEX index_docs_key ON index_docs (entity_key);
CREATE INDEX index_docs_hash ON index_docs (text_hash);
CREATE INDEX index_docs_kind_date ON index_docs (kind, date);

CREATE TABLE index_doc_airports (
    airport   TEXT    NOT NULL,
    doc_rowid INTEGER NOT NULL,
    PRIMARY KEY (airport, doc_rowid)
) STRICT, WITHOUT ROWID;

-- Which entities carry which person, so that an erasure finds them.
CREATE TABLE index_people (
    passenger_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    PRIMARY KEY (passenger_id, kind, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX index_people_entity ON index_people (kind, key);

CREATE TABLE index_erasures (
    passenger_id TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- Full text keeps its own copy of the text (not external content), so a
-- delete needs only the rowid.
CREATE VIRTUAL TABLE docs_fts USING fts5(title, text, tokenize = 'porter unicode61 remove_diacritics 2');

-- Vectors by (model digest, text hash): a text is embedded once per model.
CREATE TABLE embed_cache (
    model_digest TEXT NOT NULL,
    text_hash    TEXT NOT NULL,
    vector       BLOB NOT NULL, -- little-endian float32, as sqlite-vec reads it
    PRIMARY KEY (model_digest, text_hash)
) STRICT, WITHOUT ROWID;

-- One vec0 table per model and dimension, named vec_<first 8 hex of digest>.
-- Queries use the active model. A new model fills its table as a shadow
-- while the active one serves, and becomes active in one transaction once
-- every document has its vector; the old one is then retired.
CREATE TABLE index_models (
    digest     TEXT PRIMARY KEY,
    name       TEXT    NOT NULL,
    dim        INTEGER NOT NULL,
    vec_table  TEXT    NOT NULL UNIQUE,
    state      TEXT    NOT NULL CHECK (state IN ('active', 'shadow', 'retired')),
    created_at TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX index_models_one_active ON index_models (state) WHERE state = 'active';
