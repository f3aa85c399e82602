-- Partitioned processing. Every event belongs to one of the log's
-- partitions (kith.Event.Partition of its person key, the same function
-- the NATS log splits by); a processor per partition follows it with a
-- cursor of its own, so several nodes can process at once while one
-- person's events stay in order. The number of partitions is the number
-- of rows of partitions, fixed here: changing it would move people's
-- events between partitions.
ALTER TABLE events ADD COLUMN partition SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX events_partition ON events (partition, seq);

-- Which node processes each partition, until when. A node renews its
-- leases before they expire; a dead node's lapse and others take them.
-- Leases spread the work; they do not guard it: a processor's cursor row
-- lock does, so two nodes briefly holding one partition cost only time.
CREATE TABLE partitions (
    partition  SMALLINT PRIMARY KEY,
    node       TEXT COLLATE "C" NOT NULL DEFAULT '',
    expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
INSERT INTO partitions (partition) SELECT generate_series(0, 7);

-- Nodes seen lately, each with when it last claimed: the live ones share
-- the partitions.
CREATE TABLE nodes (
    node    TEXT COLLATE "C" PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);

-- Events already in the log are all in partition 0; whatever the single
-- processor had applied, each partition's processor starts after.
INSERT INTO cursors (name, seq)
    SELECT 'profiles.' || p, c.seq FROM cursors c, generate_series(0, 7) p WHERE c.name = 'profiles'
    ON CONFLICT (name) DO NOTHING;
