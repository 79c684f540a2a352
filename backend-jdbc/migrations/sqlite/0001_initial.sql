-- authstate schema version 1 for SQLite. Tables are prefixed per namespace; {{table}} markers
-- are replaced by the quoted, prefixed table names and {{idx}} by the prefix.
-- Times are INTEGER milliseconds from the store's clock; keys are 32-byte keyed hashes;
-- `data` holds records sealed by the store's codec.

CREATE TABLE IF NOT EXISTS {{sessions}} (
    k BLOB PRIMARY KEY NOT NULL,
    subject_hash BLOB NOT NULL,
    version INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    abs_expires_at INTEGER NOT NULL,
    idle_ms INTEGER,
    expires_at INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}sessions_expires_at" ON {{sessions}} (expires_at);
CREATE INDEX IF NOT EXISTS "{{idx}}sessions_last_activity" ON {{sessions}} (last_activity);
CREATE INDEX IF NOT EXISTS "{{idx}}sessions_subject" ON {{sessions}} (subject_hash);

CREATE TABLE IF NOT EXISTS {{artifacts}} (
    k BLOB PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL,
    taken_at INTEGER,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}artifacts_expires_at" ON {{artifacts}} (expires_at);

CREATE TABLE IF NOT EXISTS {{state}} (
    k BLOB PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}state_expires_at" ON {{state}} (expires_at);

CREATE TABLE IF NOT EXISTS {{replay}} (
    k BLOB PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}replay_expires_at" ON {{replay}} (expires_at);

CREATE TABLE IF NOT EXISTS {{lockout}} (
    k BLOB PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    locked_until INTEGER,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}lockout_expires_at" ON {{lockout}} (expires_at);

CREATE TABLE IF NOT EXISTS {{key_sets}} (
    k BLOB PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS {{revocations}} (
    k BLOB PRIMARY KEY NOT NULL,
    kind INTEGER NOT NULL,
    before_at INTEGER,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}revocations_expires_at" ON {{revocations}} (expires_at);

CREATE TABLE IF NOT EXISTS {{revocation_feed}} (
    seq INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    k BLOB NOT NULL,
    before_at INTEGER,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}revocation_feed_expires_at" ON {{revocation_feed}} (expires_at);

CREATE TABLE IF NOT EXISTS {{revocation_seq}} (
    id INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);
INSERT INTO {{revocation_seq}} (id, last) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS {{tokens}} (
    k BLOB PRIMARY KEY NOT NULL,
    subject_hash BLOB NOT NULL,
    client_hash BLOB NOT NULL,
    grant_hash BLOB,
    expires_at INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_expires_at" ON {{tokens}} (expires_at);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_subject" ON {{tokens}} (subject_hash);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_client" ON {{tokens}} (client_hash);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_grant" ON {{tokens}} (grant_hash);

CREATE TABLE IF NOT EXISTS {{registry}} (
    k BLOB PRIMARY KEY NOT NULL,
    subject_hash BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}registry_expires_at" ON {{registry}} (expires_at);
CREATE INDEX IF NOT EXISTS "{{idx}}registry_subject" ON {{registry}} (subject_hash);

CREATE TABLE IF NOT EXISTS {{leases}} (
    k BLOB PRIMARY KEY NOT NULL,
    holder BLOB NOT NULL,
    expires_at INTEGER NOT NULL
);
