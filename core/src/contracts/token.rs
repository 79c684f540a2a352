use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Purge;
use crate::error::Result;
use crate::time::Timestamp;

/// What a caller gives to store a reference token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The resource owner.
    pub subject: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The grant (authorization code, refresh token family) it came from, if any.
    pub grant_id: Option<String>,
    /// Opaque data (scopes, claims) returned by introspection.
    pub data: Vec<u8>,
    /// How long the token lives.
    pub ttl: Duration,
}

/// A stored reference token, without the token value (kept only as a keyed hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The resource owner.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// The grant it came from.
    pub grant_id: Option<String>,
    /// Opaque data.
    pub data: Vec<u8>,
    /// When it was stored.
    pub issued_at: Timestamp,
    /// When it stops being active.
    pub expires_at: Timestamp,
}

/// Reference bearer access tokens (PingFederate's reference token plugin data), with
/// RFC 7662 "active" semantics: a token is active until it expires or is revoked.
/// Survives a cluster restart where the backend is durable.
#[async_trait]
pub trait TokenStore: Purge {
    /// Stores a token.
    ///
    /// # Behavior
    /// - `insert_then_get_returns_record`: `get` returns the record with `issued_at` now
    ///   and `expires_at` now plus the TTL.
    /// - `insert_existing_already_exists`: a live token value is `AlreadyExists` and the
    ///   stored record is unchanged.
    /// - `insert_refuses_bad_input`: an empty token, oversized data, a zero TTL or one
    ///   over the cap is `InvalidInput`.
    /// - `insert_refused_keeps_live_token_revocable`: an insert refused because a live
    ///   token holds the value changes nothing, not even how long that token stays
    ///   listed under its subject, client and grant.
    async fn insert(&self, token: &str, new: NewToken) -> Result<TokenRecord>;

    /// Introspects a token.
    ///
    /// # Behavior
    /// - `get_unknown_is_none`: a token never inserted returns `None`.
    /// - `get_expired_is_none`: at `expires_at` (not 1 ms later) the token is inactive.
    /// - `get_revoked_is_none`: a revoked token is inactive at once.
    async fn get(&self, token: &str) -> Result<Option<TokenRecord>>;

    /// Revokes one token; returns whether an active one was there. The record is
    /// removed, so token values must be fresh random values (see
    /// [`crate::id::random_token`]): a value is never handed out twice.
    ///
    /// # Behavior
    /// - `revoke_deactivates_token`: returns `true`; `get` returns `None` afterwards.
    /// - `revoke_unknown_is_false`: an unknown, expired or revoked token returns `false`.
    async fn revoke(&self, token: &str) -> Result<bool>;

    /// Revokes every token of a grant (a replayed code revokes its whole family);
    /// returns how many active tokens it revoked.
    ///
    /// # Behavior
    /// - `revoke_by_grant_revokes_family`: every token of the grant is inactive, others
    ///   are untouched, and the count is exact.
    async fn revoke_by_grant(&self, grant_id: &str) -> Result<u64>;

    /// Revokes every token of a subject; returns how many active tokens it revoked.
    ///
    /// # Behavior
    /// - `revoke_by_subject_revokes_all`: every token of the subject, for every client,
    ///   is inactive; other subjects' tokens are untouched; the count is exact.
    async fn revoke_by_subject(&self, subject: &str) -> Result<u64>;

    /// Revokes every token of a subject issued to one client.
    ///
    /// # Behavior
    /// - `revoke_by_subject_and_client_is_precise`: only that subject's tokens for that
    ///   client are inactive; the count is exact.
    async fn revoke_by_subject_and_client(&self, subject: &str, client_id: &str) -> Result<u64>;
}
