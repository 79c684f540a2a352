//! [`SessionRegistry`] on SQL: one row per participant, keyed by the keyed hash of its
//! subject followed by the keyed hash of (session reference, partner) — 64 bytes, as
//! the memory backend keys them — with the subject hash as an indexed column.
//!
//! `register` is one upsert, `participants` one `SELECT`, `remove` one `DELETE`.
//! `remove_all` is a transaction around `DELETE … WHERE subject_hash = $1 RETURNING`:
//! every returned record is opened before the commit, so a corrupt one fails the call
//! and leaves the registry as it was; concurrent calls each get a disjoint set of rows
//! (the second waits on the row locks and then finds them gone), so no partner gets two
//! logout requests.

use async_trait::async_trait;
use authstate_core::{
    Contract, Error, Participant, Purge, PurgePolicy, PurgeReport, Result, SessionRegistry,
};

use crate::connection::{Arg, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::node::{SharedNode, pair_bytes};
use crate::purge::{PurgeTable, purge_table};

/// The hashing domain of subjects in the registry; the same in every backend.
const SUBJECT_DOMAIN: &str = authstate_core::domains::REGISTRY_SUBJECT;
/// The hashing domain of (session reference, partner id) pairs.
const PARTICIPANT_DOMAIN: &str = authstate_core::domains::REGISTRY_PARTICIPANT;

pub(crate) struct RegistrySql {
    register: Stmt,
    list: Stmt,
    remove: Stmt,
    remove_all: Stmt,
    pub purge: PurgeTable,
}

impl RegistrySql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let rg = &t.registry;
        let register = match d {
            Dialect::MySql => format!(
                "INSERT INTO {rg} (k, subject_hash, expires_at, data) VALUES ($1, $2, $3, $4) \
                 ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at), data = VALUES(data)"
            ),
            _ => format!(
                "INSERT INTO {rg} (k, subject_hash, expires_at, data) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (k) DO UPDATE SET expires_at = excluded.expires_at, \
                 data = excluded.data"
            ),
        };
        RegistrySql {
            register: Stmt::new(d, register),
            list: Stmt::new(
                d,
                format!(
                    "SELECT k, data FROM {rg} WHERE subject_hash = $1 AND expires_at > $2 \
                     ORDER BY k"
                ),
            ),
            remove: Stmt::new(
                d,
                format!("DELETE FROM {rg} WHERE k = $1 AND expires_at > $2"),
            ),
            remove_all: Stmt::new(
                d,
                format!("DELETE FROM {rg} WHERE subject_hash = $1 RETURNING k, expires_at, data"),
            ),
            purge: PurgeTable::new(t, rg, "k", None),
        }
    }
}

/// The SQL [`SessionRegistry`].
pub(crate) struct SqlSessionRegistry {
    pub node: SharedNode,
    pub sql: RegistrySql,
}

impl std::fmt::Debug for SqlSessionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSessionRegistry")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SqlSessionRegistry {
    fn subject_hash(&self, subject: &str) -> Result<[u8; 32]> {
        self.node
            .config
            .limits
            .check_key("registry subject", subject)?;
        Ok(*self
            .node
            .hash(SUBJECT_DOMAIN, subject.as_bytes())
            .as_bytes())
    }

    fn key(&self, subject: &[u8; 32], session_ref: &str, partner_id: &str) -> Result<[u8; 64]> {
        let limits = &self.node.config.limits;
        limits.check_key("registry session reference", session_ref)?;
        limits.check_key("registry partner id", partner_id)?;
        let participant = self
            .node
            .hash(PARTICIPANT_DOMAIN, &pair_bytes(session_ref, partner_id));
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(subject);
        key[32..].copy_from_slice(participant.as_bytes());
        Ok(key)
    }

    fn open(&self, key: &[u8], blob: &[u8]) -> Result<Participant> {
        self.node.unseal(Contract::Registry, key, blob)
    }
}

#[async_trait]
impl SessionRegistry for SqlSessionRegistry {
    async fn register(&self, subject: &str, participant: Participant) -> Result<()> {
        let subject = self.subject_hash(subject)?;
        let key = self.key(&subject, &participant.session_ref, &participant.partner_id)?;
        let limits = &self.node.config.limits;
        if let Some(index) = &participant.session_index
            && index.len() > limits.max_key_bytes
        {
            return Err(Error::invalid_input(
                self.node.name(),
                format!(
                    "registry session index is {} bytes, over the maximum of {} bytes",
                    index.len(),
                    limits.max_key_bytes
                ),
            ));
        }
        let now = self.node.now();
        if participant.expires_at <= now {
            return Err(Error::invalid_input(
                self.node.name(),
                "registry expires_at is at or before now: the session has already ended",
            ));
        }
        limits.check_ttl(
            "registry entry lifetime",
            participant.expires_at.duration_since(now),
        )?;
        let expires_at = participant.expires_at.as_millis();
        let blob = self.node.seal(Contract::Registry, &key, &participant)?;
        // Same session reference and partner → same key: the entry is replaced.
        retrying!(
            self.node
                .db
                .execute(
                    &self.sql.register,
                    &[
                        Arg::Bytes(&key),
                        Arg::Bytes(&subject),
                        Arg::Int(expires_at),
                        Arg::Bytes(&blob),
                    ],
                )
                .await
        )?;
        Ok(())
    }

    async fn participants(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        let now = self.node.now().as_millis();
        let rows = retrying!(
            self.node
                .db
                .fetch_all(&self.sql.list, &[Arg::Bytes(&subject), Arg::Int(now)])
                .await
        )?;
        rows.iter()
            .map(|r| self.open(&r.bytes(0)?, &r.bytes(1)?))
            .collect()
    }

    async fn remove(&self, subject: &str, session_ref: &str, partner_id: &str) -> Result<bool> {
        let subject = self.subject_hash(subject)?;
        let key = self.key(&subject, session_ref, partner_id)?;
        let now = self.node.now().as_millis();
        let n = retrying!(
            self.node
                .db
                .execute(&self.sql.remove, &[Arg::Bytes(&key), Arg::Int(now)])
                .await
        )?;
        Ok(n > 0)
    }

    async fn remove_all(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        retrying!(
            async {
                let now = self.node.now().as_millis();
                let mut tx = self.node.db.begin().await?;
                let rows = tx
                    .fetch_all(&self.sql.remove_all, &[Arg::Bytes(&subject)])
                    .await?;
                let mut live = Vec::new();
                for r in &rows {
                    // Expired entries go too (purge would take them), but are not returned.
                    if r.int(1)? > now {
                        let key = r.bytes(0)?;
                        let participant = self.open(&key, &r.bytes(2)?)?;
                        live.push((key, participant));
                    }
                }
                tx.commit().await?;
                // In key order, as `participants` lists them.
                live.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(live.into_iter().map(|(_, p)| p).collect())
            }
            .await
        )
    }
}

#[async_trait]
impl Purge for SqlSessionRegistry {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, false).await
    }
}
