//! [`RevocationStore`] on SQL: SRI and subject revocations under their keyed hashes in
//! one table (`kind` 0 and 1), and a change feed numbered by a per-namespace counter row.
//!
//! Every revocation takes the counter row's lock, bumps it, merges its revocation (a
//! later `until` and `before` win, as the contract says) and appends the merged change to
//! the feed, all in one transaction. Holding the counter's lock until commit is what
//! makes feed order commit order: a reader that has seen `seq` n has seen every change
//! numbered below n, so no cache ever skips a revocation that committed late (a database
//! sequence would hand out numbers in a different order than commits land).
//!
//! | dialect | `revoke`, `revoke_subject` |
//! |---|---|
//! | PostgreSQL | one statement: `WITH s AS (UPDATE seq …), r AS (INSERT … SELECT … FROM s ON CONFLICT DO UPDATE … RETURNING) INSERT INTO feed …` |
//! | SQLite | `BEGIN IMMEDIATE`; `UPDATE seq … RETURNING`; upsert `RETURNING`; feed `INSERT` |
//! | MariaDB | transaction: `UPDATE seq`, `SELECT seq`, upsert `RETURNING`, feed `INSERT` |
//!
//! `is_revoked` is one `SELECT COUNT(*)` over both kinds. Revocations hold no payload
//! (targets are keyed hashes, times are not secret), so nothing is sealed. Purge deletes
//! revocations past their `until` and counts them; feed entries past their `until` go
//! with them, uncounted.

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    ChangeBatch, Error, Purge, PurgePolicy, PurgeReport, REVOCATION_SRI_DOMAIN,
    REVOCATION_SUBJECT_DOMAIN, Result, RevocationChange, RevocationStore, RevocationTarget,
    Timestamp,
};

use crate::connection::{Arg, Row, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::node::{SharedNode, index_key, to_u64};
use crate::purge::{PurgeTable, purge_tables};

/// `kind` of an SRI revocation.
const KIND_SRI: i64 = 0;
/// `kind` of a subject revocation.
const KIND_SUBJECT: i64 = 1;

pub(crate) struct RevocationSql {
    /// PostgreSQL: the whole revoke. `$1` key, `$2` until, `$3` now.
    revoke_sri: Stmt,
    /// PostgreSQL: the whole revoke_subject. `$1` key, `$2` before, `$3` until, `$4` now.
    revoke_subject: Stmt,
    /// SQLite, MariaDB: the steps.
    seq_bump: Stmt,
    seq_read: Stmt,
    upsert_sri: Stmt,
    upsert_subject: Stmt,
    feed_insert: Stmt,
    check: Stmt,
    changes: Stmt,
    pub purge: PurgeTable,
    pub purge_feed: PurgeTable,
}

impl RevocationSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let r = &t.revocations;
        let feed = &t.revocation_feed;
        let seq = &t.revocation_seq;
        let q = if d == Dialect::MySql { "" } else { "t." };
        let new = |col: &str| match d {
            Dialect::MySql => format!("VALUES({col})"),
            _ => format!("excluded.{col}"),
        };
        // A live old row keeps the later value; a dead one is simply replaced.
        let keep_later = |col: &str, now: &str| {
            format!(
                "{col} = CASE WHEN {q}expires_at > {now} AND {q}{col} > {n} THEN {q}{col} \
                 ELSE {n} END",
                n = new(col)
            )
        };
        let (conflict, returning) = match d {
            Dialect::MySql => (
                "ON DUPLICATE KEY UPDATE",
                " RETURNING before_at, expires_at",
            ),
            _ => (
                "ON CONFLICT (k) DO UPDATE SET",
                " RETURNING before_at, expires_at",
            ),
        };
        let alias = if d == Dialect::MySql { "" } else { " AS t" };
        let sri_merge = keep_later("expires_at", "$3");
        // `before_at` first: MariaDB runs the assignments left to right, and it must
        // still see the old `expires_at`.
        let subject_merge = format!(
            "{}, {}",
            keep_later("before_at", "$4"),
            keep_later("expires_at", "$4")
        );
        let bump = format!("UPDATE {seq} SET last = last + 1 WHERE id = 1");
        RevocationSql {
            revoke_sri: Stmt::new(
                d,
                format!(
                    "WITH s AS ({bump} RETURNING last), \
                     r AS (INSERT INTO {r} AS t (k, kind, before_at, expires_at) \
                     SELECT $1, {KIND_SRI}, NULL, $2 FROM s {conflict} {sri_merge}{returning}) \
                     INSERT INTO {feed} (seq, kind, k, before_at, expires_at) \
                     SELECT s.last, {KIND_SRI}, $1, r.before_at, r.expires_at FROM s, r"
                ),
            ),
            revoke_subject: Stmt::new(
                d,
                format!(
                    "WITH s AS ({bump} RETURNING last), \
                     r AS (INSERT INTO {r} AS t (k, kind, before_at, expires_at) \
                     SELECT $1, {KIND_SUBJECT}, $2, $3 FROM s {conflict} {subject_merge}\
                     {returning}) \
                     INSERT INTO {feed} (seq, kind, k, before_at, expires_at) \
                     SELECT s.last, {KIND_SUBJECT}, $1, r.before_at, r.expires_at FROM s, r"
                ),
            ),
            seq_bump: Stmt::new(
                d,
                if d == Dialect::MySql {
                    bump.clone()
                } else {
                    format!("{bump} RETURNING last")
                },
            ),
            seq_read: Stmt::new(d, format!("SELECT last FROM {seq} WHERE id = 1")),
            upsert_sri: Stmt::new(
                d,
                format!(
                    "INSERT INTO {r}{alias} (k, kind, before_at, expires_at) \
                     VALUES ($1, {KIND_SRI}, NULL, $2) {conflict} {sri_merge}{returning}"
                ),
            ),
            upsert_subject: Stmt::new(
                d,
                format!(
                    "INSERT INTO {r}{alias} (k, kind, before_at, expires_at) \
                     VALUES ($1, {KIND_SUBJECT}, $2, $3) {conflict} {subject_merge}{returning}"
                ),
            ),
            feed_insert: Stmt::new(
                d,
                format!(
                    "INSERT INTO {feed} (seq, kind, k, before_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)"
                ),
            ),
            check: Stmt::new(
                d,
                format!(
                    "SELECT COUNT(*) FROM {r} WHERE expires_at > $3 AND \
                     ((kind = {KIND_SRI} AND k = $1) OR \
                     (kind = {KIND_SUBJECT} AND k = $2 AND before_at > $4))"
                ),
            ),
            changes: Stmt::new(
                d,
                format!(
                    "SELECT seq, kind, k, before_at, expires_at FROM {feed} \
                     WHERE seq > $1 ORDER BY seq LIMIT $2"
                ),
            ),
            purge: PurgeTable::new(t, r, "k", None),
            purge_feed: PurgeTable::new(t, feed, "seq", None),
        }
    }
}

