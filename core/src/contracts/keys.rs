use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::secret::SecretBytes;
use crate::time::Timestamp;

/// One signing key in a key set: its `kid` and its private material (a JWK, a PKCS#8
/// document — opaque to the store). `Debug` never shows the material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The key id published in JWKS.
    pub kid: String,
    /// The private key material.
    pub material: SecretBytes,
    /// When the key was made.
    pub created_at: Timestamp,
}

/// A cluster's dynamic signing keys: pending (published, not yet used), active (used to
/// sign) and retired (published until tokens signed with them have expired).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeySet {
    /// Published, not yet signing.
    pub pending: Vec<KeyEntry>,
    /// Signing now.
    pub active: Vec<KeyEntry>,
    /// Still published, no longer signing.
    pub retired: Vec<KeyEntry>,
}

/// A key set with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedKeySet {
    /// 1 when inserted; every `replace` adds 1.
    pub version: u64,
    /// The keys.
    pub keys: KeySet,
}

/// Dynamic signing keys shared by a cluster (PingFederate's dynamic JWK storage): named
/// key sets that survive restarts and have no TTL.
///
/// Private key material is always sealed with the keyring; without one every method
/// that writes or reads key sets is `ConfigInvalid` unless the operator set
/// `allow_plaintext_keys`.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Reads the key set `name`.
    ///
    /// # Behavior
    /// - `load_unknown_is_none`: a name never inserted returns `None`.
    /// - `load_never_expires`: a key set is returned however much time passes.
    /// - `load_refuses_plaintext_keys`: without a keyring (and without
    ///   `allow_plaintext_keys`) it is `ConfigInvalid`, even for an unknown name.
    async fn load(&self, name: &str) -> Result<Option<VersionedKeySet>>;

    /// Stores the first key set under `name`: the first node to start wins.
    ///
    /// # Behavior
    /// - `insert_then_load_returns_keys`: `load` returns the same keys at version 1.
    /// - `insert_existing_already_exists`: a second insert is `AlreadyExists` and the
    ///   stored keys are unchanged.
    /// - `insert_concurrent_has_one_winner`: of concurrent inserts, exactly one succeeds.
    /// - `insert_refuses_plaintext_keys`: without a keyring (and without
    ///   `allow_plaintext_keys`) it is `ConfigInvalid`, and nothing is stored.
    async fn insert(&self, name: &str, keys: KeySet) -> Result<VersionedKeySet>;

    /// Replaces the key set if its version is still `expected_version`: exactly one
    /// rotator wins.
    ///
    /// # Behavior
    /// - `replace_with_current_version_succeeds`: the keys are replaced and the version
    ///   goes up by exactly 1.
    /// - `replace_with_stale_version_conflicts`: a version that moved is `Conflict` and
    ///   the stored keys are unchanged.
    /// - `replace_unknown_is_not_found`: a name never inserted is `NotFound`.
    /// - `replace_concurrent_has_one_winner`: of concurrent replaces from the same
    ///   version, from any number of nodes, exactly one succeeds; the rest are `Conflict`.
    async fn replace(
        &self,
        name: &str,
        expected_version: u64,
        keys: KeySet,
    ) -> Result<VersionedKeySet>;
}
