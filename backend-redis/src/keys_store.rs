//! [`KeyStore`] on Redis: one hash per key set under the keyed hash of its name (`v`
//! version, `d` the sealed key set with its version inside). No TTL: key sets survive as
//! long as the server's data does.
//!
//! The scripts compare the plaintext `v`; every read checks it against the version
//! sealed with the keys, so an edited `v` reads as `Corrupt`.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `load` | 1 `HMGET` |
//! | `insert` | 1 script (`keys_insert`) |
//! | `replace` | 1 script (`keys_replace`) |

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{Contract, Error, KeySet, KeyStore, Result, VersionedKeySet};
use serde::{Deserialize, Serialize};

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, reply};
use crate::keys::Code;
use crate::scripts::{KEYS_INSERT, KEYS_REPLACE};

/// The hashing domain of key set names (as in the memory backend).
const NAME_DOMAIN: &str = "key.name";

/// What is sealed under a key set's name.
#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    version: u64,
    keys: KeySet,
}

/// The Redis [`KeyStore`].
#[derive(Debug)]
pub(crate) struct RedisKeyStore(pub(crate) Node);

impl RedisKeyStore {
    /// Checks that key material will be protected and hashes the name.
    fn key(&self, name: &str) -> Result<IndexKey> {
        self.0.config.check_key_material_protected()?;
        self.0.config.limits.check_key("key set name", name)?;
        Ok(self.0.hash(NAME_DOMAIN, name.as_bytes()))
    }

    fn seal(&self, key: &IndexKey, version: u64, keys: KeySet) -> Result<(Vec<u8>, KeySet)> {
        let stored = StoredKeySet { version, keys };
        let blob = self.0.seal(Contract::Key, key.as_bytes(), &stored)?;
        Ok((blob, stored.keys))
    }
}

#[async_trait]
impl KeyStore for RedisKeyStore {
    async fn load(&self, name: &str) -> Result<Option<VersionedKeySet>> {
        let key = self.key(name)?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.0.keys.record(Code::Key, &key))
            .arg("v")
            .arg("d");
        let fields = reply::array(self.0.query(&cmd, Write::No).await?, "key set load")?;
        let mut it = fields.into_iter();
        let mut next = || it.next().unwrap_or(redis::Value::Nil);
        let (v, d) = (next(), next());
        let Some(sealed) = reply::opt_bytes(d, "key set")? else {
            return Ok(None);
        };
        let version = reply::int(&v, "key set version")?;
        let stored: StoredKeySet = self.0.unseal(Contract::Key, key.as_bytes(), &sealed)?;
        if u64::try_from(version).ok() != Some(stored.version) {
            return Err(Error::corrupt(
                BACKEND_NAME,
                "key set record: the stored version disagrees with the sealed one",
            ));
        }
        Ok(Some(VersionedKeySet {
            version: stored.version,
            keys: stored.keys,
        }))
    }

    async fn insert(&self, name: &str, keys: KeySet) -> Result<VersionedKeySet> {
        let key = self.key(name)?;
        let (blob, keys) = self.seal(&key, 1, keys)?;
        let record = [self.0.keys.record(Code::Key, &key)];
        let inserted = self
            .0
            .eval(&KEYS_INSERT, &record, Args::new().bytes(blob), Write::Yes)
            .await?;
        if reply::int(&inserted, "key set insert")? != 1 {
            return Err(Error::already_exists(
                BACKEND_NAME,
                "a key set with this name exists (another node inserted it first)",
            ));
        }
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
            .ok_or_else(|| Error::invalid_input(BACKEND_NAME, "key set version overflows"))?;
        // Sealed before the round trip; thrown away if the version moved.
        let (blob, keys) = self.seal(&key, version, keys)?;
        let record = [self.0.keys.record(Code::Key, &key)];
        let args = Args::new().bytes(expected_version.to_string()).bytes(blob);
        let replaced = self
            .0
            .eval(&KEYS_REPLACE, &record, args, Write::Yes)
            .await?;
        let items = reply::array(replaced, "key set replace")?;
        match reply::status(&items, "key set replace")? {
            0 => Err(Error::not_found(BACKEND_NAME, "no key set with this name")),
            1 => {
                let at = reply::int(
                    items.get(1).unwrap_or(&redis::Value::Nil),
                    "key set version",
                )?;
                Err(Error::conflict(
                    BACKEND_NAME,
                    format!("the key set is at version {at}, not the expected {expected_version}"),
                ))
            }
            _ => Ok(VersionedKeySet { version, keys }),
        }
    }
}
