use std::time::Duration;

use async_trait::async_trait;

use super::Purge;
use crate::error::Result;

/// Inter-request state across redirects (PingFederate's IRSM): short-lived values under
/// a caller's key. The store keeps only a keyed hash of each key.
#[async_trait]
pub trait StateStore: Purge {
    /// Stores `value` under `key` for `ttl`, replacing any value there.
    ///
    /// # Behavior
    /// - `put_then_get_returns_value`: `get` before the TTL ends returns the value.
    /// - `put_replaces_value`: a second put replaces the value and its TTL.
    /// - `put_refuses_bad_input`: an empty or oversized key, an oversized value, a zero
    ///   TTL or one over the cap is `InvalidInput`.
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<()>;

    /// Stores `value` only if no live value is under `key`; returns whether it stored.
    ///
    /// # Behavior
    /// - `put_if_absent_stores_when_absent`: returns `true` and stores the value.
    /// - `put_if_absent_keeps_live_value`: returns `false` and leaves the live value.
    /// - `put_if_absent_replaces_expired_value`: an expired value counts as absent.
    /// - `put_if_absent_concurrent_has_one_winner`: of concurrent calls on one key,
    ///   exactly one returns `true`.
    async fn put_if_absent(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool>;

    /// Reads a live value.
    ///
    /// # Behavior
    /// - `get_unknown_is_none`: a key never put returns `None`.
    /// - `get_expired_is_none`: at the TTL's end (not 1 ms later) the value is gone.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Removes the value; returns whether a live one was there.
    ///
    /// # Behavior
    /// - `remove_deletes_value`: returns `true`; `get` returns `None` afterwards.
    /// - `remove_unknown_is_false`: an unknown or expired key returns `false`.
    async fn remove(&self, key: &str) -> Result<bool>;
}
