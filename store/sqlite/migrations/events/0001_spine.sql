-- Sources: channels that send events, each with a write key.
CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    write_key   TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,          -- unix nanoseconds
    revoked_at  INTEGER                    -- NULL while active
);

-- Secret API keys; only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,             -- space-separated
    hash        BLOB NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- The event log. seq is the rowid: assigned in commit order by the single
-- writer, so a reader's cursor never skips an event committed later.
CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY,
    source_id           TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    type                TEXT NOT NULL,
    channel             TEXT NOT NULL,
    user_id             TEXT NOT NULL DEFAULT '',
    anonymous_id        TEXT NOT NULL DEFAULT '',
    timestamp           INTEGER NOT NULL,  -- corrected event time, unix nanoseconds
    original_timestamp  INTEGER,
    sent_at             INTEGER,
    received_at         INTEGER NOT NULL,
    payload             BLOB NOT NULL      -- the message as sent
);

-- messageId dedupe: one event per (source, messageId), for as long as the
-- event is in the log.
CREATE UNIQUE INDEX events_message ON events (source_id, message_id);
