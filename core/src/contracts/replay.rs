use async_trait::async_trait;

use super::Purge;
use crate::error::Result;
use crate::time::Timestamp;

/// The outcome of [`ReplayCache::check_and_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// First time this id is seen: accept the assertion.
    Fresh,
    /// Seen before: reject it.
    Replayed,
}

/// Replay prevention for SAML assertions, JWT ids (`jti`), DPoP proofs and client
/// assertions. The store keeps only a keyed hash of each id.
///
/// No eviction (LRU, FIFO, memory pressure) may ever drop a live entry: the cache is
/// bounded by refusing `not_after` beyond the configured maximum retention instead.
#[async_trait]
pub trait ReplayCache: Purge {
    /// Records `id` until `not_after` and says whether it was seen before.
    ///
    /// # Behavior
    /// - `check_and_record_first_is_fresh`: the first call for an id returns `Fresh`.
    /// - `check_and_record_again_is_replayed`: every later call before `not_after`
    ///   returns `Replayed`.
    /// - `check_and_record_kept_until_not_after`: the entry lives until `not_after`
    ///   (1 ms before it, still `Replayed`), and no longer: the assertion itself is
    ///   expired from then on.
    /// - `check_and_record_replay_keeps_entry`: a `Replayed` answer never changes the
    ///   stored entry.
    /// - `check_and_record_concurrent_has_one_fresh`: of any number of concurrent calls
    ///   for one id, from any number of nodes, exactly one returns `Fresh`.
    /// - `check_and_record_refuses_past_not_after`: a `not_after` at or before now is
    ///   `InvalidInput` (the assertion is already expired).
    /// - `check_and_record_refuses_beyond_max_retention`: a `not_after` further than the
    ///   maximum retention from now is `InvalidInput`.
    /// - `check_and_record_never_evicts`: recording many ids never drops an earlier live one.
    /// - `check_and_record_refuses_bad_id`: an empty or oversized id is `InvalidInput`.
    async fn check_and_record(&self, id: &str, not_after: Timestamp) -> Result<Replay>;
}
