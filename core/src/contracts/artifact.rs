use std::time::Duration;

use async_trait::async_trait;

use super::Purge;
use crate::error::Result;
use crate::time::Timestamp;

/// The outcome of [`ArtifactStore::take`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// The first take: here is the payload. No other take ever gets it.
    Fresh(Vec<u8>),
    /// Somebody took it already, at `taken_at`: the IdP should treat this as a replayed
    /// code and revoke what was issued from it (RFC 6749 §4.1.2).
    Replayed {
        /// When the first take happened.
        taken_at: Timestamp,
    },
    /// No artifact with that handle (never put, or past its expiry).
    Unknown,
}

/// One-time artifacts: OAuth authorization codes, PAR request URIs, SAML artifacts,
/// reference-ID adapter handles.
///
/// The store keeps only a keyed hash of each handle.
#[async_trait]
pub trait ArtifactStore: Purge {
    /// Stores an artifact for `ttl`.
    ///
    /// # Behavior
    /// - `put_then_take_is_fresh`: a `take` before the TTL ends gets the payload.
    /// - `put_refuses_live_handle`: a handle whose artifact is live is `AlreadyExists`,
    ///   and the stored payload is unchanged.
    /// - `put_refuses_taken_handle_until_expiry`: a taken handle stays reserved (its
    ///   tombstone answers `Replayed`) until the original expiry: `AlreadyExists`.
    /// - `put_reuses_expired_handle`: once an artifact has expired its handle can be put
    ///   again.
    /// - `put_refuses_bad_input`: an empty or oversized handle, an oversized payload, a
    ///   zero TTL or one over the cap is `InvalidInput`.
    async fn put(&self, handle: &str, payload: Vec<u8>, ttl: Duration) -> Result<()>;

    /// Takes the artifact, atomically across nodes.
    ///
    /// # Behavior
    /// - `take_is_fresh_once`: the first take returns `Fresh(payload)`.
    /// - `take_again_is_replayed`: every later take until the original expiry returns
    ///   `Replayed` with the time of the first take.
    /// - `take_unknown_is_unknown`: a handle never put returns `Unknown`.
    /// - `take_expired_is_unknown`: at the artifact's expiry (not 1 ms later), taken or
    ///   not, the take returns `Unknown`, even before purge.
    /// - `take_concurrent_has_one_winner`: of any number of concurrent takes, from any
    ///   number of nodes, exactly one gets `Fresh`; all others get `Replayed`.
    async fn take(&self, handle: &str) -> Result<Take>;
}
