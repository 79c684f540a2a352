//! [`TokenStore`] in memory: reference tokens under the keyed hash of their value,
//! indexed by the keyed hashes of their subject, grant, and subject with client.

use async_trait::async_trait;

use super::table::{Index, Row, Table, lock, purge_in_batches};
use super::{BACKEND, Node, pair_bytes};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{NewToken, Purge, PurgePolicy, PurgeReport, TokenRecord, TokenStore};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// The hashing domain of token values.
const VALUE_DOMAIN: &str = crate::domains::TOKEN_VALUE;
/// The hashing domain of subjects in the token indexes.
const SUBJECT_DOMAIN: &str = crate::domains::TOKEN_SUBJECT;
/// The hashing domain of grant ids.
const GRANT_DOMAIN: &str = crate::domains::TOKEN_GRANT;
/// The hashing domain of (subject, client id) pairs.
const CLIENT_DOMAIN: &str = crate::domains::TOKEN_CLIENT;

/// The index entries a token is listed under, kept beside the row (as a server keeps
/// them as columns) so they can be pruned without opening the record.
#[derive(Debug, Clone, Copy)]
pub(super) struct TokenLinks {
    subject: IndexKey,
    grant: Option<IndexKey>,
    subject_client: IndexKey,
}

/// The token rows and their three indexes.
#[derive(Debug)]
pub(super) struct TokenTables {
    pub(super) tokens: Table<IndexKey, TokenLinks>,
    pub(super) by_subject: Index,
    pub(super) by_grant: Index,
    pub(super) by_client: Index,
}

impl Default for TokenTables {
    fn default() -> Self {
        TokenTables {
            tokens: Table::new("token"),
            by_subject: Index::new(SUBJECT_DOMAIN),
            by_grant: Index::new(GRANT_DOMAIN),
            by_client: Index::new(CLIENT_DOMAIN),
        }
    }
}

impl TokenTables {
    /// Drops `key` from the indexes `links` names.
    fn unlink(&mut self, key: &IndexKey, links: &TokenLinks) {
        self.by_subject.remove(&links.subject, key);
        if let Some(grant) = &links.grant {
            self.by_grant.remove(grant, key);
        }
        self.by_client.remove(&links.subject_client, key);
    }

    /// Removes a token (live or not) and its index entries; returns whether it was
    /// active at `now`.
    fn revoke(&mut self, key: &IndexKey, now: Timestamp) -> bool {
        match self.tokens.remove(key) {
            Some(row) => {
                self.unlink(key, &row.meta);
                row.is_live_at(now)
            }
            None => false,
        }
    }

    /// Revokes every token listed in `members`; returns how many were active.
    fn revoke_all(&mut self, members: Vec<IndexKey>, now: Timestamp) -> u64 {
        let mut revoked = 0;
        for key in members {
            if self.revoke(&key, now) {
                revoked += 1;
            }
        }
        revoked
    }
}

/// The memory [`TokenStore`].
#[derive(Debug)]
pub(super) struct MemoryTokenStore(pub(super) Node);

impl MemoryTokenStore {
    fn value_key(&self, token: &str) -> Result<IndexKey> {
        self.0.config.index_key("token", VALUE_DOMAIN, token)
    }

    fn subject_key(&self, subject: &str) -> Result<IndexKey> {
        self.0
            .config
            .index_key("token subject", SUBJECT_DOMAIN, subject)
    }

    fn client_key(&self, subject: &str, client_id: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("token subject", subject)?;
        self.0
            .config
            .limits
            .check_key("token client id", client_id)?;
        Ok(self
            .0
            .config
            .hash(CLIENT_DOMAIN, &pair_bytes(subject, client_id)))
    }

    fn grant_key(&self, grant_id: &str) -> Result<IndexKey> {
        self.0
            .config
            .index_key("token grant id", GRANT_DOMAIN, grant_id)
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn insert(&self, token: &str, new: NewToken) -> Result<TokenRecord> {
        let key = self.value_key(token)?;
        let links = TokenLinks {
            subject: self.subject_key(&new.subject)?,
            grant: new
                .grant_id
                .as_deref()
                .map(|g| self.grant_key(g))
                .transpose()?,
            subject_client: self.client_key(&new.subject, &new.client_id)?,
        };
        let limits = &self.0.config.limits;
        limits.check_payload("token data", new.data.len())?;
        limits.check_ttl("token ttl", new.ttl)?;
        let now = self.0.config.now();
        let record = TokenRecord {
            subject: new.subject,
            client_id: new.client_id,
            grant_id: new.grant_id,
            data: new.data,
            issued_at: now,
            expires_at: now.saturating_add(new.ttl),
        };
        let blob = self.0.seal(Contract::Token, key.as_bytes(), &record)?;
        let mut tables = lock(&self.0.space.tokens)?;
        if tables.tokens.live(&key, now).is_some() {
            return Err(Error::already_exists(
                BACKEND,
                "an active token with this value exists",
            ));
        }
        // An expired token under the same value is replaced: its index entries go first.
        tables.revoke(&key, now);
        tables.by_subject.add(links.subject, key);
        if let Some(grant) = links.grant {
            tables.by_grant.add(grant, key);
        }
        tables.by_client.add(links.subject_client, key);
        tables.tokens.insert(
            key,
            Row {
                expires_at: record.expires_at,
                last_activity: None,
                meta: links,
                blob,
            },
        );
        Ok(record)
    }

    async fn get(&self, token: &str) -> Result<Option<TokenRecord>> {
        let key = self.value_key(token)?;
        let now = self.0.config.now();
        let tables = lock(&self.0.space.tokens)?;
        match tables.tokens.live(&key, now) {
            Some(row) => self
                .0
                .unseal(Contract::Token, key.as_bytes(), &row.blob)
                .map(Some),
            None => Ok(None),
        }
    }

    async fn revoke(&self, token: &str) -> Result<bool> {
        let key = self.value_key(token)?;
        let now = self.0.config.now();
        Ok(lock(&self.0.space.tokens)?.revoke(&key, now))
    }

    async fn revoke_by_grant(&self, grant_id: &str) -> Result<u64> {
        let grant = self.grant_key(grant_id)?;
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.tokens)?;
        let members = tables.by_grant.members(&grant);
        Ok(tables.revoke_all(members, now))
    }

    async fn revoke_by_subject(&self, subject: &str) -> Result<u64> {
        let subject = self.subject_key(subject)?;
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.tokens)?;
        let members = tables.by_subject.members(&subject);
        Ok(tables.revoke_all(members, now))
    }

    async fn revoke_by_subject_and_client(&self, subject: &str, client_id: &str) -> Result<u64> {
        let pair = self.client_key(subject, client_id)?;
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.tokens)?;
        let members = tables.by_client.members(&pair);
        Ok(tables.revoke_all(members, now))
    }
}

#[async_trait]
impl Purge for MemoryTokenStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.tokens,
            &self.0.config.clock,
            policy,
            |tables, cutoff, limit| {
                let removed = tables.tokens.purge_batch(cutoff, limit);
                for (key, row) in &removed {
                    tables.unlink(key, &row.meta);
                }
                removed.len()
            },
        )
    }
}
