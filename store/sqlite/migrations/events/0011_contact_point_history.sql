-- Every change of a contact point, kept for ever, so that an answer of the
-- consent gate can be explained later: a contact point's status at a time
-- is its last row updated at or before it. PutContactPoint appends a row in
-- the transaction that replaces contact_points' one.
CREATE TABLE contact_point_history (
    seq        INTEGER PRIMARY KEY,      -- the order rows were put, for ties of updated_at
    profile_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    status     TEXT NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    updated_at INTEGER,                  -- unix nanoseconds; NULL for the zero time
    updated_by TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT ''
);
-- A profile's history in the order it is read: oldest first.
CREATE INDEX contact_point_history_profile ON contact_point_history (profile_id, updated_at, seq);

-- What was put before this table existed is known only as it stands: one
-- row per contact point, at the time it was last set.
INSERT INTO contact_point_history (profile_id, channel, address, status, label, updated_at, updated_by, reason)
    SELECT profile_id, channel, address, status, label, updated_at, updated_by, reason FROM contact_points
    ORDER BY updated_at, profile_id, channel, address;
