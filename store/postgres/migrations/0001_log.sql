-- Times are BIGINT Unix nanoseconds, as in the embedded store: round trips
-- are exact and every time from 1678 to 2262 fits.
--
-- Names that are compared or sorted use COLLATE "C" (byte order, as SQLite's
-- BINARY does), whatever the database's default collation: prefix searches
-- and list orders must not depend on the server's locale.

-- Sources: channels that send events, each with a write key.
CREATE TABLE sources (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    write_key   TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT                     -- NULL while active
);

-- Secret API keys; only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    scopes      TEXT[] NOT NULL,
    hash        BYTEA NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- The event log. seq is taken from events_seq by the append transaction
-- while it holds the log's advisory lock, so seq order is commit order and
-- a reader following seq never skips an event that commits later. A
-- sequence, unlike max(seq)+1, never hands out a number twice, even after
-- the newest events are erased.
CREATE SEQUENCE events_seq AS BIGINT;
CREATE TABLE events (
    seq                 BIGINT PRIMARY KEY,
    source_id           TEXT COLLATE "C" NOT NULL,
    message_id          TEXT COLLATE "C" NOT NULL,
    type                TEXT NOT NULL,
    channel             TEXT NOT NULL,
    user_id             TEXT NOT NULL DEFAULT '',
    anonymous_id        TEXT NOT NULL DEFAULT '',
    timestamp           BIGINT NOT NULL,   -- corrected event time
    original_timestamp  BIGINT,
    sent_at             BIGINT,
    received_at         BIGINT NOT NULL,
    payload             BYTEA NOT NULL,    -- the message exactly as sent
    -- messageId dedupe: one event per (source, messageId), for as long as
    -- the event is in the log.
    CONSTRAINT events_message UNIQUE (source_id, message_id)
);
