//! The key layout: every Redis key the backend writes, and why it is shaped so.
//!
//! All keys of a namespace start with `as:<ns>:` (an ACL user can be confined to
//! `~as:<ns>:*`). Records are stored under the keyed hash of their handle, id, token or
//! name ([`authstate_core::StoreConfig::hash`], the same hashing domains as the memory
//! backend), written as 43 base64url characters; index members are the raw 32 hash
//! bytes. Nothing raw — no session id, handle, token, subject or payload — appears in a
//! key name or an unsealed value.
//!
//! # Hash tags: buckets
//!
//! Every key carries a [hash tag](https://redis.io/docs/reference/cluster-spec/#hash-tags)
//! `{<code>:<bb>}` made of the contract's code and a *bucket*: the first byte of the
//! record's hash, as two hex digits. A record is alone in its key, so every
//! single-record operation touches one slot; and a namespace's data spreads over 256
//! tags per contract, never one slot. The per-owner indexes (a session subject, a token's subject, grant or
//! subject+client, a registry subject) take the bucket of the *owner's* hash.
//!
//! | key | type | content | server TTL |
//! |-----|------|---------|------------|
//! | `as:<ns>:{ses:<bb>}<id>` | string | a 37-byte header (absolute end, idle timeout, last activity, version, meta length), the sealed meta (subject, created, absolute end, idle timeout), the sealed data | effective expiry + grace |
//! | `as:<ns>:{ses:<bb>}:sub:<subject>` | zset | session id hash → absolute expiry (subject index; `<bb>` from the subject) | latest member + grace |
//! | `as:<ns>:{art:<bb>}<handle>` | string | format byte (2 live, 3 taken), expiry, then the sealed payload (live) or the taken-at time (tombstone) | expiry + grace |
//! | `as:<ns>:{sta:<bb>}<key>` | hash | `e` expiry, `v` sealed value | expiry + grace |
//! | `as:<ns>:{rpl:<bb>}<id>` | string | `not_after` in ms | `not_after` + grace |
//! | `as:<ns>:{lck:<bb>}<key>` | hash | `f` failures, `l` locked until (0: none), `e` expiry | expiry + grace |
//! | `as:<ns>:{key:<bb>}<name>` | hash | `v` version, `d` sealed key set (with its version) | none |
//! | `as:<ns>:{rev:<ns>}s:<sri>` | string | `until seq…` (the feed entries it made) | until + grace |
//! | `as:<ns>:{rev:<ns>}u:<subject>` | string | `before until seq…` | until + grace |
//! | `as:<ns>:{rev:<ns>}:feed` | zset | `seq kind hash [before] until` → seq (change feed) | latest until + grace |
//! | `as:<ns>:{rev:<ns>}:seq` | string | the feed's last sequence number (`INCR`) | none |
//! | `as:<ns>:{rev:<ns>}:x` | zset | `s`/`u` + hash → until (purge) | latest + grace |
//! | `as:<ns>:{tok:<bb>}<token>` | hash | `e` expiry, `d` sealed record, `s`/`g`/`c` raw owner hashes | expiry + grace |
//! | `as:<ns>:{tok:<bb>}:sub:<h>` / `:grt:<h>` / `:cli:<h>` | zset | token hash → expiry (owner indexes; `<bb>` from the owner) | latest + grace |
//! | `as:<ns>:{reg:<bb>}<subject>` | hash | participant hash → `expiry ` + sealed participant | latest + grace |
//! | `as:<ns>:lease:<name>` | hash | `h` holder, `e` expiry | expiry + grace |
//!
//! "Grace" is [`crate::BackendOptions::server_expiry_grace`]; server TTLs are set with
//! `PEXPIRE` to the record's remaining life *by the store's clock* plus the grace (the
//! same instant as `PEXPIREAT expiry + grace` when the clocks agree), so a skew between
//! the node's clock and the server's never makes Redis drop a record the store still
//! calls live. Index TTLs are only ever extended, by a quarter more than needed so that
//! most writes need not extend them. Reads decide expiry with the store's clock alone.
//!
//! # Purge finds records by `SCAN`
//!
//! No write keeps a purge index: a record's name is its tag followed by a base64url
//! character, an index's name its tag followed by `:`, so
//! `SCAN … MATCH as:<ns>:{<code>:??}[^:]*` lists the records of one contract and
//! nothing else (see the crate's `purge` module). Redis drops every record by itself at its
//! expiry plus the grace; purge removes records within the grace, records expired by a
//! store clock ahead of the server's, and idle sessions under a `LastActivity` cap.
//! Only the revocations keep a purge index (`{rev:<ns>}:x`): they are few, in one slot,
//! and an index spares scanning the key space for them.
//!
//! Earlier versions kept per-bucket purge indexes (`{<code>:<bb>}:x`, and `:a` for
//! sessions). Nothing reads or writes them any more; ones left by an earlier version
//! expire by their own TTL (their latest entry plus the grace). Records in the formats
//! above are unchanged but for artifacts (see below), so records written before the
//! change read as before.
//!
//! Session and artifact records, the most numerous, are strings and not hashes: a hash
//! holding a field over 64 bytes loses Redis's compact encoding (`listpack`) and takes
//! about twice the memory, and a string lets an artifact `put` be one native
//! `SET … NX GET PX` (see the crate's `artifact` module). Artifacts written by an earlier version
//! as hashes (`e` expiry, `p` payload, `t` taken at) are still read, taken and purged.
//! State values and tokens are still hashes, and pay that when their payload passes 64
//! bytes; packing them like sessions would save it. A replay entry is a plain string,
//! so its common check is one native `SET … NX GET PX` too (see the crate's `replay` module).
//!
//! # Why revocations live in one slot per namespace
//!
//! The change feed must be one ordered sequence (`changes_since` pages through it by
//! `seq`), and every revocation appends to it in the same atomic step that records it,
//! so a revocation can never exist without its feed entry (a cache that missed it would
//! keep accepting a revoked session). So the revocation keys of a namespace share the
//! tag `{rev:<ns>}`. Revocations are few and small; the other contracts spread.
//!
//! # Operations across tags, and Redis Cluster
//!
//! Every script names every key it touches in `KEYS` (no key name is built inside Lua).
//! On a standalone server (and Sentinel) each operation below is therefore one script
//! whatever its tags. A few operations touch a record and an owner index whose buckets
//! differ: session `create` and `rotate_id` (record + subject index), token `insert`
//! (record + three owner indexes), and the by-owner deletions (`delete_by_subject`,
//! `revoke_by_*`) and purge batches, which touch many records. On Redis Cluster a
//! script must stay within one slot, so there (the connection says it is a cluster):
//!
//! - sessions: a session id is drawn again (256 times on average, about 0.1 ms of
//!   hashing) until its hash's first byte equals the subject hash's, so a subject's
//!   sessions and their subject index share one tag and every session operation is
//!   still one script;
//! - tokens: `insert` lists the token in each owner index (one script per index) before
//!   it stores the record, so an index over-approximates and never misses a stored
//!   token; a by-owner revocation reads the index, then revokes each listed token with a
//!   script in its own slot that checks the owner field, until the index lists nothing
//!   new;
//! - purge scans each primary in turn (`SCAN` routed to a slot each primary serves,
//!   learned from `CLUSTER SLOTS`), and runs one batch script per tag of the keys it
//!   found;
//! - revocations, registries, lockouts, replay ids, state, artifacts and key sets already
//!   keep each operation within one tag.
//!
//! The durable-write mode is refused on a cluster: `WAIT` counts the replicas of the
//! primary it reaches, and the cluster client cannot send it to the primary that took
//! the write.
//!
//! Owner indexes over-approximate on a standalone server too: `delete` of a session and
//! `revoke` of one token do not know the owner (only the id or token is given), so they
//! leave the owner index entry, which reads through the index skip (the record is gone)
//! and prune, and which expires by its score.

