-- Preference links: the key that signs them (one row, made once at
-- random), and per profile the time before which its links are revoked.
CREATE TABLE link_keys (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
);
CREATE TABLE link_revocations (
    profile_id TEXT PRIMARY KEY,
    before     INTEGER NOT NULL
);
