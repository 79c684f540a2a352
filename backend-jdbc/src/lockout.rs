//! [`LockoutStore`] on SQL: failure counters under the keyed hash of their key, kept as
//! plain integer columns so that the database counts atomically.
//!
//! `record_failure` is one statement in all three dialects: an upsert that starts a
//! dead or missing counter at 1 and adds 1 to a live one, computes `locked_until` and
//! the counter's expiry as [`LockoutStore`] documents, and returns the new row
//! (`ON CONFLICT DO UPDATE … RETURNING`; MariaDB `ON DUPLICATE KEY UPDATE … RETURNING`,
//! whose assignments run left to right, hence their order there). N concurrent failures
//! count exactly N and each caller sees its own count.
//!
//! The counter is not a secret (the key is a keyed hash), so nothing is sealed; a row
//! altered outside authstate reads as what it says.

use async_trait::async_trait;
use authstate_core::{
    LockoutPolicy, LockoutStatus, LockoutStore, Purge, PurgePolicy, PurgeReport, Result, Timestamp,
};

use crate::connection::{Arg, Row, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::node::SharedNode;
use crate::purge::{PurgeTable, purge_table};

/// The hashing domain of lockout keys; the same in every backend.
const KEY_DOMAIN: &str = authstate_core::domains::LOCKOUT_KEY;

pub(crate) struct LockoutSql {
    /// `$1` key, `$2` locked_until for a first failure, `$3` expiry for a first failure,
    /// `$4` now, `$5` max_failures, `$6` now + lockout_duration, `$7` now + failure_window.
    failure: Stmt,
    status: Stmt,
    reset: Stmt,
    pub purge: PurgeTable,
}

impl LockoutSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let l = &t.lockout;
        let q = if d == Dialect::MySql { "" } else { "t." };
        // The old row, read before any assignment.
        let dead = format!("{q}expires_at <= $4");
        let count = format!("CASE WHEN {dead} THEN 1 ELSE {q}failures + 1 END");
        let lock = format!(
            "CASE WHEN ({count}) >= $5 THEN $6 WHEN {dead} THEN NULL ELSE {q}locked_until END"
        );
        let failure = match d {
            Dialect::MySql => format!(
                // Left to right: `locked_until` and `failures` read the old row, then
                // `expires_at` reads the new `locked_until`.
                "INSERT INTO {l} (k, failures, locked_until, expires_at) VALUES ($1, 1, $2, $3) \
                 ON DUPLICATE KEY UPDATE locked_until = {lock}, failures = {count}, \
                 expires_at = CASE WHEN locked_until > $7 THEN locked_until ELSE $7 END \
                 RETURNING failures, locked_until"
            ),
            _ => format!(
                // Every assignment reads the old row, so the new lock is computed again.
                "INSERT INTO {l} AS t (k, failures, locked_until, expires_at) \
                 VALUES ($1, 1, $2, $3) ON CONFLICT (k) DO UPDATE SET failures = {count}, \
                 locked_until = {lock}, \
                 expires_at = CASE WHEN ({lock}) > $7 THEN ({lock}) ELSE $7 END \
                 RETURNING failures, locked_until"
            ),
        };
        LockoutSql {
            failure: Stmt::new(d, failure),
            status: Stmt::new(
                d,
                format!("SELECT failures, locked_until FROM {l} WHERE k = $1 AND expires_at > $2"),
            ),
            reset: Stmt::new(d, format!("DELETE FROM {l} WHERE k = $1")),
            purge: PurgeTable::new(t, l, "k", None),
        }
    }
}

/// The SQL [`LockoutStore`].
pub(crate) struct SqlLockoutStore {
    pub node: SharedNode,
    pub sql: LockoutSql,
}

impl std::fmt::Debug for SqlLockoutStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlLockoutStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SqlLockoutStore {
    fn key(&self, key: &str) -> Result<authstate_core::codec::IndexKey> {
        self.node.config.limits.check_key("lockout key", key)?;
        Ok(self.node.hash(KEY_DOMAIN, key.as_bytes()))
    }

    fn status_of(&self, row: &Row) -> Result<LockoutStatus> {
        let failures = row.int(0)?;
        let failures = u32::try_from(failures.max(0)).unwrap_or(u32::MAX);
        Ok(LockoutStatus {
            failures,
            locked_until: row.opt_int(1)?.map(Timestamp::from_millis),
        })
    }
}

#[async_trait]
impl LockoutStore for SqlLockoutStore {
    async fn record_failure(&self, key: &str, policy: &LockoutPolicy) -> Result<LockoutStatus> {
        policy.validate()?;
        let key = self.key(key)?;
        let row = retrying!(
            async {
                let now = self.node.now();
                let lock_end = now.saturating_add(policy.lockout_duration).as_millis();
                let window_end = now.saturating_add(policy.failure_window).as_millis();
                let first_lock = (policy.max_failures <= 1).then_some(lock_end);
                let first_expiry = first_lock.map_or(window_end, |l| l.max(window_end));
                self.node
                    .db
                    .fetch_optional(
                        &self.sql.failure,
                        &[
                            Arg::Bytes(key.as_bytes()),
                            Arg::OptInt(first_lock),
                            Arg::Int(first_expiry),
                            Arg::Int(now.as_millis()),
                            Arg::Int(i64::from(policy.max_failures)),
                            Arg::Int(lock_end),
                            Arg::Int(window_end),
                        ],
                    )
                    .await
            }
            .await
        )?;
        match row {
            Some(r) => self.status_of(&r),
            None => Err(authstate_core::Error::unexpected(
                self.node.name(),
                "the lockout upsert returned no row",
            )),
        }
    }

    async fn status(&self, key: &str) -> Result<LockoutStatus> {
        let key = self.key(key)?;
        let now = self.node.now().as_millis();
        let row = retrying!(
            self.node
                .db
                .fetch_optional(
                    &self.sql.status,
                    &[Arg::Bytes(key.as_bytes()), Arg::Int(now)]
                )
                .await
        )?;
        match row {
            Some(r) => self.status_of(&r),
            None => Ok(LockoutStatus::default()),
        }
    }

    async fn reset(&self, key: &str) -> Result<()> {
        let key = self.key(key)?;
        retrying!(
            self.node
                .db
                .execute(&self.sql.reset, &[Arg::Bytes(key.as_bytes())])
                .await
        )?;
        Ok(())
    }
}

#[async_trait]
impl Purge for SqlLockoutStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, false).await
    }
}