/// The SQL [`RevocationStore`].
pub(crate) struct SqlRevocationStore {
    pub node: SharedNode,
    pub sql: RevocationSql,
}

impl std::fmt::Debug for SqlRevocationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlRevocationStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SqlRevocationStore {
    fn sri_key(&self, sri: &str) -> Result<IndexKey> {
        self.node
            .config
            .limits
            .check_key("session reference id", sri)?;
        Ok(self.node.hash(REVOCATION_SRI_DOMAIN, sri.as_bytes()))
    }

    fn subject_key(&self, subject: &str) -> Result<IndexKey> {
        self.node
            .config
            .limits
            .check_key("revocation subject", subject)?;
        Ok(self
            .node
            .hash(REVOCATION_SUBJECT_DOMAIN, subject.as_bytes()))
    }

    /// Refuses an `until` at or before `now`.
    fn check_until(&self, until: Timestamp, now: Timestamp) -> Result<()> {
        if until <= now {
            return Err(Error::invalid_input(
                self.node.name(),
                "revocation until is at or before now: it would never be in force",
            ));
        }
        Ok(())
    }

    /// SQLite and MariaDB: one revocation as a transaction of steps. `upsert` with
    /// `args` merges the revocation and returns its `before_at, expires_at`.
    async fn revoke_in_steps(
        &self,
        kind: i64,
        key: &IndexKey,
        upsert: &Stmt,
        args: &[Arg<'_>],
    ) -> Result<()> {
        let mut tx = self.node.db.begin().await?;
        let seq_row = match self.node.dialect() {
            Dialect::MySql => {
                tx.execute(&self.sql.seq_bump, &[]).await?;
                tx.fetch_optional(&self.sql.seq_read, &[]).await?
            }
            _ => tx.fetch_optional(&self.sql.seq_bump, &[]).await?,
        };
        let Some(seq_row) = seq_row else {
            return Err(Error::config(
                self.node.name(),
                "the revocation counter row is missing: run migrate for this namespace",
            ));
        };
        let seq = seq_row.int(0)?;
        let Some(merged) = tx.fetch_optional(upsert, args).await? else {
            return Err(Error::unexpected(
                self.node.name(),
                "the revocation upsert returned no row",
            ));
        };
        let before = merged.opt_int(0)?;
        let until = merged.int(1)?;
        tx.execute(
            &self.sql.feed_insert,
            &[
                Arg::Int(seq),
                Arg::Int(kind),
                Arg::Bytes(key.as_bytes()),
                Arg::OptInt(before),
                Arg::Int(until),
            ],
        )
        .await?;
        tx.commit().await
    }

    fn change(&self, row: &Row) -> Result<RevocationChange> {
        let d = self.node.dialect();
        let seq = to_u64(d, "feed sequence number", row.int(0)?)?;
        let kind = row.int(1)?;
        let key = index_key(d, &row.hash(2)?)?;
        let before = row.opt_int(3)?;
        let until = Timestamp::from_millis(row.int(4)?);
        let target = match (kind, before) {
            (KIND_SRI, _) => RevocationTarget::Session(key),
            (KIND_SUBJECT, Some(before)) => RevocationTarget::Subject {
                subject: key,
                before: Timestamp::from_millis(before),
            },
            _ => {
                return Err(self.node.corrupt(format!(
                    "revocation feed entry {seq} has an unknown kind {kind} or no cutoff"
                )));
            }
        };
        Ok(RevocationChange { seq, target, until })
    }
}

#[async_trait]
impl RevocationStore for SqlRevocationStore {
    async fn revoke(&self, sri: &str, until: Timestamp) -> Result<()> {
        let key = self.sri_key(sri)?;
        retrying!(
            async {
                let now = self.node.now();
                self.check_until(until, now)?;
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(until.as_millis()),
                    Arg::Int(now.as_millis()),
                ];
                if self.node.dialect() == Dialect::Postgres {
                    self.node.db.execute(&self.sql.revoke_sri, &args).await?;
                    return Ok(());
                }
                self.revoke_in_steps(KIND_SRI, &key, &self.sql.upsert_sri, &args)
                    .await
            }
            .await
        )
    }

