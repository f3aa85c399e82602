-- Profiles: one row per person; doc holds traits, channels and intents as JSON.
-- An absorbed profile keeps its row with merged_into set to the survivor
-- (always the current one: merges repoint earlier absorptions).
CREATE TABLE profiles (
    id           TEXT PRIMARY KEY,
    created_seq  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    merged_into  TEXT,
    search1      TEXT,              -- "first last", lower-cased
    search2      TEXT,              -- "last first"
    doc          BLOB NOT NULL
);
CREATE INDEX profiles_merged_into ON profiles (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX profiles_search1 ON profiles (search1) WHERE search1 IS NOT NULL;
CREATE INDEX profiles_search2 ON profiles (search2) WHERE search2 IS NOT NULL;

-- The identity graph: which current profile holds each identifier, and the
-- event that linked it. After a unique conflict one identifier may sit on
-- two profiles.
CREATE TABLE identifiers (
    type        TEXT NOT NULL,
    value       TEXT NOT NULL,
    profile_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    message_id  TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (type, value, profile_id)
) WITHOUT ROWID;
CREATE INDEX identifiers_profile ON identifiers (profile_id);

-- Each profile's timeline, newest first by event time.
CREATE TABLE timeline (
    profile_id  TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    warnings    TEXT,
    PRIMARY KEY (profile_id, ts, seq)
) WITHOUT ROWID;

CREATE TABLE merges (
    id          TEXT PRIMARY KEY,
    survivor    TEXT NOT NULL,
    absorbed    TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    message_id  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    undone_at   INTEGER
);
CREATE INDEX merges_survivor ON merges (survivor);
CREATE INDEX merges_absorbed ON merges (absorbed);

-- Conflicts, listed under every profile involved.
CREATE TABLE conflicts (
    profile_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    message_id  TEXT NOT NULL,
    profiles    TEXT NOT NULL,          -- space-separated ids
    reason      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (profile_id, seq, profiles)  -- one event may raise several conflicts
) WITHOUT ROWID;

-- Pairs of profiles an undone merge keeps apart.
CREATE TABLE do_not_link (
    a          TEXT NOT NULL,
    b          TEXT NOT NULL,
    merge_id   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;

-- Processor cursors: the last event each processor applied.
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
);
