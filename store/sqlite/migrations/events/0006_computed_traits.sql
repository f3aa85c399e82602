-- Computed traits: a definition per aggregate; each profile's running
-- state lives in its document.
CREATE TABLE computed_traits (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    function   TEXT NOT NULL,
    event      TEXT NOT NULL,
    property   TEXT NOT NULL DEFAULT '',
    time_window TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
