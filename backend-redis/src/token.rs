//! [`TokenStore`] on Redis: one hash per token under the keyed hash of its value (`e`
//! expiry, `d` the sealed record, and the raw keyed hashes `s`, `g`, `c` of its subject,
//! grant and subject+client), listed in three owner indexes.
//!
//! `revoke` of one token does not know its owners (only the value is given), so its
//! owner index entries stay until they expire or a by-owner revocation passes; the
//! by-owner revocations check each record's owner field, so an entry that outlived its
//! token never revokes another.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `insert` | 1 script (`token_insert`) |
//! | `get` | 1 `HMGET` |
//! | `revoke` | 1 script (`remove_live`) |
//! | `revoke_by_grant`, `revoke_by_subject`, `revoke_by_subject_and_client` | 2 scripts (learn the members, then revoke them all) |
//!
//! On Redis Cluster a token's owner indexes are in other slots than the token: `insert`
//! first lists the token in each owner index (one script each) and then stores it, and
//! a by-owner revocation reads the index and revokes each listed token with a script in
//! its own slot, until the index lists nothing it has not visited.

use std::collections::HashSet;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    Contract, Error, NewToken, Purge, PurgePolicy, PurgeReport, Result, Timestamp, TokenRecord,
    TokenStore,
};
use redis::Value;

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, index_key, later, pair_bytes, reply};
use crate::keys::{Code, TokenOwner};
use crate::purge::{self, Kind};
use crate::scripts::{
    REMOVE_LIVE, TOKEN_INSERT, TOKEN_OWNER_ADD, TOKEN_REVOKE_ONE, TOKEN_REVOKE_OWNER,
};

/// The hashing domain of token values (as in the memory backend).
const VALUE_DOMAIN: &str = "token.value";
/// The hashing domain of subjects in the token indexes.
const SUBJECT_DOMAIN: &str = "token.subject";
/// The hashing domain of grant ids.
const GRANT_DOMAIN: &str = "token.grant";
/// The hashing domain of (subject, client id) pairs.
const CLIENT_DOMAIN: &str = "token.client";

/// How often a by-owner revocation starts again because tokens were added under it.
const MAX_ROUNDS: usize = 32;

/// The Redis [`TokenStore`].
#[derive(Debug)]
pub(crate) struct RedisTokenStore(pub(crate) Node);

impl RedisTokenStore {
    fn value_key(&self, token: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("token", token)?;
        Ok(self.0.hash(VALUE_DOMAIN, token.as_bytes()))
    }

    fn subject_key(&self, subject: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("token subject", subject)?;
        Ok(self.0.hash(SUBJECT_DOMAIN, subject.as_bytes()))
    }

    fn client_key(&self, subject: &str, client_id: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("token subject", subject)?;
        self.0
            .config
            .limits
            .check_key("token client id", client_id)?;
        Ok(self.0.hash(CLIENT_DOMAIN, &pair_bytes(subject, client_id)))
    }

    fn grant_key(&self, grant_id: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("token grant id", grant_id)?;
        Ok(self.0.hash(GRANT_DOMAIN, grant_id.as_bytes()))
    }

    /// Revokes every token listed under `owner`: learns the index members, then revokes
    /// them all in one script that checks it was told every member.
    async fn revoke_owner(&self, kind: TokenOwner, owner: &IndexKey) -> Result<u64> {
        if self.0.cluster {
            return self.revoke_owner_by_slot(kind, owner).await;
        }
        let ks = &self.0.keys;
        let index = ks.token_owner(kind, owner);
        let mut members: Vec<Vec<u8>> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let mut keys = Vec::with_capacity(1 + members.len());
            keys.push(index.clone());
            let mut args = Args::new()
                .int(self.0.now())
                .bytes(kind.field())
                .bytes(owner.as_bytes().to_vec());
            for member in &members {
                let key = index_key(member)?;
                keys.push(ks.record(Code::Token, &key));
                args.push(member.clone());
            }
            let result = self
                .0
                .eval(&TOKEN_REVOKE_OWNER, &keys, args, Write::Yes)
                .await?;
            let items = reply::array(result, "token revoke by owner")?;
            let second = items.get(1).cloned().unwrap_or(Value::Nil);
            if reply::status(&items, "token revoke by owner")? == 0 {
                members = reply::array(second, "token owner members")?
                    .into_iter()
                    .map(|m| reply::bytes(m, "token owner member"))
                    .collect::<Result<_>>()?;
                continue;
            }
            let revoked = reply::int(&second, "token revoke by owner")?;
            return Ok(u64::try_from(revoked).unwrap_or(0));
        }
        Err(kept_adding())
    }

    /// [`Self::revoke_owner`] on Redis Cluster, where the owner index and the tokens are
    /// in different slots: reads the index, revokes each listed token in its own slot
    /// (checking it still belongs to the owner), and reads the index again until it lists
    /// nothing new. Tokens are listed before they are stored, so every token of the owner
    /// stored before the call is among those visited.
    async fn revoke_owner_by_slot(&self, kind: TokenOwner, owner: &IndexKey) -> Result<u64> {
        let ks = &self.0.keys;
        let index = ks.token_owner(kind, owner);
        let mut visited: HashSet<Vec<u8>> = HashSet::new();
        let mut revoked = 0;
        for _ in 0..MAX_ROUNDS {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(&index).arg(0).arg(-1);
            let listed = reply::array(self.0.query(&cmd, Write::No).await?, "token owner")?;
            let mut fresh = Vec::new();
            for member in listed {
                let member = reply::bytes(member, "token owner member")?;
                if visited.insert(member.clone()) {
                    fresh.push(member);
                }
            }
            if fresh.is_empty() {
                return Ok(revoked);
            }
            for member in fresh {
                let key = index_key(&member)?;
                let keys = [ks.record(Code::Token, &key)];
                let args = Args::new()
                    .int(self.0.now())
                    .bytes(kind.field())
                    .bytes(owner.as_bytes().to_vec());
                let one = self
                    .0
                    .eval(&TOKEN_REVOKE_ONE, &keys, args, Write::Yes)
                    .await?;
                revoked += u64::from(reply::int(&one, "token revoke by owner")? == 1);
            }
        }
        Err(kept_adding())
    }
}

