-- Preference links: the key that signs them (one row, made once at
-- random), and per profile the time before which its links are revoked.
CREATE TABLE link_keys (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BYTEA NOT NULL
);
CREATE TABLE link_revocations (
    profile_id TEXT COLLATE "C" PRIMARY KEY,
    before     BIGINT NOT NULL
);
