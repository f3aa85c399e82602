-- Profiles: one row per person; doc holds traits, channels and intents as
-- the JSON the embedded store writes, kept as bytes: jsonb cannot hold
-- \u0000, which a client may send in a trait.
-- An absorbed profile keeps its row with merged_into set to the survivor
-- (always the current one: merges repoint earlier absorptions).
-- A profile's row is also its lock: every change to the profile, its
-- identifiers, timeline or conflicts happens under SELECT ... FOR UPDATE of
-- it (see profiles.go for the order locks are taken in).
CREATE TABLE profiles (
    id           TEXT COLLATE "C" PRIMARY KEY,
    created_seq  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    merged_into  TEXT COLLATE "C",
    search1      TEXT COLLATE "C",      -- "first last", lower-cased
    search2      TEXT COLLATE "C",      -- "last first"
    doc          BYTEA NOT NULL
);
CREATE INDEX profiles_merged_into ON profiles (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX profiles_search1 ON profiles (search1) WHERE search1 IS NOT NULL;
CREATE INDEX profiles_search2 ON profiles (search2) WHERE search2 IS NOT NULL;

-- The identity graph: which current profile holds each identifier, and the
-- event that linked it. After a unique conflict one identifier may sit on
-- two profiles. Values are bytes, compared bytewise: an identifier is an
-- opaque key, and text could not hold every value a client may send.
CREATE TABLE identifiers (
    type        TEXT COLLATE "C" NOT NULL,
    value       BYTEA NOT NULL,
    profile_id  TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    message_id  TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (type, value, profile_id)
);
CREATE INDEX identifiers_profile ON identifiers (profile_id);

-- One row per identifier ever claimed: the row two transactions lock when
-- both would link an identifier no profile held yet, so that the second
-- sees the first's link instead of creating a second person.
CREATE TABLE identity_keys (
    type   TEXT COLLATE "C" NOT NULL,
    value  BYTEA NOT NULL,
    PRIMARY KEY (type, value)
);

-- Each profile's timeline, newest first by event time.
CREATE TABLE timeline (
    profile_id  TEXT COLLATE "C" NOT NULL,
    ts          BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    warnings    TEXT,                   -- a JSON array, NULL when none
    PRIMARY KEY (profile_id, ts, seq)
);

CREATE TABLE merges (
    id          TEXT COLLATE "C" PRIMARY KEY,
    survivor    TEXT COLLATE "C" NOT NULL,
    absorbed    TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    message_id  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    undone_at   BIGINT
);
CREATE INDEX merges_survivor ON merges (survivor);
CREATE INDEX merges_absorbed ON merges (absorbed);

-- Conflicts, listed under every profile involved.
CREATE TABLE conflicts (
    profile_id  TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    message_id  TEXT NOT NULL,
    profiles    TEXT COLLATE "C" NOT NULL,  -- space-separated ids
    reason      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (profile_id, seq, profiles)  -- one event may raise several conflicts
);

-- Pairs of profiles an undone merge keeps apart.
CREATE TABLE do_not_link (
    a          TEXT COLLATE "C" NOT NULL,
    b          TEXT COLLATE "C" NOT NULL,
    merge_id   TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (a, b)
);

-- Processor cursors: the last event each processor applied. Process locks
-- its cursor's row first, so processors of one cursor on several nodes
-- take turns.
CREATE TABLE cursors (
    name  TEXT COLLATE "C" PRIMARY KEY,
    seq   BIGINT NOT NULL
);
