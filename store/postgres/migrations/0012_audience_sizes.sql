-- Each audience's size at moments the audience engine recorded it, for the
-- console's chart of sizes over time. One row per audience and moment: a
-- second recording of the same moment, from any node, keeps the first.
CREATE TABLE audience_sizes (
    audience_id TEXT COLLATE "C" NOT NULL,
    at          BIGINT NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (audience_id, at)
);