fn kept_adding() -> Error {
    Error::unavailable(
        BACKEND_NAME,
        "token revocation: tokens kept being added under it; try again",
    )
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn insert(&self, token: &str, new: NewToken) -> Result<TokenRecord> {
        let key = self.value_key(token)?;
        let subject = self.subject_key(&new.subject)?;
        let grant = new
            .grant_id
            .as_deref()
            .map(|g| self.grant_key(g))
            .transpose()?;
        let client = self.client_key(&new.subject, &new.client_id)?;
        let limits = &self.0.config.limits;
        limits.check_payload("token data", new.data.len())?;
        limits.check_ttl("token ttl", new.ttl)?;
        let now = self.0.now();
        let expires_at = later(now, new.ttl, "token ttl")?;
        let record = TokenRecord {
            subject: new.subject,
            client_id: new.client_id,
            grant_id: new.grant_id,
            data: new.data,
            issued_at: Timestamp::from_millis(now),
            expires_at: Timestamp::from_millis(expires_at),
        };
        let sealed = self.0.seal(Contract::Token, key.as_bytes(), &record)?;
        let ks = &self.0.keys;
        let mut keys = vec![ks.record(Code::Token, &key)];
        let mut owners = vec![
            ks.token_owner(TokenOwner::Subject, &subject),
            ks.token_owner(TokenOwner::SubjectClient, &client),
        ];
        if let Some(grant) = &grant {
            owners.push(ks.token_owner(TokenOwner::Grant, grant));
        }
        if self.0.cluster {
            // The owner indexes are in other slots: list the token in each first, so
            // that no index ever misses a stored token.
            for owner in owners {
                let args = Args::new()
                    .int(now)
                    .int(self.0.grace())
                    .bytes(key.as_bytes().to_vec())
                    .int(expires_at);
                self.0
                    .eval(&TOKEN_OWNER_ADD, &[owner], args, Write::Yes)
                    .await?;
            }
        } else {
            keys.extend(owners);
        }
        let args = Args::new()
            .int(now)
            .int(self.0.grace())
            .bytes(key.as_bytes().to_vec())
            .int(expires_at)
            .bytes(sealed)
            .bytes(subject.as_bytes().to_vec())
            .bytes(client.as_bytes().to_vec())
            .bytes(grant.map(|g| g.as_bytes().to_vec()).unwrap_or_default());
        let inserted = self.0.eval(&TOKEN_INSERT, &keys, args, Write::Yes).await?;
        match reply::int(&inserted, "token insert")? {
            1 => Ok(record),
            0 => Err(Error::already_exists(
                BACKEND_NAME,
                "an active token with this value exists",
            )),
            _ => Err(reply::malformed("token insert")),
        }
    }

    async fn get(&self, token: &str) -> Result<Option<TokenRecord>> {
        let key = self.value_key(token)?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.0.keys.record(Code::Token, &key))
            .arg("e")
            .arg("d");
        let fields = reply::array(self.0.query(&cmd, Write::No).await?, "token get")?;
        let mut it = fields.into_iter();
        let mut next = || it.next().unwrap_or(Value::Nil);
        let (e, d) = (next(), next());
        let Some(e) = reply::opt_int(e, "token expiry")? else {
            return Ok(None);
        };
        if e <= self.0.now() {
            return Ok(None);
        }
        let sealed = reply::bytes(d, "token record")?;
        let record: TokenRecord = self.0.unseal(Contract::Token, key.as_bytes(), &sealed)?;
        if record.expires_at.as_millis() != e {
            return Err(Error::corrupt(
                BACKEND_NAME,
                "token record: the stored expiry disagrees with the sealed record",
            ));
        }
        Ok(Some(record))
    }

    async fn revoke(&self, token: &str) -> Result<bool> {
        let key = self.value_key(token)?;
        let keys = [self.0.keys.record(Code::Token, &key)];
        let args = Args::new().int(self.0.now());
        let revoked = self.0.eval(&REMOVE_LIVE, &keys, args, Write::Yes).await?;
        Ok(reply::int(&revoked, "token revoke")? == 1)
    }

    async fn revoke_by_grant(&self, grant_id: &str) -> Result<u64> {
        let grant = self.grant_key(grant_id)?;
        self.revoke_owner(TokenOwner::Grant, &grant).await
    }

    async fn revoke_by_subject(&self, subject: &str) -> Result<u64> {
        let subject = self.subject_key(subject)?;
        self.revoke_owner(TokenOwner::Subject, &subject).await
    }

    async fn revoke_by_subject_and_client(&self, subject: &str, client_id: &str) -> Result<u64> {
        let pair = self.client_key(subject, client_id)?;
        self.revoke_owner(TokenOwner::SubjectClient, &pair).await
    }
}

#[async_trait]
impl Purge for RedisTokenStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge::run_scan(&self.0, Code::Token, Kind::Hash, policy).await
    }
}