use authstate_core::Namespace;
use authstate_core::codec::IndexKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The code of each bucketed contract in its hash tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Code {
    Session,
    Artifact,
    State,
    Replay,
    Lockout,
    Key,
    Token,
    Registry,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::Session => "ses",
            Code::Artifact => "art",
            Code::State => "sta",
            Code::Replay => "rpl",
            Code::Lockout => "lck",
            Code::Key => "key",
            Code::Token => "tok",
            Code::Registry => "reg",
        }
    }
}

/// The kinds of per-owner token index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenOwner {
    /// Every token of a subject.
    Subject,
    /// Every token of a grant.
    Grant,
    /// Every token of a subject issued to one client.
    SubjectClient,
}

impl TokenOwner {
    fn as_str(self) -> &'static str {
        match self {
            TokenOwner::Subject => "sub",
            TokenOwner::Grant => "grt",
            TokenOwner::SubjectClient => "cli",
        }
    }

    /// The record field that holds this owner's raw hash.
    pub(crate) fn field(self) -> &'static str {
        match self {
            TokenOwner::Subject => "s",
            TokenOwner::Grant => "g",
            TokenOwner::SubjectClient => "c",
        }
    }
}

/// The bucket of a hash: its first byte.
pub(crate) fn bucket(hash: &IndexKey) -> u8 {
    hash.as_bytes()[0]
}

/// A hash as it appears in key names.
pub(crate) fn encode(hash: &IndexKey) -> String {
    URL_SAFE_NO_PAD.encode(hash.as_bytes())
}

/// `text` with the glob's special characters (`*?[]\\`) escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The hash tag of a key this backend wrote (`{…}` included), which names its slot.
pub(crate) fn tag_of(key: &str) -> &str {
    match (key.find('{'), key.find('}')) {
        (Some(open), Some(close)) if open < close => &key[open..=close],
        _ => key,
    }
}

