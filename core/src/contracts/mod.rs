//! The nine contracts, and what every store shares: purge and the sweeper's lease.
//!
//! Every method documents its promises as a `# Behavior` list. Each bullet starts with
//! the name of the conformance case (in `authstate-conformance`) that proves it, so a
//! promise without a test is visible at a glance.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::capabilities::Capabilities;
use crate::contract::Contract;
use crate::error::Result;

mod artifact;
mod keys;
mod lockout;
mod registry;
mod replay;
mod revocation;
mod session;
mod state;
mod token;

pub use artifact::{ArtifactStore, Take};
pub use keys::{KeyEntry, KeySet, KeyStore, VersionedKeySet};
pub use lockout::{LockoutPolicy, LockoutStatus, LockoutStore};
pub use registry::{Participant, SessionRegistry};
pub use replay::{Replay, ReplayCache};
pub use revocation::{
    ChangeBatch, REVOCATION_SRI_DOMAIN, REVOCATION_SUBJECT_DOMAIN, RevocationChange,
    RevocationStore, RevocationTarget,
};
pub use session::{NewSession, Session, SessionRecord, SessionStore, SessionSummary};
pub use state::StateStore;
pub use token::{NewToken, TokenRecord, TokenStore};

/// Which records a purge removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PurgeCriterion {
    /// Records whose expiry lies at least the policy's offset in the past. For sessions
    /// that is the effective expiry: the idle timeout counts.
    #[default]
    Expiry,
    /// As `Expiry`, and also sessions whose last activity lies at least `max_idle` plus
    /// the offset in the past (PingFederate's `last_activity_time` cleanup: an operator's
    /// cap on idleness for sessions created without an idle timeout). Contracts without a
    /// last activity treat it as `Expiry`.
    LastActivity {
        /// The longest a session may stay unused before purge removes it.
        max_idle: Duration,
    },
}

/// How a purge runs: which records, how many per batch, how many batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePolicy {
    /// Records deleted per batch (one short transaction, one script, one search page).
    pub batch_size: u32,
    /// Which records are dead.
    pub criterion: PurgeCriterion,
    /// How long past its time a record is kept before purge removes it. Reads never
    /// return a record past its time, so the offset costs space, never correctness.
    pub offset: Duration,
    /// Stop after this many batches (the sweeper runs one batch at a time to honour its
    /// rate limit); `None` runs until nothing is left.
    pub max_batches: Option<u32>,
}

impl Default for PurgePolicy {
    fn default() -> Self {
        PurgePolicy {
            batch_size: 500,
            criterion: PurgeCriterion::Expiry,
            offset: Duration::from_secs(600),
            max_batches: None,
        }
    }
}

/// What a purge did. Counts are of records as the contract sees them (a session, an
/// artifact, a revocation), not of the index entries a backend keeps beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeReport {
    /// Records looked at.
    pub examined: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Batches run.
    pub batches: u32,
}

impl PurgeReport {
    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: PurgeReport) {
        self.examined += other.examined;
        self.deleted += other.deleted;
        self.batches += other.batches;
    }
}

/// Removal of records past their time, in bounded batches. Every contract with expiring
/// records has it; the sweeper calls it.
#[async_trait]
pub trait Purge: Send + Sync {
    /// Deletes records that are dead under `policy`, as decided by the store's clock
    /// (a backend whose server also expires records still finds, deletes and counts
    /// the ones the store's clock says are dead).
    ///
    /// # Behavior
    /// - `purge_removes_expired_records`: a record whose expiry is at least `offset` in
    ///   the past is deleted and counted.
    /// - `purge_never_removes_live_records`: a record that a read would still return is
    ///   never deleted (except by an explicit `LastActivity` cap).
    /// - `purge_keeps_records_within_offset`: a record expired less than `offset` ago is
    ///   kept (and still never returned by reads).
    /// - `purge_runs_in_batches`: no batch deletes more than `batch_size`, and
    ///   `max_batches` stops it early; a later purge finishes the rest.
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport>;
}

/// The lease that lets one node of a cluster sweep at a time.
#[async_trait]
pub trait SweepLease: Send + Sync {
    /// Takes or renews the lease `name` for `holder` for `ttl`.
    ///
    /// # Behavior
    /// - `lease_has_one_holder`: while one holder's lease is live, another holder's
    ///   `try_acquire` returns `false`.
    /// - `lease_renews_for_its_holder`: the holder's own `try_acquire` returns `true` and
    ///   extends the lease.
    /// - `lease_expires_after_ttl`: once `ttl` has passed, another holder can take it.
    async fn try_acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool>;

    /// Gives the lease up, if `holder` holds it.
    ///
    /// # Behavior
    /// - `lease_release_frees_it`: after release another holder can take the lease at once.
    /// - `lease_release_by_other_is_ignored`: a holder that does not hold it cannot release it.
    async fn release(&self, name: &str, holder: &str) -> Result<()>;
}

/// All nine stores of one backend, opened in one namespace.
///
/// An application keeps this (or single `Arc<dyn …>` stores taken from it) for its
/// lifetime; clones share connections.
#[derive(Clone)]
pub struct Stores {
    /// Authentication sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// One-time artifacts (codes, PAR request URIs, SAML artifacts).
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Inter-request state.
    pub state: Arc<dyn StateStore>,
    /// Assertion and JWT replay prevention.
    pub replay: Arc<dyn ReplayCache>,
    /// Account lockout counters.
    pub lockout: Arc<dyn LockoutStore>,
    /// Dynamic signing key sets.
    pub keys: Arc<dyn KeyStore>,
    /// Session revocations.
    pub revocations: Arc<dyn RevocationStore>,
    /// Reference access tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Single-logout registries.
    pub registry: Arc<dyn SessionRegistry>,
    /// The sweeper's lease.
    pub lease: Arc<dyn SweepLease>,
    /// What the backend can do.
    pub capabilities: Capabilities,
    /// The backend's name (`"memory"`, `"redis"`, …).
    pub backend: &'static str,
}

impl Stores {
    /// The stores that have records to purge, with their contract.
    pub fn purgeable(&self) -> Vec<(Contract, Arc<dyn Purge>)> {
        vec![
            (Contract::Session, self.sessions.clone() as Arc<dyn Purge>),
            (Contract::Artifact, self.artifacts.clone() as Arc<dyn Purge>),
            (Contract::State, self.state.clone() as Arc<dyn Purge>),
            (Contract::Replay, self.replay.clone() as Arc<dyn Purge>),
            (Contract::Lockout, self.lockout.clone() as Arc<dyn Purge>),
            (
                Contract::Revocation,
                self.revocations.clone() as Arc<dyn Purge>,
            ),
            (Contract::Token, self.tokens.clone() as Arc<dyn Purge>),
            (Contract::Registry, self.registry.clone() as Arc<dyn Purge>),
        ]
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.backend)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}
