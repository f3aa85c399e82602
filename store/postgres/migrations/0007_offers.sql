-- The offer ledger: the catalog with its versions, grants with their
-- redemptions and voids, and the outbox of ledger events waiting for the log.
-- JSON (a version, a redemption, a void, an event) is kept as the bytes
-- encoding/json wrote, as profile documents are.
--
-- An offer's row is the lock of its counts: a transaction that changes
-- granted or redeemed, or stores a grant of the offer, holds it (see
-- offers.go), so a budget and the per-person limit hold across nodes.
CREATE TABLE offers (
    code      TEXT COLLATE "C" PRIMARY KEY,
    version   INTEGER NOT NULL,            -- the current version
    status    TEXT NOT NULL,
    granted   INTEGER NOT NULL DEFAULT 0,  -- live (not voided) grants
    redeemed  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE offer_versions (
    code        TEXT COLLATE "C" NOT NULL REFERENCES offers (code),
    version     INTEGER NOT NULL,
    doc         BYTEA NOT NULL,            -- the version without status and counts
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (code, version)
);

-- A grant's row is the lock of its state: Redeem and VoidGrant lock it
-- (SELECT ... FOR UPDATE) before they read whether it is still held.
CREATE TABLE grants (
    id             TEXT COLLATE "C" PRIMARY KEY,
    code           TEXT COLLATE "C" NOT NULL UNIQUE,
    offer          TEXT COLLATE "C" NOT NULL REFERENCES offers (code),
    offer_version  INTEGER NOT NULL,
    profile_id     TEXT COLLATE "C" NOT NULL,
    channel        TEXT NOT NULL,
    campaign       TEXT NOT NULL DEFAULT '',
    message        TEXT NOT NULL DEFAULT '',
    granted_at     BIGINT NOT NULL,
    granted_by     TEXT NOT NULL DEFAULT '',
    expires_at     BIGINT NOT NULL,
    idem_key       TEXT COLLATE "C" UNIQUE,  -- NULL when the grant has none
    address_type   TEXT NOT NULL DEFAULT '', -- the identifier its events go to
    address_value  TEXT NOT NULL DEFAULT '',
    redeemed_at    BIGINT,
    redemption     BYTEA,
    redeem_key     TEXT,
    voided_at      BIGINT,
    void           BYTEA
);
-- A person's grants (Grants) and their live grants of one offer (the
-- per-person limit).
CREATE INDEX grants_profile ON grants (profile_id, offer);

-- Ledger events, stored in the transaction of the change they announce.
-- ids come from a sequence, so they increase in the order rows are
-- inserted, not quite the order they commit: the outbox is read whole,
-- oldest first, and emptied, never followed with a cursor, so a row that
-- commits a moment late is only sent on the next read.
CREATE TABLE offer_outbox (
    id     BIGSERIAL PRIMARY KEY,
    event  BYTEA NOT NULL
);
