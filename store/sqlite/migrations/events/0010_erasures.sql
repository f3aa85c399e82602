-- Erasures: what is left of a person who asked to be forgotten. It names
-- the profile ids they had and how much was removed, nothing about them.
CREATE TABLE erasures (
    id           TEXT PRIMARY KEY,
    profiles     TEXT NOT NULL,      -- JSON array of profile ids
    state        TEXT NOT NULL,      -- pending, done
    reason       TEXT NOT NULL DEFAULT '',
    by           TEXT NOT NULL DEFAULT '',
    requested_at INTEGER NOT NULL,
    completed_at INTEGER,
    removed      TEXT NOT NULL       -- JSON counts
);
CREATE INDEX erasures_requested ON erasures (requested_at);
