//! The Lua scripts: every operation that touches more than one key, or must check and
//! set, is one of these, run with `EVALSHA` (and loaded with `SCRIPT LOAD` when the
//! server answers `NOSCRIPT`, e.g. after a restart or failover; on a cluster, sent whole
//! with `EVAL` to the key's node).
//!
//! The sources live in `src/scripts/*.lua`, each with a header saying its `KEYS`, `ARGV`
//! and reply; `common.lua` holds the helpers (TTLs, indexes, the session and artifact
//! records' headers), and each script is sent with the helpers it uses prepended — only
//! those, in `common.lua`'s order: the server runs a script's whole text on every call,
//! so each unused helper definition would cost every call (the full prelude took about
//! 1.7 µs of server CPU per call, a sixth of a lockout failure). They depend on nothing
//! but Redis 7.0 commands and the `struct` library of Redis's Lua, so another client
//! library (a `fred` transport) can run the same scripts over the same keys.
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
//! | `artifact_put` | `ArtifactStore::put`, when `SET … NX GET` met a record expired by the store's clock or of an earlier layout |
//! | `artifact_take` | `ArtifactStore::take` |
//! | `state_put` | `StateStore::put`, `put_if_absent` |
//! | `remove_live` | `StateStore::remove`, `TokenStore::revoke` |
//! | `replay_check` | `ReplayCache::check_and_record`, when `SET … NX GET` met an entry expired by the store's clock |
//! | `lockout_failure` | `LockoutStore::record_failure` |
//! | `keys_insert`, `keys_replace` | `KeyStore` |
//! | `revoke_sri`, `revoke_subject` | `RevocationStore` |
//! | `revocation_purge` | revocation purge batches |
//! | `token_insert`, `token_revoke_owner` | `TokenStore` |
//! | `token_owner_add`, `token_revoke_one` | `TokenStore` on Redis Cluster (one owner index, one token, per script) |
//! | `registry_register`, `registry_remove`, `registry_remove_all` | `SessionRegistry` |
//! | `purge_scan` | purge batches over the records a `SCAN` found (sessions, artifacts, state, replay, lockout, tokens, registries) |
//! | `lease_acquire`, `lease_release` | `SweepLease` |

use std::sync::LazyLock;

/// One script: its source and the SHA-1 that `EVALSHA` names it by.
#[derive(Debug)]
pub(crate) struct Script {
    name: &'static str,
    source: String,
    sha: String,
}

impl Script {
    fn new(name: &'static str, body: &'static str) -> Self {
        let source = with_helpers(PRELUDE, body);
        // The redis crate computes the same SHA-1 the server does.
        let sha = redis::Script::new(&source).get_hash().to_owned();
        Script { name, source, sha }
    }

    /// The script's name (its file name), for messages.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The full source, the helpers it uses included.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The SHA-1 of the source, as `EVALSHA` wants it.
    pub(crate) fn sha(&self) -> &str {
        &self.sha
    }
}

/// The helpers every script may use.
const PRELUDE: &str = include_str!("scripts/common.lua");

/// `body` behind the blocks of `prelude` it needs, directly or through another block,
/// in `prelude`'s order. A block is a run of lines between blank lines; it is needed
/// when a name it defines at its top level (`local function name`, `local A, B = …`)
/// occurs as a word in the body or in a needed block. Blocks that define nothing
/// (comments) are left out.
fn with_helpers(prelude: &str, body: &str) -> String {
    let blocks: Vec<(&str, Vec<&str>)> = prelude
        .split("\n\n")
        .map(|block| (block, defined_names(block)))
        .filter(|(_, names)| !names.is_empty())
        .collect();
    let mut needed = vec![false; blocks.len()];
    let mut texts = vec![body];
    loop {
        let mut grew = false;
        for (j, (block, names)) in blocks.iter().enumerate() {
            if !needed[j] && names.iter().any(|n| texts.iter().any(|t| uses(t, n))) {
                needed[j] = true;
                texts.push(block);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let mut source = String::new();
    for (j, (block, _)) in blocks.iter().enumerate() {
        if needed[j] {
            source.push_str(block.trim_matches('\n'));
            source.push_str("\n\n");
        }
    }
    source.push_str(body);
    source
}

/// The names a prelude block defines at its top level.
fn defined_names(block: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("local function ") {
            names.extend(rest.split('(').next().map(str::trim));
        } else if let Some((lhs, _)) = line
            .strip_prefix("local ")
            .and_then(|rest| rest.split_once('='))
        {
            names.extend(lhs.split(',').map(str::trim));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// Whether `name` occurs in `text` as a whole word (not inside a longer identifier).
fn uses(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident = $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
                Script::new($file, include_str!(concat!("scripts/", $file, ".lua")))
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
    fn scripts_have_distinct_hashes_and_every_helper_they_use() {
        let all = all();
        let mut hashes: Vec<&str> = all.iter().map(|s| s.sha()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), all.len(), "two scripts share a hash");
        let helpers: Vec<&str> = PRELUDE.split("\n\n").flat_map(defined_names).collect();
        assert!(helpers.contains(&"keep_for") && helpers.contains(&"SESSION_HEADER"));
        for s in all {
            assert_eq!(s.sha().len(), 40, "{}", s.name());
            // Global variables are refused by Redis 7; every helper is local.
            assert!(!s.source().contains("\nfunction "), "{}", s.name());
            // Every helper the script names is defined in it.
            let defined: Vec<&str> = s.source().split("\n\n").flat_map(defined_names).collect();
            for name in &helpers {
                if uses(s.source(), name) {
                    assert!(
                        defined.contains(name),
                        "{} uses {name} without it",
                        s.name()
                    );
                }
            }
        }
    }

    #[test]
    fn every_prelude_block_defines_a_helper_or_is_a_comment() {
        // A blank line inside a helper would split it, and the half that defines
        // nothing would be left out of every script.
        for block in PRELUDE.split("\n\n") {
            let comment = block
                .lines()
                .all(|l| l.trim().is_empty() || l.starts_with("--"));
            assert!(
                comment || !defined_names(block).is_empty(),
                "a block of common.lua defines nothing (a blank line inside a helper?):\n{block}"
            );
        }
    }

    #[test]
    fn scripts_carry_only_the_helpers_they_use() {
        // The lockout script counts in a hash: no session or index helper.
        let lockout = &*LOCKOUT_FAILURE;
        assert!(lockout.source().contains("local function expire_in("));
        assert!(lockout.source().contains("local function fmt("));
        assert!(!lockout.source().contains("session_fields"));
        assert!(!lockout.source().contains("owner_add"));
        // Session create needs the owner index and, through it, index_add and keep_for.
        let create = &*SESSION_CREATE;
        for helper in ["owner_add", "index_add", "keep_for", "session_end", "fmt"] {
            assert!(
                create
                    .source()
                    .contains(&format!("local function {helper}(")),
                "{helper}"
            );
        }
        assert!(!create.source().contains("artifact_expiry"));
    }

    #[test]
    fn helper_names_are_matched_as_whole_words() {
        assert!(uses("x = fmt(1)", "fmt"));
        assert!(!uses("x = fmt2(1)", "fmt"));
        assert!(!uses("x = my_fmt(1)", "fmt"));
        assert_eq!(
            defined_names("-- c\nlocal ARTIFACT_LIVE, ARTIFACT_TAKEN = 2, 3"),
            ["ARTIFACT_LIVE", "ARTIFACT_TAKEN"]
        );
        assert_eq!(
            defined_names("local function fmt(n)\n  return n\nend"),
            ["fmt"]
        );
    }
}
