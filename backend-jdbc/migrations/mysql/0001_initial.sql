-- authstate schema version 1 for MariaDB. Tables are prefixed per namespace; {{table}}
-- markers are replaced by the quoted, prefixed table names. MariaDB's DDL is not
-- transactional, so every statement is idempotent: a migrate interrupted halfway is
-- finished by running it again.
-- Times are BIGINT milliseconds from the store's clock; keys are 32-byte keyed hashes
-- (64 for registry entries: subject hash then participant hash); `data` holds records
-- sealed by the store's codec.

CREATE TABLE IF NOT EXISTS {{sessions}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    subject_hash BINARY(32) NOT NULL,
    version BIGINT NOT NULL,
    last_activity BIGINT NOT NULL,
    abs_expires_at BIGINT NOT NULL,
    idle_ms BIGINT NULL,
    expires_at BIGINT NOT NULL,
    data LONGBLOB NOT NULL,
    INDEX sessions_expires_at (expires_at),
    INDEX sessions_last_activity (last_activity),
    INDEX sessions_subject (subject_hash)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{artifacts}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    taken_at BIGINT NULL,
    data LONGBLOB NOT NULL,
    INDEX artifacts_expires_at (expires_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{state}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    data LONGBLOB NOT NULL,
    INDEX state_expires_at (expires_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{replay}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    INDEX replay_expires_at (expires_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{lockout}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until BIGINT NULL,
    expires_at BIGINT NOT NULL,
    INDEX lockout_expires_at (expires_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{key_sets}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL,
    data LONGBLOB NOT NULL
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{revocations}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    kind BIGINT NOT NULL,
    before_at BIGINT NULL,
    expires_at BIGINT NOT NULL,
    INDEX revocations_expires_at (expires_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{revocation_feed}} (
    seq BIGINT NOT NULL PRIMARY KEY,
    kind BIGINT NOT NULL,
    k BINARY(32) NOT NULL,
    before_at BIGINT NULL,
    expires_at BIGINT NOT NULL,
    INDEX revocation_feed_expires_at (expires_at)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{revocation_seq}} (
    id BIGINT NOT NULL PRIMARY KEY,
    last BIGINT NOT NULL
) ENGINE=InnoDB;

INSERT IGNORE INTO {{revocation_seq}} (id, last) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS {{tokens}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    subject_hash BINARY(32) NOT NULL,
    client_hash BINARY(32) NOT NULL,
    grant_hash BINARY(32) NULL,
    expires_at BIGINT NOT NULL,
    data LONGBLOB NOT NULL,
    INDEX tokens_expires_at (expires_at),
    INDEX tokens_subject (subject_hash),
    INDEX tokens_client (client_hash),
    INDEX tokens_grant (grant_hash)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{registry}} (
    k BINARY(64) NOT NULL PRIMARY KEY,
    subject_hash BINARY(32) NOT NULL,
    expires_at BIGINT NOT NULL,
    data LONGBLOB NOT NULL,
    INDEX registry_expires_at (expires_at),
    INDEX registry_subject (subject_hash)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS {{leases}} (
    k BINARY(32) NOT NULL PRIMARY KEY,
    holder BLOB NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB;
