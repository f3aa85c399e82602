-- The probabilistic matcher's pairs and the decisions on them: primary data
-- (a steward's word). The evidence is kept as the bytes the matcher wrote,
-- as other JSON is. DecideMatchPair is one conditional UPDATE (WHERE id
-- AND status), so of two stewards on two nodes deciding one pair, the
-- second's UPDATE waits for the first's row lock, then finds the status
-- moved on and changes nothing.
CREATE TABLE match_pairs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    left_id     TEXT COLLATE "C" NOT NULL,
    right_id    TEXT COLLATE "C" NOT NULL,
    probability DOUBLE PRECISION NOT NULL,
    evidence    BYTEA NOT NULL,
    status      TEXT COLLATE "C" NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    decided_at  BIGINT,
    decided_by  TEXT NOT NULL DEFAULT '',
    merge_event TEXT NOT NULL DEFAULT ''
);
-- The review queue: a status's pairs, most probable first.
CREATE INDEX match_pairs_status ON match_pairs (status, probability DESC, id);
-- All pairs, most probable first.
CREATE INDEX match_pairs_probability ON match_pairs (probability DESC, id);
