use async_trait::async_trait;

use super::Purge;
use crate::codec::IndexKey;
use crate::error::Result;
use crate::time::Timestamp;

/// The hashing domain of session reference ids in the revocation store: a node that
/// keeps a local cache from [`RevocationStore::changes_since`] hashes an SRI with
/// [`crate::StoreConfig::hash`] in this domain to look it up.
pub const REVOCATION_SRI_DOMAIN: &str = "revocation.sri";
/// The hashing domain of subjects in the revocation store.
pub const REVOCATION_SUBJECT_DOMAIN: &str = "revocation.subject";

/// What a revocation applies to, by keyed hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationTarget {
    /// One session reference id.
    Session(IndexKey),
    /// Every session of a subject issued before `before`.
    Subject {
        /// The subject's keyed hash.
        subject: IndexKey,
        /// Sessions issued strictly before this time are revoked.
        before: Timestamp,
    },
}

/// One entry of the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationChange {
    /// Position in the feed; strictly increasing.
    pub seq: u64,
    /// What was revoked.
    pub target: RevocationTarget,
    /// Until when the revocation is kept.
    pub until: Timestamp,
}

/// A page of the change feed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeBatch {
    /// Changes after the cursor, in feed order.
    pub changes: Vec<RevocationChange>,
    /// The cursor to pass next time (the last change's `seq`, or the given cursor when
    /// there was none).
    pub cursor: u64,
}

/// Back-channel session revocation (PingFederate's Session Revocation Service): session
/// reference ids (SRIs) and whole subjects, with a change feed for local caches.
///
/// A revocation is never dropped before its `until`, however many there are — unlike
/// a capped FIFO list.
#[async_trait]
pub trait RevocationStore: Purge {
    /// Revokes one session reference until `until`.
    ///
    /// # Behavior
    /// - `revoke_then_is_revoked`: `is_revoked` returns `true` for that SRI.
    /// - `revoke_kept_until_until`: 1 ms before `until` still revoked; at `until` not.
    /// - `revoke_never_shortens`: revoking again with an earlier `until` keeps the later one.
    /// - `revoke_refuses_past_until`: an `until` at or before now is `InvalidInput`.
    /// - `revoke_never_evicts`: many revocations never drop an earlier live one.
    async fn revoke(&self, sri: &str, until: Timestamp) -> Result<()>;

    /// Whether the session `sri` of `subject`, issued at `issued_at`, is revoked: by its
    /// SRI or by a subject revocation that covers `issued_at`. One read.
    ///
    /// # Behavior
    /// - `is_revoked_unknown_is_false`: nothing revoked returns `false`.
    /// - `is_revoked_isolates_sris`: revoking one SRI does not revoke another.
    async fn is_revoked(&self, sri: &str, subject: &str, issued_at: Timestamp) -> Result<bool>;

    /// Revokes every session of `subject` issued strictly before `before`, until
    /// `until`, in O(1): one record, however many sessions the subject has. An `until`
    /// at or before now is `InvalidInput`.
    ///
    /// # Behavior
    /// - `revoke_subject_revokes_earlier_sessions`: a session of the subject issued
    ///   before `before` is revoked, whatever its SRI (even one never seen by the store).
    /// - `revoke_subject_spares_later_sessions`: one issued at or after `before` is not.
    /// - `revoke_subject_spares_other_subjects`: other subjects' sessions are not.
    /// - `revoke_subject_keeps_latest_cutoff`: revoking again keeps the later `before`
    ///   and the later `until`.
    /// - `revoke_subject_kept_until_until`: the subject revocation ends at `until`.
    async fn revoke_subject(
        &self,
        subject: &str,
        before: Timestamp,
        until: Timestamp,
    ) -> Result<()>;

    /// The revocations recorded after `cursor` (0 for the start), at most `limit`
    /// (a `limit` of 0 returns an empty page and the same cursor). A change stays in the
    /// feed at least until its `until`; purge may drop it after that.
    ///
    /// # Behavior
    /// - `changes_since_lists_in_order`: every revoke and revoke_subject appears once, in
    ///   the order they were made, with strictly increasing `seq`.
    /// - `changes_since_resumes_from_cursor`: passing the returned cursor returns only
    ///   later changes; an empty page returns the same cursor.
    /// - `changes_since_respects_limit`: never more than `limit` changes in a page.
    async fn changes_since(&self, cursor: u64, limit: usize) -> Result<ChangeBatch>;
}
