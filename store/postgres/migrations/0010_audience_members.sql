-- Who is in each audience now, and since when, kept current by the
-- audience engine.
CREATE TABLE audience_members (
    audience_id TEXT COLLATE "C" NOT NULL,
    profile_id  TEXT COLLATE "C" NOT NULL,
    since       BIGINT NOT NULL,
    PRIMARY KEY (audience_id, profile_id)
);
CREATE INDEX audience_members_profile ON audience_members (profile_id);