/// The key names of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    /// `as:<ns>:`
    prefix: String,
    /// `{rev:<ns>}`
    revocation_tag: String,
}

impl KeySpace {
    /// The keys of `namespace`.
    pub(crate) fn new(namespace: &Namespace) -> Self {
        KeySpace {
            prefix: format!("as:{}:", namespace.as_str()),
            revocation_tag: format!("{{rev:{}}}", namespace.as_str()),
        }
    }

    fn tagged(&self, code: Code, bucket: u8, rest: &str) -> String {
        format!("{}{{{}:{bucket:02x}}}{rest}", self.prefix, code.as_str())
    }

    /// The record of `code` stored under `hash`.
    pub(crate) fn record(&self, code: Code, hash: &IndexKey) -> String {
        self.tagged(code, bucket(hash), &encode(hash))
    }

    /// The `SCAN` pattern of every record of `code` (and of no index): a record's name
    /// is the tag then 43 base64url characters, an index's the tag then `:`. The
    /// namespace is escaped for the glob (namespaces are `[a-z0-9_-]`, none special, but
    /// the pattern would stay exact if that changed).
    pub(crate) fn record_pattern(&self, code: Code) -> String {
        format!("{}{{{}:??}}[^:]*", glob_escape(&self.prefix), code.as_str())
    }

    /// A subject's session index.
    pub(crate) fn session_subject(&self, subject: &IndexKey) -> String {
        self.tagged(
            Code::Session,
            bucket(subject),
            &format!(":sub:{}", encode(subject)),
        )
    }

    /// A token owner's index.
    pub(crate) fn token_owner(&self, owner: TokenOwner, hash: &IndexKey) -> String {
        self.tagged(
            Code::Token,
            bucket(hash),
            &format!(":{}:{}", owner.as_str(), encode(hash)),
        )
    }

    /// A revoked session reference.
    pub(crate) fn revoked_sri(&self, sri: &IndexKey) -> String {
        format!("{}{}s:{}", self.prefix, self.revocation_tag, encode(sri))
    }

    /// A revoked subject.
    pub(crate) fn revoked_subject(&self, subject: &IndexKey) -> String {
        format!(
            "{}{}u:{}",
            self.prefix,
            self.revocation_tag,
            encode(subject)
        )
    }

    /// The revocation change feed.
    pub(crate) fn revocation_feed(&self) -> String {
        format!("{}{}:feed", self.prefix, self.revocation_tag)
    }

    /// The revocation feed's sequence counter.
    pub(crate) fn revocation_seq(&self) -> String {
        format!("{}{}:seq", self.prefix, self.revocation_tag)
    }

    /// The revocations' purge index.
    pub(crate) fn revocation_expiry(&self) -> String {
        format!("{}{}:x", self.prefix, self.revocation_tag)
    }

    /// A sweep lease; `name` is the keyed hash of the lease name.
    pub(crate) fn lease(&self, name: &IndexKey) -> String {
        format!("{}lease:{}", self.prefix, encode(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(first: u8) -> IndexKey {
        let mut hex = format!("{first:02x}");
        hex.push_str(&"ab".repeat(31));
        IndexKey::from_hex(&hex).expect("64 hex characters")
    }

    #[test]
    fn keys_carry_namespace_prefix_and_bucket_tag() {
        let ks = KeySpace::new(&Namespace::new("idp-prod").expect("valid"));
        let h = hash(0x3f);
        let record = ks.record(Code::Session, &h);
        assert!(record.starts_with("as:idp-prod:{ses:3f}"), "{record}");
        assert_eq!(record.len(), "as:idp-prod:{ses:3f}".len() + 43);
        assert_eq!(
            ks.record_pattern(Code::Session),
            "as:idp-prod:{ses:??}[^:]*"
        );
        assert_eq!(tag_of(&record), "{ses:3f}");
        assert!(
            ks.session_subject(&hash(0))
                .starts_with("as:idp-prod:{ses:00}:sub:")
        );
        assert!(
            ks.revoked_sri(&h)
                .starts_with("as:idp-prod:{rev:idp-prod}s:")
        );
        assert_eq!(ks.revocation_feed(), "as:idp-prod:{rev:idp-prod}:feed");
    }

    #[test]
    fn glob_specials_are_escaped() {
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
        assert_eq!(glob_escape("idp-prod_1"), "idp-prod_1");
    }

    #[test]
    fn every_key_has_exactly_one_tag_so_the_slot_is_the_tag() {
        let ks = KeySpace::new(&Namespace::new("a").expect("valid"));
        let h = hash(0xff);
        for key in [
            ks.record(Code::Token, &h),
            ks.token_owner(TokenOwner::Grant, &h),
            ks.session_subject(&h),
        ] {
            assert_eq!(key.matches('{').count(), 1, "{key}");
            assert_eq!(key.matches('}').count(), 1, "{key}");
        }
    }
}
