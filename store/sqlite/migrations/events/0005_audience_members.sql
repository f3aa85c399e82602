-- Who is in each audience now, and since when. Derived from the profiles
-- and the audiences' expressions, kept current by the audience engine.
CREATE TABLE audience_members (
    audience_id TEXT NOT NULL,
    profile_id  TEXT NOT NULL,
    since       INTEGER NOT NULL,
    PRIMARY KEY (audience_id, profile_id)
) WITHOUT ROWID;
CREATE INDEX audience_members_profile ON audience_members (profile_id);
