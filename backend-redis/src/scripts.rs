//! The Lua scripts: every operation that touches more than one key, or must check and
//! set, is one of these, run with `EVALSHA` (and loaded with `SCRIPT LOAD` when the
//! server answers `NOSCRIPT`, e.g. after a restart or failover; on a cluster, sent whole
//! with `EVAL` to the key's node).
//!
//! The sources live in `src/scripts/*.lua`, each with a header saying its `KEYS`, `ARGV`
//! and reply; `common.lua` is prepended to each (helpers for TTLs, indexes and the
//! session and artifact records' headers). They depend on nothing but Redis 7.0
//! commands and the `struct` library of Redis's Lua, so another client library (a
//! `fred` transport) can run the same scripts over the same keys.
//!
//! Rules every script keeps:
//!
//! - time is the store's clock, passed as `ARGV` (`now`); never the server's `TIME`;
//! - every key is in `KEYS`: no key name is built inside Lua (see [`crate::keys`] for
//!   which keys share a slot);
//! - a record's server TTL is its remaining life by the store's clock plus the grace;
//!   sorted-set indexes (owner indexes, the revocation feed and purge index) live as
//!   long as their latest member plus the grace;
//! - a malformed plaintext field (a record edited by hand) is reported as such, never
//!   read as "absent" or "fresh".
//!
//! | script | used by |
//! |--------|---------|
//! | `session_create` | `SessionStore::create` |
//! | `session_touch` | `SessionStore::touch` |
//! | `session_update` | `SessionStore::update` |
//! | `session_reseal` | `SessionStore::update` during a keyring migration (second step) |
//! | `session_rotate` | `SessionStore::rotate_id` (after reading the record) |
//! | `session_delete` | `SessionStore::delete` |
//! | `session_list` | `SessionStore::list_by_subject` (read-only) |
//! | `session_delete_by_subject` | `SessionStore::delete_by_subject` |
//! //! | `artifact_put` | `ArtifactStore::put`, when `SET … NX GET` met a record expired by the store's clock or of an earlier layout |
//! | `artifact_take` | `ArtifactStore::take` |
//! | `state_put` | `StateStore::put`, `put_if_absent` |
//! | `remove_live` | `StateStore::remove`, `TokenStore::revoke` |
//! | `replay_check` | `ReplayCache::check_and_record`, when `SET … NX GET` met an entry expired by the store's clock |
//! | `lockout_failure` | `LockoutStore::record_failure` |
//! | `keys_insert`, `keys_replace` | `KeyStore` |
//! | `revoke_sri`, `revoke_subject` | `RevocationStore` |
//! | `revocation_purge` | revocation purge batches |
//! | `token_insert`, `token_revoke_owner` | `TokenStore` |
//! | `registry_register`, `registry_remove`, `registry_remove_all` | `SessionRegistry` |
//! | `registry_purge` | registry purge batches |
//! | `purge_records` | purge batches of artifacts, state, replay, lockout, tokens |
//! | `lease_acquire`, `lease_release` | `SweepLease` |

use std::sync::LazyLock;

/// One script: its source and the SHA-1 that `EVALSHA` names it by.
#[derive(Debug)]
pub(crate) struct Script {
    name: &'static str,
    source: &'static str,
    sha: String,
}

impl Script {
    fn new(name: &'static str, source: &'static str) -> Self {
        // The redis crate computes the same SHA-1 the server does.
        let sha = redis::Script::new(source).get_hash().to_owned();
        Script { name, source, sha }
    }

    /// The script's name (its file name), for messages.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The full source, prelude included.
    pub(crate) fn source(&self) -> &'static str {
        self.source
    }

    /// The SHA-1 of the source, as `EVALSHA` wants it.
    pub(crate) fn sha(&self) -> &str {
        &self.sha
    }
}

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident = $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
                Script::new(
                    $file,
                    concat!(
                        include_str!("scripts/common.lua"),
                        include_str!(concat!("scripts/", $file, ".lua"))
                    ),
                )
            });
        )*

        /// Every script, for tests.
        #[cfg(test)]
        pub(crate) fn all() -> Vec<&'static Script> {
            vec![$(&*$name),*]
        }
    };
}

scripts! {
    /// Creates a session (and lists it under its subject).
    SESSION_CREATE = "session_create";
    /// Slides a session's idle end.
    SESSION_TOUCH = "session_touch";
    /// Replaces a session's data at the expected version.
    SESSION_UPDATE = "session_update";
    /// Rewrites a session's meta sealed with the current key (migration).
    SESSION_RESEAL = "session_reseal";
    /// Moves a session to a new id.
    SESSION_ROTATE = "session_rotate";
    /// Deletes a session.
    SESSION_DELETE = "session_delete";
    /// Reads a subject's sessions.
    SESSION_LIST = "session_list";
    /// Deletes a subject's sessions.
    SESSION_DELETE_BY_SUBJECT = "session_delete_by_subject";
    /// Stores an artifact.
    ARTIFACT_PUT = "artifact_put";
    /// Takes an artifact.
    ARTIFACT_TAKE = "artifact_take";
    /// Stores a state value.
    STATE_PUT = "state_put";
    /// Deletes a hash record and says whether it was live.
    REMOVE_LIVE = "remove_live";
    /// Checks and records a replay id.
    REPLAY_CHECK = "replay_check";
    /// Counts a lockout failure.
    LOCKOUT_FAILURE = "lockout_failure";
    /// Inserts a key set.
    KEYS_INSERT = "keys_insert";
    /// Replaces a key set at the expected version.
    KEYS_REPLACE = "keys_replace";
    /// Revokes a session reference.
    REVOKE_SRI = "revoke_sri";
    /// Revokes a subject.
    REVOKE_SUBJECT = "revoke_subject";
    /// A revocation purge batch.
    REVOCATION_PURGE = "revocation_purge";
    /// Inserts a token.
    TOKEN_INSERT = "token_insert";
    /// Revokes every token of an owner.
    TOKEN_REVOKE_OWNER = "token_revoke_owner";
    /// Lists a token in one owner index (Redis Cluster).
    TOKEN_OWNER_ADD = "token_owner_add";
    /// Revokes one token of an owner (Redis Cluster).
    TOKEN_REVOKE_ONE = "token_revoke_one";
    /// Registers a participant.
    REGISTRY_REGISTER = "registry_register";
    /// Removes a participant.
    REGISTRY_REMOVE = "registry_remove";
    /// Removes a subject's registry as read.
    REGISTRY_REMOVE_ALL = "registry_remove_all";
    /// A purge batch over records found by `SCAN`.
    PURGE_SCAN = "purge_scan";
    /// Takes or renews a lease.
    LEASE_ACQUIRE = "lease_acquire";
    /// Releases a lease.
    LEASE_RELEASE = "lease_release";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_have_the_prelude_and_distinct_hashes() {
        let all = all();
        let mut hashes: Vec<&str> = all.iter().map(|s| s.sha()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), all.len(), "two scripts share a hash");
        for s in all {
            assert!(
                s.source().contains("local function keep_for"),
                "{}",
                s.name()
            );
            assert_eq!(s.sha().len(), 40, "{}", s.name());
            // Global variables are refused by Redis 7; every helper is local.
            assert!(!s.source().contains("\nfunction "), "{}", s.name());
        }
    }
}
