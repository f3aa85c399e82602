-- Saved audiences: a marketer's definition, primary data kept beside
-- sources and users.
CREATE TABLE audiences (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    expression TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