    async fn is_revoked(&self, sri: &str, subject: &str, issued_at: Timestamp) -> Result<bool> {
        let sri_key = self.sri_key(sri)?;
        let subject_key = self.subject_key(subject)?;
        let now = self.node.now().as_millis();
        let row = retrying!(
            self.node
                .db
                .fetch_optional(
                    &self.sql.check,
                    &[
                        Arg::Bytes(sri_key.as_bytes()),
                        Arg::Bytes(subject_key.as_bytes()),
                        Arg::Int(now),
                        Arg::Int(issued_at.as_millis()),
                    ],
                )
                .await
        )?;
        match row {
            Some(r) => Ok(r.int(0)? > 0),
            None => Err(Error::unexpected(
                self.node.name(),
                "the revocation check returned no row",
            )),
        }
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        before: Timestamp,
        until: Timestamp,
    ) -> Result<()> {
        let key = self.subject_key(subject)?;
        retrying!(
            async {
                let now = self.node.now();
                self.check_until(until, now)?;
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(before.as_millis()),
                    Arg::Int(until.as_millis()),
                    Arg::Int(now.as_millis()),
                ];
                if self.node.dialect() == Dialect::Postgres {
                    self.node
                        .db
                        .execute(&self.sql.revoke_subject, &args)
                        .await?;
                    return Ok(());
                }
                self.revoke_in_steps(KIND_SUBJECT, &key, &self.sql.upsert_subject, &args)
                    .await
            }
            .await
        )
    }

    async fn changes_since(&self, cursor: u64, limit: usize) -> Result<ChangeBatch> {
        if limit == 0 {
            return Ok(ChangeBatch {
                changes: Vec::new(),
                cursor,
            });
        }
        let after = i64::try_from(cursor).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = retrying!(
            self.node
                .db
                .fetch_all(&self.sql.changes, &[Arg::Int(after), Arg::Int(limit)])
                .await
        )?;
        let changes = rows
            .iter()
            .map(|r| self.change(r))
            .collect::<Result<Vec<_>>>()?;
        let cursor = changes.last().map_or(cursor, |c| c.seq);
        Ok(ChangeBatch { changes, cursor })
    }
}

#[async_trait]
impl Purge for SqlRevocationStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_tables(
            &self.node,
            &self.sql.purge,
            Some(&self.sql.purge_feed),
            policy,
            false,
        )
        .await
    }
}
