//! [`KeyStore`] on SQL: named key sets under the keyed hash of their name, sealed with
//! their version, never expiring.
//!
//! `insert` is `INSERT … ON CONFLICT DO NOTHING` (MariaDB: `INSERT`, a duplicate key is
//! `AlreadyExists`); `replace` is one compare-and-set, `UPDATE … WHERE version = $v`
//! (the caller gives the whole key set, so the new record is sealed before the
//! statement); `load` is one `SELECT`. The version column is what the compare-and-set
//! tests; the sealed copy of the version must agree with it on every read.

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{Contract, Error, KeySet, KeyStore, Result, VersionedKeySet};
use serde::{Deserialize, Serialize};

use crate::connection::{Arg, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::error::{is_unique_violation, map};
use crate::node::{SharedNode, to_i64, to_u64};

/// The hashing domain of key set names; the same in every backend.
const NAME_DOMAIN: &str = authstate_core::domains::KEY_SET_NAME;

/// What is sealed under a key set's name (the memory backend's format).
#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    version: u64,
    keys: KeySet,
}

pub(crate) struct KeySql {
    insert: Stmt,
    load: Stmt,
    replace: Stmt,
}

impl KeySql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let k = &t.key_sets;
        let insert = match d {
            Dialect::MySql => format!("INSERT INTO {k} (k, version, data) VALUES ($1, $2, $3)"),
            _ => format!(
                "INSERT INTO {k} (k, version, data) VALUES ($1, $2, $3) ON CONFLICT (k) DO NOTHING"
            ),
        };
        KeySql {
            insert: Stmt::new(d, insert),
            load: Stmt::new(d, format!("SELECT version, data FROM {k} WHERE k = $1")),
            replace: Stmt::new(
                d,
                format!("UPDATE {k} SET version = $3, data = $4 WHERE k = $1 AND version = $2"),
            ),
        }
    }
}

/// The SQL [`KeyStore`].
pub(crate) struct SqlKeyStore {
    pub node: SharedNode,
    pub sql: KeySql,
}

impl std::fmt::Debug for SqlKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlKeyStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SqlKeyStore {
    /// Checks that key material will be protected and hashes the name.
    fn key(&self, name: &str) -> Result<IndexKey> {
        self.node.config.check_key_material_protected()?;
        self.node.config.limits.check_key("key set name", name)?;
        Ok(self.node.hash(NAME_DOMAIN, name.as_bytes()))
    }

    async fn load_row(&self, key: &IndexKey) -> Result<Option<VersionedKeySet>> {
        let row = retrying!(
            self.node
                .db
                .fetch_optional(&self.sql.load, &[Arg::Bytes(key.as_bytes())])
                .await
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version = to_u64(self.node.dialect(), "key set version", row.int(0)?)?;
        let blob = row.bytes(1)?;
        let stored: StoredKeySet = self.node.unseal(Contract::Key, key.as_bytes(), &blob)?;
        if stored.version != version {
            return Err(self
                .node
                .corrupt("key record: the sealed version disagrees with the version column"));
        }
        Ok(Some(VersionedKeySet {
            version,
            keys: stored.keys,
        }))
    }
}

#[async_trait]
impl KeyStore for SqlKeyStore {
    async fn load(&self, name: &str) -> Result<Option<VersionedKeySet>> {
        let key = self.key(name)?;
        self.load_row(&key).await
    }

    async fn insert(&self, name: &str, keys: KeySet) -> Result<VersionedKeySet> {
        let key = self.key(name)?;
        let stored = StoredKeySet { version: 1, keys };
        let blob = self.node.seal(Contract::Key, key.as_bytes(), &stored)?;
        let args = [Arg::Bytes(key.as_bytes()), Arg::Int(1), Arg::Bytes(&blob)];
        let inserted = retrying!(
            match self.node.db.try_execute(&self.sql.insert, &args).await {
                Ok(n) => Ok(n == 1),
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(map(self.node.dialect(), e)),
            }
        )?;
        if !inserted {
            return Err(Error::already_exists(
                self.node.name(),
                "a key set with this name exists (another node inserted it first)",
            ));
        }
        Ok(VersionedKeySet {
            version: 1,
            keys: stored.keys,
        })
    }

    async fn replace(
        &self,
        name: &str,
        expected_version: u64,
        keys: KeySet,
    ) -> Result<VersionedKeySet> {
        let key = self.key(name)?;
        let d = self.node.dialect();
        let version = expected_version
            .checked_add(1)
            .ok_or_else(|| Error::invalid_input(self.node.name(), "key set version overflows"))?;
        let stored = StoredKeySet { version, keys };
        let blob = self.node.seal(Contract::Key, key.as_bytes(), &stored)?;
        let args = [
            Arg::Bytes(key.as_bytes()),
            Arg::Int(to_i64(d, "key set version", expected_version)?),
            Arg::Int(to_i64(d, "key set version", version)?),
            Arg::Bytes(&blob),
        ];
        let replaced = retrying!(self.node.db.execute(&self.sql.replace, &args).await)?;
        if replaced == 1 {
            return Ok(VersionedKeySet {
                version,
                keys: stored.keys,
            });
        }
        // The compare-and-set lost: tell a moved version from an unknown name.
        match self.load_row(&key).await? {
            Some(current) => Err(Error::conflict(
                self.node.name(),
                format!(
                    "the key set is at version {}, not the expected {expected_version}",
                    current.version
                ),
            )),
            None => Err(Error::not_found(
                self.node.name(),
                "no key set with this name",
            )),
        }
    }
}
