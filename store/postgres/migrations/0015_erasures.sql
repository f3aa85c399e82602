-- Erasures: what is left of a person who asked to be forgotten. It names
-- the profile ids they had and how much was removed, nothing about them.
CREATE TABLE erasures (
    id           TEXT COLLATE "C" PRIMARY KEY,
    profiles     TEXT[] NOT NULL,
    state        TEXT NOT NULL,      -- pending, done
    reason       TEXT NOT NULL DEFAULT '',
    by_actor     TEXT NOT NULL DEFAULT '',
    requested_at BIGINT NOT NULL,
    completed_at BIGINT,
    removed      JSONB NOT NULL
);
CREATE INDEX erasures_requested ON erasures (requested_at);
