-- Consent decisions, contact points and relationships: primary data (a
-- person's word, an address they gave), kept in the fsync'd database
-- beside sources and users rather than with what is derived from the log.

-- Every consent decision, kept for ever: a later decision is a new row, and
-- a record whose id is held is not written again.
CREATE TABLE consent_records (
    id          TEXT PRIMARY KEY,
    profile_id  TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    basis       TEXT NOT NULL DEFAULT '',
    decided_at  INTEGER,                   -- unix nanoseconds; NULL for the zero time
    recorded_at INTEGER,
    via         TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    wording     TEXT NOT NULL DEFAULT ''
);
-- A profile's decisions in the order they are read: oldest recorded first.
CREATE INDEX consent_records_profile ON consent_records (profile_id, recorded_at, id);

-- Addresses a person can be reached at, one row per profile, channel and
-- address; a new status replaces the old.
CREATE TABLE contact_points (
    profile_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    status     TEXT NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    updated_at INTEGER,
    updated_by TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (profile_id, channel, address)
) WITHOUT ROWID;

-- Relationships between two profiles of one household, one per (from, to,
-- kind); read from either end.
CREATE TABLE relationships (
    from_id   TEXT NOT NULL,
    to_id     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    household TEXT NOT NULL DEFAULT '',
    recipient INTEGER NOT NULL DEFAULT 0,
    since     INTEGER,
    set_by    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (from_id, to_id, kind)
) WITHOUT ROWID;
CREATE INDEX relationships_to ON relationships (to_id, from_id, kind);
