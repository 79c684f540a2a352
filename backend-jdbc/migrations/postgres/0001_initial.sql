-- authstate schema version 1 for PostgreSQL. One schema per namespace; {{table}} markers
-- are replaced by the schema-qualified, quoted table names, {{idx}} by nothing.
-- Times are BIGINT milliseconds from the store's clock; keys are 32-byte keyed hashes;
-- `data` holds records sealed by the store's codec.

CREATE TABLE IF NOT EXISTS {{sessions}} (
    k BYTEA PRIMARY KEY,
    subject_hash BYTEA NOT NULL,
    version BIGINT NOT NULL,
    last_activity BIGINT NOT NULL,
    abs_expires_at BIGINT NOT NULL,
    idle_ms BIGINT,
    expires_at BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}sessions_expires_at" ON {{sessions}} (expires_at);
CREATE INDEX IF NOT EXISTS "{{idx}}sessions_last_activity" ON {{sessions}} (last_activity);
CREATE INDEX IF NOT EXISTS "{{idx}}sessions_subject" ON {{sessions}} (subject_hash);

CREATE TABLE IF NOT EXISTS {{artifacts}} (
    k BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    taken_at BIGINT,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}artifacts_expires_at" ON {{artifacts}} (expires_at);

CREATE TABLE IF NOT EXISTS {{state}} (
    k BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}state_expires_at" ON {{state}} (expires_at);

CREATE TABLE IF NOT EXISTS {{replay}} (
    k BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}replay_expires_at" ON {{replay}} (expires_at);

CREATE TABLE IF NOT EXISTS {{lockout}} (
    k BYTEA PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}lockout_expires_at" ON {{lockout}} (expires_at);

CREATE TABLE IF NOT EXISTS {{key_sets}} (
    k BYTEA PRIMARY KEY,
    version BIGINT NOT NULL,
    data BYTEA NOT NULL
);

CREATE TABLE IF NOT EXISTS {{revocations}} (
    k BYTEA PRIMARY KEY,
    kind BIGINT NOT NULL,
    before_at BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}revocations_expires_at" ON {{revocations}} (expires_at);

CREATE TABLE IF NOT EXISTS {{revocation_feed}} (
    seq BIGINT PRIMARY KEY,
    kind BIGINT NOT NULL,
    k BYTEA NOT NULL,
    before_at BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}revocation_feed_expires_at" ON {{revocation_feed}} (expires_at);

CREATE TABLE IF NOT EXISTS {{revocation_seq}} (
    id BIGINT PRIMARY KEY,
    last BIGINT NOT NULL
);
INSERT INTO {{revocation_seq}} (id, last) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS {{tokens}} (
    k BYTEA PRIMARY KEY,
    subject_hash BYTEA NOT NULL,
    client_hash BYTEA NOT NULL,
    grant_hash BYTEA,
    expires_at BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_expires_at" ON {{tokens}} (expires_at);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_subject" ON {{tokens}} (subject_hash);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_client" ON {{tokens}} (client_hash);
CREATE INDEX IF NOT EXISTS "{{idx}}tokens_grant" ON {{tokens}} (grant_hash);

CREATE TABLE IF NOT EXISTS {{registry}} (
    k BYTEA PRIMARY KEY,
    subject_hash BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{idx}}registry_expires_at" ON {{registry}} (expires_at);
CREATE INDEX IF NOT EXISTS "{{idx}}registry_subject" ON {{registry}} (subject_hash);

CREATE TABLE IF NOT EXISTS {{leases}} (
    k BYTEA PRIMARY KEY,
    holder BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);
