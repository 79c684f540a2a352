//! Batched purge, PingFederate's cleanup task done right: records whose expiry (or, for
//! sessions under `LastActivity`, whose last activity) lies at least the offset in the
//! past are deleted oldest first, `batch_size` at a time, each batch one statement (its
//! own short transaction), with the store's clock read again for every batch.
//!
//! | dialect | one batch |
//! |---|---|
//! | PostgreSQL | `DELETE … WHERE ctid = ANY(ARRAY(SELECT ctid … WHERE expires_at <= $1 ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED))` |
//! | MariaDB | `SET STATEMENT innodb_lock_wait_timeout = 0 FOR DELETE … WHERE expires_at <= ? ORDER BY expires_at LIMIT 500`; only if that meets a locked row: `DELETE t FROM (SELECT k … WHERE expires_at <= ? ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED) AS x STRAIGHT_JOIN t ON t.k = x.k` |
//! | SQLite | `DELETE … WHERE k IN (SELECT k … WHERE expires_at <= $1 ORDER BY expires_at LIMIT 500)` (one writer at a time anyway) |
//!
//! - `SKIP LOCKED` lets a batch pass over rows a foreground operation holds, so a purge
//!   never waits on a login, and never holds the rows it has locked while it waits for
//!   one more; a skipped row is purged by the next run.
//! - MariaDB has no `SKIP LOCKED` on `DELETE`, and the derived table that stands in for
//!   it costs a materialized table and a second key lookup per row (a quarter of the
//!   rate). So a batch first runs the plain `DELETE … ORDER BY … LIMIT` with a lock
//!   wait timeout of zero for that statement alone: it never waits; if it meets a
//!   locked row the server rolls it back at once (error 1205, nothing deleted) and the
//!   `SKIP LOCKED` batch runs instead. Purged rows are at least the offset past their
//!   time, so foreground operations almost never hold one, and the plain statement is
//!   what runs.
//! - PostgreSQL deletes the rows it locked by their physical address (`ctid`, a TID
//!   scan) rather than looking each key up again in the primary key's index: the lock
//!   keeps the address valid until the statement ends, and the locking, which a plain
//!   `DELETE … WHERE k IN (…)` does not do, costs about what the saved lookups do.
//! - Each selection walks one index in its own order: `expires_at` for expiry, then, for
//!   sessions under `LastActivity`, `last_activity` (in batches of their own once no
//!   row is dead by expiry), never an `OR` of the two that neither index can order. A
//!   batch costs the same however many live rows the table has.
//! - The batch size is written into the statement (one prepared statement per batch
//!   size), not bound: PostgreSQL plans a bound `LIMIT $n` generically as a tenth of
//!   the matching rows, which turns the batch into a hash join over a sequential scan
//!   of the whole table, and only its per-execution re-planning keeps that plan away.
//! - Pacing: with [`SqlConfig::purge_duty_cycle`](crate::SqlConfig::purge_duty_cycle)
//!   below 1, a purge pauses after every batch for as long as the batch took times
//!   `1 / duty_cycle − 1`, in the manner of PostgreSQL's `vacuum_cost_delay`: the
//!   database gets that share of its time back for foreground work, whatever a batch
//!   costs on it. The sweeper's `max_deletes_per_second` caps the rate on top.

use std::time::{Duration, Instant};

use authstate_core::{Error, PurgeCriterion, PurgePolicy, PurgeReport, Result};

