-- The offer ledger: the catalog with its versions, grants with their
-- redemptions and voids, and the outbox of ledger events waiting for the log.
CREATE TABLE offers (
    code     TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    status   TEXT NOT NULL,
    granted  INTEGER NOT NULL DEFAULT 0, -- live (not voided) grants
    redeemed INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE offer_versions (
    code       TEXT NOT NULL REFERENCES offers (code),
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL, -- the version as JSON, without status and counts
    created_at INTEGER NOT NULL,
    PRIMARY KEY (code, version)
) STRICT;

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    offer         TEXT NOT NULL REFERENCES offers (code),
    offer_version INTEGER NOT NULL,
    profile_id    TEXT NOT NULL,
    channel       TEXT NOT NULL,
    campaign      TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL DEFAULT '',
    granted_at    INTEGER NOT NULL,
    granted_by    TEXT NOT NULL DEFAULT '',
    expires_at    INTEGER NOT NULL,
    idem_key      TEXT UNIQUE,
    address_type  TEXT NOT NULL DEFAULT '', -- the identifier its events go to
    address_value TEXT NOT NULL DEFAULT '',
    redeemed_at   INTEGER,
    redemption    TEXT, -- JSON
    redeem_key    TEXT,
    voided_at     INTEGER,
    void          TEXT  -- JSON
) STRICT;

CREATE INDEX grants_profile ON grants (profile_id, offer);

CREATE TABLE offer_outbox (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    event   TEXT NOT NULL, -- JSON, without the payload
    payload BLOB NOT NULL  -- the message as sent
) STRICT;
