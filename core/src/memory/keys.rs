//! [`KeyStore`] in memory: named key sets under the keyed hash of their name, sealed, with
//! no expiry.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::table::{Row, Table, lock};
use super::{BACKEND, Node};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{KeySet, KeyStore, VersionedKeySet};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// The hashing domain of key set names.
const NAME_DOMAIN: &str = crate::domains::KEY_SET_NAME;

/// Key set rows. They never expire and are never purged.
#[derive(Debug)]
pub(super) struct KeyTable(pub(super) Table<IndexKey>);

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable(Table::new("key"))
    }
}

/// What is sealed under a key set's name. The version is sealed with the keys, so the
/// compare-and-set of `replace` rests on authenticated data.
#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    version: u64,
    keys: KeySet,
}

/// The memory [`KeyStore`].
#[derive(Debug)]
pub(super) struct MemoryKeyStore(pub(super) Node);

impl MemoryKeyStore {
    /// Checks that key material will be protected and hashes the name.
    fn key(&self, name: &str) -> Result<IndexKey> {
        self.0.config.check_key_material_protected()?;
        self.0.config.index_key("key set name", NAME_DOMAIN, name)
    }

    fn seal(&self, key: &IndexKey, version: u64, keys: KeySet) -> Result<(Row<()>, KeySet)> {
        let stored = StoredKeySet { version, keys };
        let blob = self.0.seal(Contract::Key, key.as_bytes(), &stored)?;
        let row = Row {
            expires_at: Timestamp::MAX,
            last_activity: None,
            meta: (),
            blob,
        };
        Ok((row, stored.keys))
    }
}

#[async_trait]
impl KeyStore for MemoryKeyStore {
    async fn load(&self, name: &str) -> Result<Option<VersionedKeySet>> {
        let key = self.key(name)?;
        let table = lock(&self.0.space.keys)?;
        let Some(row) = table.0.get(&key) else {
            return Ok(None);
        };
        let stored: StoredKeySet = self.0.unseal(Contract::Key, key.as_bytes(), &row.blob)?;
        Ok(Some(VersionedKeySet {
            version: stored.version,
            keys: stored.keys,
        }))
    }

    async fn insert(&self, name: &str, keys: KeySet) -> Result<VersionedKeySet> {
        let key = self.key(name)?;
        let (row, keys) = self.seal(&key, 1, keys)?;
        let mut table = lock(&self.0.space.keys)?;
        if table.0.get(&key).is_some() {
            return Err(Error::already_exists(
                BACKEND,
                "a key set with this name exists (another node inserted it first)",
            ));
        }
        table.0.insert(key, row);
        Ok(VersionedKeySet { version: 1, keys })
    }

    async fn replace(
        &self,
        name: &str,
        expected_version: u64,
        keys: KeySet,
    ) -> Result<VersionedKeySet> {
        let key = self.key(name)?;
        let version = expected_version
            .checked_add(1)
            .ok_or_else(|| Error::invalid_input(BACKEND, "key set version overflows"))?;
        // Sealed before the lock; thrown away if the version moved.
        let (row, keys) = self.seal(&key, version, keys)?;
        let mut table = lock(&self.0.space.keys)?;
        let Some(current) = table.0.get(&key) else {
            return Err(Error::not_found(BACKEND, "no key set with this name"));
        };
        let current: StoredKeySet = self
            .0
            .unseal(Contract::Key, key.as_bytes(), &current.blob)?;
        if current.version != expected_version {
            return Err(Error::conflict(
                BACKEND,
                format!(
                    "the key set is at version {}, not the expected {expected_version}",
                    current.version
                ),
            ));
        }
        table.0.insert(key, row);
        Ok(VersionedKeySet { version, keys })
    }
}
