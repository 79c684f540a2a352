//! What every store is opened with.

use std::sync::Arc;

use crate::codec::{AssociatedData, IndexKey, RecordCodec};
use crate::contract::Contract;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::namespace::Namespace;
use crate::time::{SharedClock, SystemClock, Timestamp};

/// The settings shared by all stores of one backend: namespace, clock, codec and limits.
///
/// ```
/// use authstate_core::{Namespace, StoreConfig};
/// let config = StoreConfig::new(Namespace::new("idp-prod").unwrap());
/// assert_eq!(config.namespace.as_str(), "idp-prod");
/// ```
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Nothing outside this namespace is read or written.
    pub namespace: Namespace,
    /// The clock every expiry decision is made with.
    pub clock: SharedClock,
    /// Seals records and hashes handles.
    pub codec: Arc<RecordCodec>,
    /// Bounds checked before the backend is asked.
    pub limits: Limits,
    /// Allow [`crate::KeyStore`] to keep private key material without a keyring.
    /// Off by default: without a keyring, key sets are refused with `ConfigInvalid`.
    pub allow_plaintext_keys: bool,
}

impl StoreConfig {
    /// The system clock, no encryption, default limits.
    pub fn new(namespace: Namespace) -> Self {
        StoreConfig {
            namespace,
            clock: Arc::new(SystemClock),
            codec: Arc::new(RecordCodec::plaintext()),
            limits: Limits::default(),
            allow_plaintext_keys: false,
        }
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the codec.
    pub fn with_codec(mut self, codec: RecordCodec) -> Self {
        self.codec = Arc::new(codec);
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Allows plaintext key material in the [`crate::KeyStore`].
    pub fn with_plaintext_keys_allowed(mut self, allow: bool) -> Self {
        self.allow_plaintext_keys = allow;
        self
    }

    /// The current time from the store's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The keyed hash of `value` in `domain`, within this namespace.
    pub fn hash(&self, domain: &str, value: &[u8]) -> IndexKey {
        self.codec.hash(&self.namespace, domain, value)
    }

    /// Checks `value` against the key limits (naming it `what` in the error) and returns
    /// its keyed hash in `domain` (one of [`crate::domains`]): what every store does
    /// with a handle, id, token or subject before it touches storage.
    pub fn index_key(&self, what: &str, domain: &str, value: &str) -> Result<IndexKey> {
        self.limits.check_key(what, value)?;
        Ok(self.hash(domain, value.as_bytes()))
    }

    /// The associated data that binds a record of `contract` stored under `key`.
    pub fn ad<'a>(&'a self, contract: Contract, key: &'a [u8]) -> AssociatedData<'a> {
        AssociatedData {
            namespace: &self.namespace,
            contract,
            key,
        }
    }

    /// `ConfigInvalid` unless key material will be encrypted or the operator allowed
    /// plaintext keys.
    pub fn check_key_material_protected(&self) -> Result<()> {
        if self.codec.is_encrypting() || self.allow_plaintext_keys {
            Ok(())
        } else {
            Err(Error::config(
                "core",
                "the key store keeps private key material and needs a keyring (encryption key); \
                 set allow_plaintext_keys only if you accept unencrypted keys at rest",
            ))
        }
    }
}
