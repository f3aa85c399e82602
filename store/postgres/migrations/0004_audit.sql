-- The audit trail: every profile read and every change, append-only. ids
-- come from a sequence, so they increase in the order records are
-- inserted, not quite the order they commit: readers page newest first by
-- id and no processor follows the trail with a cursor, so a record that
-- commits a moment after a page was read only shows on the next read.
CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    time        BIGINT NOT NULL,
    actor_kind  TEXT COLLATE "C" NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_name  TEXT COLLATE "C" NOT NULL DEFAULT '',
    actor_role  TEXT NOT NULL DEFAULT '',
    addr        TEXT NOT NULL DEFAULT '',
    via         TEXT NOT NULL DEFAULT '',
    action      TEXT COLLATE "C" NOT NULL,
    target      TEXT COLLATE "C" NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
-- One index per filter; each ends in id so a page is an index range.
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_actor ON audit (actor_name, id);
CREATE INDEX audit_action ON audit (action, id);
CREATE INDEX audit_target ON audit (target, id);
