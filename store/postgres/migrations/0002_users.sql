-- Console users; only a memory-hard hash of each password is kept.
CREATE TABLE users (
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT COLLATE "C" NOT NULL UNIQUE,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    disabled_at    BIGINT
);

-- Console sessions; only the SHA-256 of the browser's secret is kept.
CREATE TABLE sessions (
    hash        BYTEA PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    addr        TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
