//! [`StateStore`] on LDAP: one entry per value under `ou=state`, named by the keyed hash
//! of its key, with the sealed value and its expiry.
//!
//! | operation       | LDAP operations                                                     |
//! |-----------------|---------------------------------------------------------------------|
//! | `put`           | modify replacing value and expiry (1); add when there is none       |
//! | `put_if_absent` | add (1); on entryAlreadyExists, a delete asserting the old one expired, then the add again |
//! | `get`           | base search filtered on the expiry                                  |
//! | `remove`        | delete + pre-read of the expiry                                     |
//!
//! State values are never dynamic objects (with the dds mode): a `put` can move the
//! expiry later, and an entryTtl set for the earlier expiry must not remove it.

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{Contract, Error, Purge, PurgePolicy, PurgeReport, Result, StateStore};

use crate::BACKEND_NAME;
use crate::dir::{Added, Node, Written, at_or_before, dead, live, replace, text};
use crate::schema::{attr, class};

/// The hashing domain of state keys (the memory backend's).
const KEY_DOMAIN: &str = "state.key";
const CONTAINER: &str = "state";
const MAX_ATTEMPTS: usize = 4;

/// The LDAP [`StateStore`].
#[derive(Debug)]
pub(crate) struct LdapStateStore(pub(crate) Node);

/// A checked, sealed value ready to write.
struct Prepared {
    key: IndexKey,
    dn: String,
    blob: Vec<u8>,
    expires_at: i64,
}

impl LdapStateStore {
    fn key(&self, key: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("state key", key)?;
        Ok(self.0.config.hash(KEY_DOMAIN, key.as_bytes()))
    }

    fn prepare(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<Prepared> {
        let key = self.key(key)?;
        let limits = &self.0.config.limits;
        limits.check_payload("state value", value.len())?;
        limits.check_ttl("state ttl", ttl)?;
        let blob = self.0.seal(Contract::State, key.as_bytes(), &value)?;
        Ok(Prepared {
            dn: self.0.dn(CONTAINER, &key.to_hex()),
            expires_at: self.0.now().saturating_add(ttl).as_millis(),
            key,
            blob,
        })
    }

    async fn add(&self, p: &Prepared) -> Result<Added> {
        let mut attrs = vec![
            ("objectClass", self.0.classes(class::STATE, None)),
            (attr::KEY, text(&p.key.to_hex())),
            (attr::DATA, vec![p.blob.clone()]),
        ];
        attrs.extend(self.0.expiry(p.expires_at));
        self.0.add(&p.dn, attrs).await
    }
}

#[async_trait]
impl StateStore for LdapStateStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<()> {
        let p = self.prepare(key, value, ttl)?;
        for _ in 0..MAX_ATTEMPTS {
            let mut mods = vec![replace(attr::DATA, p.blob.clone())];
            mods.extend(self.0.set_expiry(p.expires_at));
            match self
                .0
                .modify(&p.dn, mods, None, crate::dir::ReadBack::None)
                .await?
            {
                Written::Done(_) => return Ok(()),
                Written::AssertionFailed => {}
                Written::NoSuchObject => {
                    if self.add(&p).await? == Added::Yes {
                        return Ok(());
                    }
                    // Added by a concurrent put meanwhile: replace it.
                }
            }
        }
        Err(Error::conflict(
            BACKEND_NAME,
            "the state value kept being created and removed concurrently; try again",
        ))
    }

    async fn put_if_absent(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool> {
        let p = self.prepare(key, value, ttl)?;
        let now = self.0.now();
        for _ in 0..MAX_ATTEMPTS {
            if self.add(&p).await? == Added::Yes {
                return Ok(true);
            }
            // An expired value counts as absent: remove it only if the server still sees
            // it expired, then try the add again. A live one stays.
            match self.0.delete(&p.dn, Some(&dead(now)), &[]).await? {
                Written::AssertionFailed => return Ok(false),
                Written::Done(_) | Written::NoSuchObject => {}
            }
        }
        Err(Error::conflict(
            BACKEND_NAME,
            "the state key kept being re-used by concurrent writers; try again",
        ))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(key)?;
        let now = self.0.now();
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        match self.0.read(&dn, &live(now), &[attr::DATA]).await? {
            Some(entry) => self
                .0
                .unseal(Contract::State, key.as_bytes(), entry.required(attr::DATA)?)
                .map(Some),
            None => Ok(None),
        }
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        let key = self.key(key)?;
        let now = self.0.now();
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        match self.0.delete(&dn, None, &[attr::EXPIRES_AT]).await? {
            Written::Done(Some(before)) => {
                Ok(before.required_int(attr::EXPIRES_AT)? > now.as_millis())
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl Purge for LdapStateStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        self.0
            .purge(CONTAINER, policy, |cutoff| {
                at_or_before(attr::EXPIRES_AT, cutoff.expiry)
            })
            .await
    }
}
