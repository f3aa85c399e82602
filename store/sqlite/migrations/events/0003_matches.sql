-- The probabilistic matcher's pairs and the decisions on them: primary data
-- (a steward's word), kept beside sources and users rather than with what
-- is derived from the log.
CREATE TABLE match_pairs (
    id          TEXT PRIMARY KEY,
    left_id     TEXT NOT NULL,
    right_id    TEXT NOT NULL,
    probability REAL NOT NULL,
    evidence    TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    decided_by  TEXT NOT NULL DEFAULT '',
    merge_event TEXT NOT NULL DEFAULT ''
);
CREATE INDEX match_pairs_status ON match_pairs (status, probability DESC);
