//! [`KeyStore`] on LDAP: one entry per key set under `ou=key`, named by the keyed hash of
//! its name, sealed (version included), with the version in the clear for the assertion.
//! Key sets have no expiry and are never dynamic objects.
//!
//! | operation | LDAP operations                                                        |
//! |-----------|------------------------------------------------------------------------|
//! | `load`    | base search                                                            |
//! | `insert`  | add (1): entryAlreadyExists is `AlreadyExists`                          |
//! | `replace` | modify asserting the expected version (1): assertionFailed is `Conflict` |

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{Contract, Error, KeySet, KeyStore, Result, VersionedKeySet};
use serde::{Deserialize, Serialize};

use crate::BACKEND_NAME;
use crate::dir::{Added, Node, ReadBack, Written, int, replace, replace_int, text};
use crate::schema::{attr, class};

/// The hashing domain of key set names (the memory backend's).
const NAME_DOMAIN: &str = "key.name";
const CONTAINER: &str = "key";

/// What is sealed under a key set's name. The version is sealed with the keys, and must
/// agree with the version attribute the assertion reads.
#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    version: u64,
    keys: KeySet,
}

/// The LDAP [`KeyStore`].
#[derive(Debug)]
pub(crate) struct LdapKeyStore(pub(crate) Node);

impl LdapKeyStore {
    /// Checks that key material will be protected and hashes the name.
    fn key(&self, name: &str) -> Result<IndexKey> {
        self.0.config.check_key_material_protected()?;
        self.0.config.limits.check_key("key set name", name)?;
        Ok(self.0.config.hash(NAME_DOMAIN, name.as_bytes()))
    }
}

fn version_attr(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid_input(BACKEND_NAME, "key set version overflows"))
}

#[async_trait]
impl KeyStore for LdapKeyStore {
    async fn load(&self, name: &str) -> Result<Option<VersionedKeySet>> {
        let key = self.key(name)?;
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        let Some(entry) = self
            .0
            .read(&dn, "(objectClass=*)", &[attr::DATA, attr::VERSION])
            .await?
        else {
            return Ok(None);
        };
        let stored: StoredKeySet =
            self.0
                .unseal(Contract::Key, key.as_bytes(), entry.required(attr::DATA)?)?;
        if u64::try_from(entry.required_int(attr::VERSION)?).ok() != Some(stored.version) {
            return Err(Error::corrupt(
                BACKEND_NAME,
                "key record: the version attribute disagrees with the sealed key set",
            ));
        }
        Ok(Some(VersionedKeySet {
            version: stored.version,
            keys: stored.keys,
        }))
    }

    async fn insert(&self, name: &str, keys: KeySet) -> Result<VersionedKeySet> {
        let key = self.key(name)?;
        let stored = StoredKeySet { version: 1, keys };
        let blob = self.0.seal(Contract::Key, key.as_bytes(), &stored)?;
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        let attrs = vec![
            ("objectClass", self.0.classes(class::KEY_SET, None)),
            (attr::KEY, text(&key.to_hex())),
            (attr::VERSION, int(1)),
            (attr::DATA, vec![blob]),
        ];
        match self.0.add(&dn, attrs).await? {
            Added::Yes => Ok(VersionedKeySet {
                version: 1,
                keys: stored.keys,
            }),
            Added::Exists => Err(Error::already_exists(
                BACKEND_NAME,
                "a key set with this name exists (another node inserted it first)",
            )),
        }
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
        let stored = StoredKeySet { version, keys };
        let blob = self.0.seal(Contract::Key, key.as_bytes(), &stored)?;
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        let Ok(expected) = version_attr(expected_version) else {
            // No stored version is that large: the version moved, or there is no set.
            return match self.load(name).await? {
                Some(_) => Err(Error::conflict(
                    BACKEND_NAME,
                    format!("the key set is not at the expected version {expected_version}"),
                )),
                None => Err(Error::not_found(BACKEND_NAME, "no key set with this name")),
            };
        };
        let assertion = format!("({}={expected})", attr::VERSION);
        let mods = vec![
            replace(attr::DATA, blob),
            replace_int(attr::VERSION, version_attr(version)?),
        ];
        match self
            .0
            .modify(&dn, mods, Some(&assertion), ReadBack::None)
            .await?
        {
            Written::Done(_) => Ok(VersionedKeySet {
                version,
                keys: stored.keys,
            }),
            Written::AssertionFailed => Err(Error::conflict(
                BACKEND_NAME,
                format!("the key set is no longer at the expected version {expected_version}"),
            )),
            Written::NoSuchObject => {
                Err(Error::not_found(BACKEND_NAME, "no key set with this name"))
            }
        }
    }
}
