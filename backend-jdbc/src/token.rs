//! [`TokenStore`] on SQL: reference tokens under the keyed hash of their value, with the
//! keyed hashes of their subject, grant, and subject with client as indexed columns.
//!
//! `insert` is a conditional insert (an expired token under the same value is replaced,
//! see [`crate::upsert`]); `get` one `SELECT`; every revoke one `DELETE … WHERE … AND
//! expires_at > now` whose row count is the number of active tokens it revoked (expired
//! rows are left to purge).

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    Contract, Error, NewToken, Purge, PurgePolicy, PurgeReport, Result, TokenRecord, TokenStore,
};

use crate::connection::{Arg, retrying};
use crate::dialect::{Stmt, Tables};
use crate::node::{SharedNode, pair_bytes};
use crate::purge::{PurgeTable, purge_table};
use crate::upsert::{ConditionalInsert, Written};

/// The hashing domain of token values; the same in every backend.
const VALUE_DOMAIN: &str = authstate_core::domains::TOKEN_VALUE;
/// The hashing domain of subjects in the token indexes.
const SUBJECT_DOMAIN: &str = authstate_core::domains::TOKEN_SUBJECT;
/// The hashing domain of grant ids.
const GRANT_DOMAIN: &str = authstate_core::domains::TOKEN_GRANT;
/// The hashing domain of (subject, client id) pairs.
const CLIENT_DOMAIN: &str = authstate_core::domains::TOKEN_CLIENT;

pub(crate) struct TokenSql {
    insert: ConditionalInsert,
    get: Stmt,
    revoke: Stmt,
    by_grant: Stmt,
    by_subject: Stmt,
    by_client: Stmt,
    pub purge: PurgeTable,
}

impl TokenSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let tk = &t.tokens;
        let revoke_where = |col: &str| {
            Stmt::new(
                d,
                format!("DELETE FROM {tk} WHERE {col} = $1 AND expires_at > $2"),
            )
        };
        TokenSql {
            // $1 key, $2 subject, $3 client, $4 grant, $5 expires_at, $6 data, $7 now
            insert: ConditionalInsert::new(
                d,
                tk,
                &[
                    "k",
                    "subject_hash",
                    "client_hash",
                    "grant_hash",
                    "expires_at",
                    "data",
                ],
                7,
            ),
            get: Stmt::new(
                d,
                format!("SELECT data FROM {tk} WHERE k = $1 AND expires_at > $2"),
            ),
            revoke: revoke_where("k"),
            by_grant: revoke_where("grant_hash"),
            by_subject: revoke_where("subject_hash"),
            by_client: revoke_where("client_hash"),
            purge: PurgeTable::new(t, tk, "k", None),
        }
    }
}

/// The SQL [`TokenStore`].
pub(crate) struct SqlTokenStore {
    pub node: SharedNode,
    pub sql: TokenSql,
}

impl std::fmt::Debug for SqlTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTokenStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SqlTokenStore {
    fn value_key(&self, token: &str) -> Result<IndexKey> {
        self.node.config.limits.check_key("token", token)?;
        Ok(self.node.hash(VALUE_DOMAIN, token.as_bytes()))
    }

    fn subject_key(&self, subject: &str) -> Result<IndexKey> {
        self.node
            .config
            .limits
            .check_key("token subject", subject)?;
        Ok(self.node.hash(SUBJECT_DOMAIN, subject.as_bytes()))
    }

    fn client_key(&self, subject: &str, client_id: &str) -> Result<IndexKey> {
        let limits = &self.node.config.limits;
        limits.check_key("token subject", subject)?;
        limits.check_key("token client id", client_id)?;
        Ok(self
            .node
            .hash(CLIENT_DOMAIN, &pair_bytes(subject, client_id)))
    }

    fn grant_key(&self, grant_id: &str) -> Result<IndexKey> {
        self.node
            .config
            .limits
            .check_key("token grant id", grant_id)?;
        Ok(self.node.hash(GRANT_DOMAIN, grant_id.as_bytes()))
    }

    /// Revokes every active token whose `stmt` column is `owner`.
    async fn revoke_where(&self, stmt: &Stmt, owner: &IndexKey) -> Result<u64> {
        let now = self.node.now().as_millis();
        retrying!(
            self.node
                .db
                .execute(stmt, &[Arg::Bytes(owner.as_bytes()), Arg::Int(now)])
                .await
        )
    }
}

#[async_trait]
impl TokenStore for SqlTokenStore {
    async fn insert(&self, token: &str, new: NewToken) -> Result<TokenRecord> {
        let key = self.value_key(token)?;
        let subject = self.subject_key(&new.subject)?;
        let grant = new
            .grant_id
            .as_deref()
            .map(|g| self.grant_key(g))
            .transpose()?;
        let client = self.client_key(&new.subject, &new.client_id)?;
        let limits = &self.node.config.limits;
        limits.check_payload("token data", new.data.len())?;
        limits.check_ttl("token ttl", new.ttl)?;
        let now = self.node.now();
        let record = TokenRecord {
            subject: new.subject,
            client_id: new.client_id,
            grant_id: new.grant_id,
            data: new.data,
            issued_at: now,
            expires_at: now.saturating_add(new.ttl),
        };
        let blob = self.node.seal(Contract::Token, key.as_bytes(), &record)?;
        let args = [
            Arg::Bytes(key.as_bytes()),
            Arg::Bytes(subject.as_bytes()),
            Arg::Bytes(client.as_bytes()),
            Arg::OptBytes(grant.as_ref().map(|g| &g.as_bytes()[..])),
            Arg::Int(record.expires_at.as_millis()),
            Arg::Bytes(&blob),
            Arg::Int(now.as_millis()),
        ];
        match retrying!(self.sql.insert.run(&self.node.db, &args).await)? {
            Written::Yes => Ok(record),
            Written::No => Err(Error::already_exists(
                self.node.name(),
                "an active token with this value exists",
            )),
        }
    }

    async fn get(&self, token: &str) -> Result<Option<TokenRecord>> {
        let key = self.value_key(token)?;
        let now = self.node.now().as_millis();
        let row = retrying!(
            self.node
                .db
                .fetch_optional(&self.sql.get, &[Arg::Bytes(key.as_bytes()), Arg::Int(now)])
                .await
        )?;
        match row {
            Some(r) => {
                let blob = r.bytes(0)?;
                self.node
                    .unseal(Contract::Token, key.as_bytes(), &blob)
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    async fn revoke(&self, token: &str) -> Result<bool> {
        let key = self.value_key(token)?;
        Ok(self.revoke_where(&self.sql.revoke, &key).await? > 0)
    }

    async fn revoke_by_grant(&self, grant_id: &str) -> Result<u64> {
        let grant = self.grant_key(grant_id)?;
        self.revoke_where(&self.sql.by_grant, &grant).await
    }

    async fn revoke_by_subject(&self, subject: &str) -> Result<u64> {
        let subject = self.subject_key(subject)?;
        self.revoke_where(&self.sql.by_subject, &subject).await
    }

    async fn revoke_by_subject_and_client(&self, subject: &str, client_id: &str) -> Result<u64> {
        let pair = self.client_key(subject, client_id)?;
        self.revoke_where(&self.sql.by_client, &pair).await
    }
}

#[async_trait]
impl Purge for SqlTokenStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, false).await
    }
}
