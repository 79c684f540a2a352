//! What every store of one opened namespace shares: the pool, the store config, the
//! namespace's table names, and sealing with the store's codec.

use std::sync::Arc;

use authstate_core::codec::IndexKey;
use authstate_core::{Contract, Error, Result, StoreConfig, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::Db;
use crate::dialect::{Dialect, Tables};
use crate::error::{corrupt, from_codec};

/// One "node": the stores opened by one [`crate::SqlBackend::open`] call.
#[derive(Debug)]
pub(crate) struct Node {
    pub db: Db,
    pub config: StoreConfig,
    pub tables: Tables,
}

/// Shared by the ten stores of one node.
pub(crate) type SharedNode = Arc<Node>;

impl Node {
    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect
    }

    /// The backend name on errors.
    pub fn name(&self) -> &'static str {
        self.db.dialect.name()
    }

    /// Now, from the store's clock, in milliseconds.
    pub fn now(&self) -> Timestamp {
        self.config.now()
    }

    /// The keyed hash of `value` in `domain`.
    pub fn hash(&self, domain: &str, value: &[u8]) -> IndexKey {
        self.config.hash(domain, value)
    }

    /// Seals `value` as the `contract` record stored under `key`.
    pub fn seal<T: Serialize>(&self, contract: Contract, key: &[u8], value: &T) -> Result<Vec<u8>> {
        let ad = self.config.ad(contract, key);
        self.config
            .codec
            .encode(&ad, value)
            .map_err(|e| from_codec(self.dialect(), contract, e))
    }

    /// Opens the `contract` record stored under `key`. A record that does not open is
    /// `Corrupt`, never "absent".
    pub fn unseal<T: DeserializeOwned>(
        &self,
        contract: Contract,
        key: &[u8],
        blob: &[u8],
    ) -> Result<T> {
        let ad = self.config.ad(contract, key);
        self.config
            .codec
            .decode(&ad, blob)
            .map_err(|e| from_codec(self.dialect(), contract, e))
    }

    /// Whether `blob` (which opened) was sealed with something other than the keyring's
    /// write key — plaintext accepted during a migration, or an older read key — and so
    /// should be rewritten when its record is next written.
    pub fn needs_reseal(&self, blob: &[u8]) -> bool {
        !self.config.codec.is_current(blob)
    }

    /// A `Corrupt` error under this backend's name.
    pub fn corrupt(&self, message: impl Into<String>) -> Error {
        corrupt(self.dialect(), message)
    }
}

/// An [`IndexKey`] back from the 32 bytes stored for it.
pub(crate) fn index_key(dialect: Dialect, bytes: &[u8; 32]) -> Result<IndexKey> {
    IndexKey::from_hex(&hex::encode(bytes))
        .map_err(|e| corrupt(dialect, "a stored index key does not parse").with_source(e))
}

/// The bytes hashed for a pair of values: the first value's length, then both (as the
/// memory backend does), so `("ab", "c")` and `("a", "bc")` stay apart.
pub(crate) fn pair_bytes(first: &str, second: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + first.len() + second.len());
    out.extend_from_slice(&(first.len() as u64).to_be_bytes());
    out.extend_from_slice(first.as_bytes());
    out.extend_from_slice(second.as_bytes());
    out
}

/// A stored BIGINT that must be a non-negative count or version.
pub(crate) fn to_u64(dialect: Dialect, what: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(dialect, format!("a stored {what} is negative ({v})")))
}

/// A count or version to store as BIGINT.
pub(crate) fn to_i64(dialect: Dialect, what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        Error::invalid_input(dialect.name(), format!("{what} {v} does not fit a BIGINT"))
    })
}
