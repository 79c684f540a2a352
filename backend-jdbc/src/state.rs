//! [`StateStore`] on SQL: short-lived values under the keyed hash of their key.
//!
//! `put` is an unconditional upsert (`ON CONFLICT DO UPDATE`, MariaDB's
//! `ON DUPLICATE KEY UPDATE`), `put_if_absent` a conditional insert (see
//! [`crate::upsert`]), `get` and `remove` one statement each.

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{Contract, Purge, PurgePolicy, PurgeReport, Result, StateStore};

use crate::connection::{Arg, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::node::SharedNode;
use crate::purge::{PurgeTable, purge_table};
use crate::upsert::{ConditionalInsert, Written};

/// The hashing domain of state keys; the same in every backend.
const KEY_DOMAIN: &str = authstate_core::domains::STATE_KEY;

pub(crate) struct StateSql {
    put: Stmt,
    put_if_absent: ConditionalInsert,
    get: Stmt,
    remove: Stmt,
    pub purge: PurgeTable,
}

impl StateSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let s = &t.state;
        let put = match d {
            Dialect::MySql => format!(
                "INSERT INTO {s} (k, expires_at, data) VALUES ($1, $2, $3) \
                 ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at), data = VALUES(data)"
            ),
            _ => format!(
                "INSERT INTO {s} (k, expires_at, data) VALUES ($1, $2, $3) \
                 ON CONFLICT (k) DO UPDATE SET expires_at = excluded.expires_at, \
                 data = excluded.data"
            ),
        };
        StateSql {
            put: Stmt::new(d, put),
            put_if_absent: ConditionalInsert::new(d, s, &["k", "expires_at", "data"], 4),
            get: Stmt::new(
                d,
                format!("SELECT data FROM {s} WHERE k = $1 AND expires_at > $2"),
            ),
            remove: Stmt::new(
                d,
                format!("DELETE FROM {s} WHERE k = $1 AND expires_at > $2"),
            ),
            purge: PurgeTable::new(t, s, "k", None),
        }
    }
}

/// The SQL [`StateStore`].
pub(crate) struct SqlStateStore {
    pub node: SharedNode,
    pub sql: StateSql,
}

impl std::fmt::Debug for SqlStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStateStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SqlStateStore {
    fn key(&self, key: &str) -> Result<IndexKey> {
        self.node.config.limits.check_key("state key", key)?;
        Ok(self.node.hash(KEY_DOMAIN, key.as_bytes()))
    }

    /// Checks the value and TTL and seals it.
    fn prepare(&self, key: &IndexKey, value: &[u8], ttl: Duration) -> Result<Vec<u8>> {
        let limits = &self.node.config.limits;
        limits.check_payload("state value", value.len())?;
        limits.check_ttl("state ttl", ttl)?;
        self.node.seal(Contract::State, key.as_bytes(), &value)
    }
}

#[async_trait]
impl StateStore for SqlStateStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<()> {
        let key = self.key(key)?;
        let blob = self.prepare(&key, &value, ttl)?;
        let expires = self.node.now().saturating_add(ttl).as_millis();
        retrying!(
            self.node
                .db
                .execute(
                    &self.sql.put,
                    &[
                        Arg::Bytes(key.as_bytes()),
                        Arg::Int(expires),
                        Arg::Bytes(&blob)
                    ],
                )
                .await
        )?;
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool> {
        let key = self.key(key)?;
        let blob = self.prepare(&key, &value, ttl)?;
        let written = retrying!(
            async {
                let now = self.node.now();
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(now.saturating_add(ttl).as_millis()),
                    Arg::Bytes(&blob),
                    Arg::Int(now.as_millis()),
                ];
                self.sql.put_if_absent.run(&self.node.db, &args).await
            }
            .await
        )?;
        Ok(written == Written::Yes)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(key)?;
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
                    .unseal(Contract::State, key.as_bytes(), &blob)
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        let key = self.key(key)?;
        let now = self.node.now().as_millis();
        let n = retrying!(
            self.node
                .db
                .execute(
                    &self.sql.remove,
                    &[Arg::Bytes(key.as_bytes()), Arg::Int(now)]
                )
                .await
        )?;
        Ok(n > 0)
    }
}

#[async_trait]
impl Purge for SqlStateStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, false).await
    }
}