use crate::connection::{Arg, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::node::Node;

/// How to purge one table.
pub(crate) struct PurgeTable {
    dialect: Dialect,
    table: String,
    key: String,
    /// The last-activity column, when the table has one.
    activity: Option<String>,
}

impl PurgeTable {
    /// Purging `table` keyed by `key`, with a last-activity column when the table has
    /// one.
    pub fn new(t: &Tables, table: &str, key: &str, activity: Option<&str>) -> Self {
        PurgeTable {
            dialect: t.dialect,
            table: table.to_string(),
            key: key.to_string(),
            activity: activity.map(str::to_string),
        }
    }

    /// One batch: deletes up to `limit` rows whose `column` is at most `$1`, lowest
    /// first.
    fn batch(&self, column: &str, limit: u32) -> Batch {
        Batch {
            locked: self.locked_batch(column, limit),
            nowait: (self.dialect == Dialect::MySql).then(|| {
                let PurgeTable { table, .. } = self;
                Stmt::new(
                    self.dialect,
                    format!(
                        "SET STATEMENT innodb_lock_wait_timeout = 0 FOR DELETE FROM {table} \
                         WHERE {column} <= $1 ORDER BY {column} LIMIT {limit}"
                    ),
                )
            }),
        }
    }

    /// The batch that selects its rows with `SKIP LOCKED` where the dialect has it.
    fn locked_batch(&self, column: &str, limit: u32) -> Stmt {
        let PurgeTable { table, key, .. } = self;
        let select = format!(
            "SELECT {key} FROM {table} WHERE {column} <= $1 ORDER BY {column} LIMIT {limit}"
        );
        let sql = match self.dialect {
            Dialect::Postgres => {
                format!("DELETE FROM {table} WHERE {key} IN ({select} FOR UPDATE SKIP LOCKED)")
            }
            // A derived table: MariaDB refuses `LIMIT` in an `IN` subquery, and reads
            // the table it deletes from only through one it has materialized. The join
            // is driven by the derived table (`STRAIGHT_JOIN`), so the table itself is
            // only reached by key, row by row of what the selection locked: driven the
            // other way (the optimizer's choice for a small table), the delete would
            // scan the table and wait on a row a foreground transaction holds.
            Dialect::MySql => format!(
                "DELETE {table} FROM ({select} FOR UPDATE SKIP LOCKED) AS x \
                 STRAIGHT_JOIN {table} ON {table}.{key} = x.{key}"
            ),
            Dialect::Sqlite => format!("DELETE FROM {table} WHERE {key} IN ({select})"),
        };
        Stmt::new(self.dialect, sql)
    }
}

/// The statements of one batch.
struct Batch {
    /// The batch that passes over locked rows (see [`PurgeTable::locked_batch`]).
    locked: Stmt,
    /// MariaDB: the plain `DELETE … ORDER BY … LIMIT`, refusing to wait for any lock.
    /// It runs first; when it meets a locked row the server rolls it back at once and
    /// the locked batch runs instead.
    nowait: Option<Stmt>,
}

/// The batches left to run against one table, in order.
struct Phases {
    /// By expiry; `None` once a batch found fewer rows than the limit.
    expiry: Option<Batch>,
    /// By last activity (sessions under `LastActivity`), after the expiry phase.
    activity: Option<Batch>,
}

impl Phases {
    fn new(table: &PurgeTable, limit: u32, by_activity: bool) -> Self {
        Phases {
            expiry: Some(table.batch("expires_at", limit)),
            activity: table
                .activity
                .as_deref()
                .filter(|_| by_activity)
                .map(|col| table.batch(col, limit)),
        }
    }

    fn done(&self) -> bool {
        self.expiry.is_none() && self.activity.is_none()
    }

    /// Runs the next batch: by expiry while that finds rows, then by last activity.
    /// A phase that finds fewer rows than `limit` is over.
    async fn run_one(
        &mut self,
        node: &Node,
        cutoff: i64,
        idle_cutoff: i64,
        limit: u64,
    ) -> Result<u64> {
        if let Some(batch) = &self.expiry {
            let deleted = run(node, batch, cutoff).await?;
            if deleted < limit {
                self.expiry = None;
            }
            if deleted > 0 {
                return Ok(deleted);
            }
        }
        if let Some(batch) = &self.activity {
            let deleted = run(node, batch, idle_cutoff).await?;
            if deleted < limit {
                self.activity = None;
            }
            return Ok(deleted);
        }
        Ok(0)
    }
}

/// Runs one batch; the rows it deleted.
async fn run(node: &Node, batch: &Batch, cutoff: i64) -> Result<u64> {
    let args = [Arg::Int(cutoff)];
    if let Some(nowait) = &batch.nowait {
        match node.db.try_execute(nowait, &args).await {
            Ok(deleted) => return Ok(deleted),
            // A row of the batch is locked (a foreground operation holds it): the
            // statement was rolled back without waiting; pass over the locked rows.
            Err(e) if crate::error::classify(&e) == crate::error::Class::Transient => {}
            Err(e) => return Err(node.db.err(e)),
        }
    }
    retrying!(node.db.execute(&batch.locked, &args).await)
}

/// The pause after a batch that took `took`, for a purge that may use `duty_cycle` of
/// the wall time.
pub(crate) fn pause_after(took: Duration, duty_cycle: f64) -> Duration {
    if !(duty_cycle > 0.0 && duty_cycle < 1.0) {
        return Duration::ZERO;
    }
    took.mul_f64(1.0 / duty_cycle - 1.0)
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
    let limit = policy.batch_size;
    let full = u64::from(limit);
    let max_idle = match policy.criterion {
        PurgeCriterion::LastActivity { max_idle } if last_activity => Some(max_idle),
        _ => None,
    };
    let mut phases = Phases::new(counted, limit, max_idle.is_some());
    let mut extra = extra.map(|x| Phases::new(x, limit, false));
    let duty_cycle = node.db.purge_duty_cycle;
    let mut report = PurgeReport::default();
    loop {
        let extra_done = extra.as_ref().is_none_or(Phases::done);
        if phases.done() && extra_done {
            break;
        }
        if policy.max_batches.is_some_and(|max| report.batches >= max) {
            break;
        }
        let started = Instant::now();
        // The clock is read per batch: a long purge keeps up with a moving clock.
        let cutoff = node.now().saturating_sub(policy.offset);
        let idle_cutoff = max_idle.map_or(cutoff, |idle| cutoff.saturating_sub(idle));
        let (cutoff, idle_cutoff) = (cutoff.as_millis(), idle_cutoff.as_millis());
        let deleted = phases.run_one(node, cutoff, idle_cutoff, full).await?;
        let extra_deleted = match extra.as_mut() {
            Some(x) if !x.done() => x.run_one(node, cutoff, cutoff, full).await?,
            _ => 0,
        };
        if deleted == 0 && extra_deleted == 0 {
            // Nothing found: every phase that ran is over; one may be left to start.
            continue;
        }
        report.batches += 1;
        // Rows are only looked at through the expiry and activity indexes, so every
        // row a batch examines is one it deletes.
        report.examined += deleted;
        report.deleted += deleted;
        if !(phases.done() && extra.as_ref().is_none_or(Phases::done)) {
            let pause = pause_after(started.elapsed(), duty_cycle);
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_follow_the_duty_cycle() {
        let batch = Duration::from_millis(40);
        assert_eq!(pause_after(batch, 1.0), Duration::ZERO);
        assert_eq!(pause_after(batch, 0.5), batch);
        assert_eq!(pause_after(batch, 0.25), Duration::from_millis(120));
        assert_eq!(pause_after(batch, 0.0), Duration::ZERO);
        assert_eq!(pause_after(batch, f64::NAN), Duration::ZERO);
    }
}
