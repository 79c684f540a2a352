//! Batched purge, PingFederate's cleanup task done right: records whose expiry (or, for
//! sessions under `LastActivity`, whose last activity) lies at least the offset in the
//! past are deleted oldest first, `batch_size` at a time, each batch in its own short
//! transaction, with the store's clock read again for every batch.
//!
//! | dialect | one batch |
//! |---|---|
//! | PostgreSQL | `DELETE … WHERE k IN (SELECT k … ORDER BY expires_at LIMIT $n FOR UPDATE SKIP LOCKED)` |
//! | MariaDB | transaction: `SELECT k … ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`, `DELETE … WHERE k IN (…)` |
//! | SQLite | `DELETE … WHERE k IN (SELECT k … ORDER BY expires_at LIMIT $n)` (one writer at a time anyway) |
//!
//! `SKIP LOCKED` lets a batch pass over rows a foreground operation holds, so a purge
//! never makes a login wait; a skipped row is purged by the next run. The selection uses
//! the `expires_at` (and `last_activity`) index, so a batch costs the same however many
//! live rows the table has.

use authstate_core::{Error, PurgeCriterion, PurgePolicy, PurgeReport, Result, Timestamp};

use crate::connection::{Arg, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::node::Node;

/// What the batch selection returns for a row's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Bytes,
    Int,
}

/// The statements that purge one table.
pub(crate) struct PurgeTable {
    dialect: Dialect,
    /// By expiry: `$1` cutoff, `$2` limit.
    by_expiry: Stmt,
    /// By expiry or last activity: `$1` cutoff, `$2` limit, `$3` idle cutoff.
    by_activity: Option<Stmt>,
    /// MariaDB: deletes the selected keys; `$1..$n` keys, `limit` placeholders.
    delete_keys: Option<(String, String)>,
    key_kind: KeyKind,
}

impl PurgeTable {
    /// Purge statements for `table` keyed by `key`, with a last-activity column when
    /// the table has one.
    pub fn new(t: &Tables, table: &str, key: &str, activity: Option<&str>) -> Self {
        let d = t.dialect;
        let key_kind = if key == "seq" {
            KeyKind::Int
        } else {
            KeyKind::Bytes
        };
        let select = |condition: &str| match d {
            Dialect::Postgres => format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE \
                 {condition} ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ),
            Dialect::Sqlite => format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE \
                 {condition} ORDER BY expires_at LIMIT $2)"
            ),
            Dialect::MySql => format!(
                "SELECT {key} FROM {table} WHERE {condition} ORDER BY expires_at LIMIT $2 \
                 FOR UPDATE SKIP LOCKED"
            ),
        };
        PurgeTable {
            dialect: d,
            by_expiry: Stmt::new(d, select("expires_at <= $1")),
            by_activity: activity
                .map(|col| Stmt::new(d, select(&format!("(expires_at <= $1 OR {col} <= $3)")))),
            delete_keys: (d == Dialect::MySql).then(|| (table.to_string(), key.to_string())),
            key_kind,
        }
    }

    /// MariaDB's delete of up to `limit` selected keys: always `limit` placeholders (the
    /// list is padded by repeating a key), so each batch size is one prepared statement.
    fn delete_stmt(&self, limit: usize) -> Option<Stmt> {
        let (table, key) = self.delete_keys.as_ref()?;
        let marks: Vec<String> = (1..=limit).map(|i| format!("${i}")).collect();
        Some(Stmt::new(
            self.dialect,
            format!("DELETE FROM {table} WHERE {key} IN ({})", marks.join(", ")),
        ))
    }
}

/// Deletes one batch; returns how many rows it deleted.
async fn delete_batch(
    node: &Node,
    table: &PurgeTable,
    cutoff: Timestamp,
    idle: Option<Timestamp>,
    limit: i64,
) -> Result<u64> {
    let stmt = match (idle, &table.by_activity) {
        (Some(_), Some(s)) => s,
        _ => &table.by_expiry,
    };
    let mut args = vec![Arg::Int(cutoff.as_millis()), Arg::Int(limit)];
    if let (Some(idle), Some(_)) = (idle, &table.by_activity) {
        args.push(Arg::Int(idle.as_millis()));
    }
    if table.dialect != Dialect::MySql {
        return node.db.execute(stmt, &args).await;
    }
    let width = usize::try_from(limit).unwrap_or(usize::MAX);
    let Some(delete) = table.delete_stmt(width) else {
        return Err(Error::unexpected(
            node.name(),
            "no delete statement for a purge",
        ));
    };
    let mut tx = node.db.begin().await?;
    let rows = tx.fetch_all(stmt, &args).await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let deleted = match table.key_kind {
        KeyKind::Bytes => {
            let keys = rows
                .iter()
                .map(|r| r.bytes(0))
                .collect::<Result<Vec<_>>>()?;
            let args: Vec<Arg<'_>> = (0..width)
                .map(|i| Arg::Bytes(&keys[i.min(keys.len() - 1)]))
                .collect();
            tx.execute(&delete, &args).await?
        }
        KeyKind::Int => {
            let keys = rows.iter().map(|r| r.int(0)).collect::<Result<Vec<_>>>()?;
            let args: Vec<Arg<'_>> = (0..width)
                .map(|i| Arg::Int(keys[i.min(keys.len() - 1)]))
                .collect();
            tx.execute(&delete, &args).await?
        }
    };
    tx.commit().await?;
    Ok(deleted)
}

/// Purges `counted` (and, uncounted, `extra`: the revocation feed) in batches under
/// `policy`. `last_activity` says whether the table takes the `LastActivity` criterion.
pub(crate) async fn purge_tables(
    node: &Node,
    counted: &PurgeTable,
    extra: Option<&PurgeTable>,
    policy: &PurgePolicy,
    last_activity: bool,
) -> Result<PurgeReport> {
    if policy.batch_size == 0 {
        return Err(Error::invalid_input(
            node.name(),
            "purge batch_size is zero: a purge would never make progress",
        ));
    }
    let limit = i64::from(policy.batch_size);
    let full = u64::from(policy.batch_size);
    let mut report = PurgeReport::default();
    loop {
        if policy.max_batches.is_some_and(|max| report.batches >= max) {
            break;
        }
        // The clock is read per batch: a long purge keeps up with a moving clock.
        let cutoff = node.now().saturating_sub(policy.offset);
        let idle = match policy.criterion {
            PurgeCriterion::LastActivity { max_idle } if last_activity => {
                Some(cutoff.saturating_sub(max_idle))
            }
            _ => None,
        };
        let deleted = retrying!(delete_batch(node, counted, cutoff, idle, limit).await)?;
        let extra_deleted = match extra {
            Some(x) => retrying!(delete_batch(node, x, cutoff, None, limit).await)?,
            None => 0,
        };
        if deleted == 0 && extra_deleted == 0 {
            break;
        }
        report.batches += 1;
        // Rows are only looked at through the expiry indexes, so every row a batch
        // examines is one it deletes.
        report.examined += deleted;
        report.deleted += deleted;
        if deleted < full && extra_deleted < full {
            break;
        }
    }
    Ok(report)
}

/// Purges one table under `policy`.
pub(crate) async fn purge_table(
    node: &Node,
    table: &PurgeTable,
    policy: &PurgePolicy,
    last_activity: bool,
) -> Result<PurgeReport> {
    purge_tables(node, table, None, policy, last_activity).await
}
