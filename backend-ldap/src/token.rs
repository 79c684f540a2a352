//! [`TokenStore`] on LDAP: one entry per reference token under `ou=token`, named by the
//! keyed hash of the token value, sealed, with the keyed hashes of its subject, grant and
//! (subject, client) pair in the clear for the revoke-by searches.
//!
//! | operation                      | LDAP operations                                  |
//! |--------------------------------|--------------------------------------------------|
//! | `insert`                       | add (1); on entryAlreadyExists, a delete asserting the old token expired, then the add again |
//! | `get`                          | base search filtered on the expiry               |
//! | `revoke`                       | delete + pre-read of the expiry                  |
//! | `revoke_by_grant` / `_subject` / `_subject_and_client` | one-level search, then a delete + pre-read per token (each counted once, by whoever deleted it) |

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    Contract, Error, NewToken, Purge, PurgePolicy, PurgeReport, Result, TokenRecord, TokenStore,
};

use crate::BACKEND_NAME;
use crate::dir::{Added, Node, Written, at_or_before, dead, live, text};
use crate::schema::{attr, class};

/// The hashing domain of token values (the memory backend's).
const VALUE_DOMAIN: &str = "token.value";
/// The hashing domain of subjects in the token indexes.
const SUBJECT_DOMAIN: &str = "token.subject";
/// The hashing domain of grant ids.
const GRANT_DOMAIN: &str = "token.grant";
/// The hashing domain of (subject, client id) pairs.
const CLIENT_DOMAIN: &str = "token.client";
const CONTAINER: &str = "token";
const MAX_ATTEMPTS: usize = 4;

/// The LDAP [`TokenStore`].
#[derive(Debug)]
pub(crate) struct LdapTokenStore(pub(crate) Node);

impl LdapTokenStore {
    fn value_key(&self, token: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("token", token)?;
        Ok(self.0.config.hash(VALUE_DOMAIN, token.as_bytes()))
    }

    fn subject_hash(&self, subject: &str) -> Result<String> {
        self.0.config.limits.check_key("token subject", subject)?;
        Ok(self
            .0
            .config
            .hash(SUBJECT_DOMAIN, subject.as_bytes())
            .to_hex())
    }

    fn client_hash(&self, subject: &str, client_id: &str) -> Result<String> {
        self.0.config.limits.check_key("token subject", subject)?;
        self.0
            .config
            .limits
            .check_key("token client id", client_id)?;
        Ok(self
            .0
            .config
            .hash(CLIENT_DOMAIN, &crate::pair_bytes(subject, client_id))
            .to_hex())
    }

    fn grant_hash(&self, grant_id: &str) -> Result<String> {
        self.0.config.limits.check_key("token grant id", grant_id)?;
        Ok(self
            .0
            .config
            .hash(GRANT_DOMAIN, grant_id.as_bytes())
            .to_hex())
    }

    /// Deletes every token matching `filter`; returns how many were active.
    async fn revoke_matching(&self, filter: String) -> Result<u64> {
        let now = self.0.now();
        let entries = self
            .0
            .search(&self.0.container(CONTAINER), &filter, &["1.1"])
            .await?;
        let mut revoked = 0;
        for entry in entries {
            // The pre-read tells whether it was active; a concurrent revoker that got
            // there first makes this delete fail, so each token counts once.
            if let Written::Done(Some(before)) =
                self.0.delete(&entry.dn, None, &[attr::EXPIRES_AT]).await?
                && before.required_int(attr::EXPIRES_AT)? > now.as_millis()
            {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

#[async_trait]
impl TokenStore for LdapTokenStore {
    async fn insert(&self, token: &str, new: NewToken) -> Result<TokenRecord> {
        let key = self.value_key(token)?;
        let subject = self.subject_hash(&new.subject)?;
        let grant = new
            .grant_id
            .as_deref()
            .map(|g| self.grant_hash(g))
            .transpose()?;
        let client = self.client_hash(&new.subject, &new.client_id)?;
        let limits = &self.0.config.limits;
        limits.check_payload("token data", new.data.len())?;
        limits.check_ttl("token ttl", new.ttl)?;
        let now = self.0.now();
        let record = TokenRecord {
            subject: new.subject,
            client_id: new.client_id,
            grant_id: new.grant_id,
            data: new.data,
            issued_at: now,
            expires_at: now.saturating_add(new.ttl),
        };
        let blob = self.0.seal(Contract::Token, key.as_bytes(), &record)?;
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        for _ in 0..MAX_ATTEMPTS {
            let mut attrs = vec![
                ("objectClass", self.0.classes(class::TOKEN, Some(new.ttl))),
                (attr::KEY, text(&key.to_hex())),
                (attr::SUBJECT, text(&subject)),
                (attr::CLIENT, text(&client)),
                (attr::DATA, vec![blob.clone()]),
            ];
            if let Some(grant) = &grant {
                attrs.push((attr::GRANT, text(grant)));
            }
            attrs.extend(self.0.expiry(record.expires_at.as_millis()));
            if self.0.add(&dn, attrs).await? == Added::Yes {
                self.0.refresh_ttl(&dn, Some(new.ttl));
                return Ok(record);
            }
            // An expired token under the same value is replaced; an active one is not.
            if let Written::AssertionFailed = self.0.delete(&dn, Some(&dead(now)), &[]).await? {
                return Err(Error::already_exists(
                    BACKEND_NAME,
                    "an active token with this value exists",
                ));
            }
        }
        Err(Error::conflict(
            BACKEND_NAME,
            "the token value kept being re-used concurrently; try again",
        ))
    }

    async fn get(&self, token: &str) -> Result<Option<TokenRecord>> {
        let key = self.value_key(token)?;
        let now = self.0.now();
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        match self.0.read(&dn, &live(now), &[attr::DATA]).await? {
            Some(entry) => {
                let record: TokenRecord =
                    self.0
                        .unseal(Contract::Token, key.as_bytes(), entry.required(attr::DATA)?)?;
                // The sealed expiry decides too.
                Ok((now < record.expires_at).then_some(record))
            }
            None => Ok(None),
        }
    }

    async fn revoke(&self, token: &str) -> Result<bool> {
        let key = self.value_key(token)?;
        let now = self.0.now();
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        match self.0.delete(&dn, None, &[attr::EXPIRES_AT]).await? {
            Written::Done(Some(before)) => {
                Ok(before.required_int(attr::EXPIRES_AT)? > now.as_millis())
            }
            _ => Ok(false),
        }
    }

    async fn revoke_by_grant(&self, grant_id: &str) -> Result<u64> {
        let grant = self.grant_hash(grant_id)?;
        self.revoke_matching(format!("({}={grant})", attr::GRANT))
            .await
    }

    async fn revoke_by_subject(&self, subject: &str) -> Result<u64> {
        let subject = self.subject_hash(subject)?;
        self.revoke_matching(format!("({}={subject})", attr::SUBJECT))
            .await
    }

    async fn revoke_by_subject_and_client(&self, subject: &str, client_id: &str) -> Result<u64> {
        let client = self.client_hash(subject, client_id)?;
        self.revoke_matching(format!("({}={client})", attr::CLIENT))
            .await
    }
}

#[async_trait]
impl Purge for LdapTokenStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        self.0
            .purge(CONTAINER, policy, |cutoff| {
                at_or_before(attr::EXPIRES_AT, cutoff.expiry)
            })
            .await
    }
}
