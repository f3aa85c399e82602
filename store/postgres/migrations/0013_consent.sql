-- Consent decisions, contact points and relationships: primary data (a
-- person's word, an address they gave) that profiles do not derive.

-- Every consent decision, kept for ever: a later decision is a new row.
-- AppendConsents inserts with ON CONFLICT (id) DO NOTHING, so of two nodes
-- appending one record, the second's INSERT waits for the first's commit
-- and then writes nothing.
CREATE TABLE consent_records (
    id          TEXT COLLATE "C" PRIMARY KEY,
    profile_id  TEXT COLLATE "C" NOT NULL,
    purpose     TEXT COLLATE "C" NOT NULL,
    channel     TEXT COLLATE "C" NOT NULL,
    address     TEXT COLLATE "C" NOT NULL DEFAULT '',
    state       TEXT COLLATE "C" NOT NULL,
    basis       TEXT COLLATE "C" NOT NULL DEFAULT '',
    decided_at  BIGINT,                    -- unix nanoseconds; NULL for the zero time
    recorded_at BIGINT,
    via         TEXT COLLATE "C" NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    wording     TEXT NOT NULL DEFAULT ''
);
-- A profile's decisions in the order they are read: oldest recorded first
-- (the zero time, stored as NULL, before any other).
CREATE INDEX consent_records_profile ON consent_records (profile_id, recorded_at NULLS FIRST, id);

-- Addresses a person can be reached at, one row per profile, channel and
-- address; a new status replaces the old.
CREATE TABLE contact_points (
    profile_id TEXT COLLATE "C" NOT NULL,
    channel    TEXT COLLATE "C" NOT NULL,
    address    TEXT COLLATE "C" NOT NULL,
    status     TEXT COLLATE "C" NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    updated_at BIGINT,
    updated_by TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (profile_id, channel, address)
);

-- Relationships between two profiles of one household, one per (from, to,
-- kind); read from either end.
CREATE TABLE relationships (
    from_id   TEXT COLLATE "C" NOT NULL,
    to_id     TEXT COLLATE "C" NOT NULL,
    kind      TEXT COLLATE "C" NOT NULL,
    household TEXT NOT NULL DEFAULT '',
    recipient BOOLEAN NOT NULL DEFAULT FALSE,
    since     BIGINT,
    set_by    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (from_id, to_id, kind)
);
CREATE INDEX relationships_to ON relationships (to_id, from_id, kind);
