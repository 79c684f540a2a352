//! [`SweepLease`] on SQL: one row per lease name (as a keyed hash) with its holder and
//! expiry. `try_acquire` is a conditional insert that takes the row over when its holder
//! is the caller (a renewal) or it has expired (see [`crate::upsert`]); `release` is
//! one `DELETE … WHERE holder = $2`.

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::{Result, SweepLease};

use crate::connection::{Arg, retrying};
use crate::dialect::{Stmt, Tables};
use crate::node::SharedNode;
use crate::upsert::{ConditionalInsert, Written};

/// The hashing domain of lease names.
const NAME_DOMAIN: &str = "lease.name";

pub(crate) struct LeaseSql {
    /// `$1` name hash, `$2` holder, `$3` expires_at, `$4` now.
    acquire: ConditionalInsert,
    release: Stmt,
}

impl LeaseSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let l = &t.leases;
        LeaseSql {
            acquire: ConditionalInsert::when(
                d,
                l,
                &["k", "holder", "expires_at"],
                "({t}holder = $2 OR {t}expires_at <= $4)",
            ),
            release: Stmt::new(d, format!("DELETE FROM {l} WHERE k = $1 AND holder = $2")),
        }
    }
}

/// The SQL [`SweepLease`].
pub(crate) struct SqlSweepLease {
    pub node: SharedNode,
    pub sql: LeaseSql,
}

impl std::fmt::Debug for SqlSweepLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSweepLease")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SweepLease for SqlSweepLease {
    async fn try_acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let limits = &self.node.config.limits;
        limits.check_key("lease name", name)?;
        limits.check_key("lease holder", holder)?;
        limits.check_ttl("lease ttl", ttl)?;
        let key = self.node.hash(NAME_DOMAIN, name.as_bytes());
        let written = retrying!(
            async {
                let now = self.node.now();
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Bytes(holder.as_bytes()),
                    Arg::Int(now.saturating_add(ttl).as_millis()),
                    Arg::Int(now.as_millis()),
                ];
                self.sql.acquire.run(&self.node.db, &args).await
            }
            .await
        )?;
        Ok(written == Written::Yes)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<()> {
        let key = self.node.hash(NAME_DOMAIN, name.as_bytes());
        retrying!(
            self.node
                .db
                .execute(
                    &self.sql.release,
                    &[Arg::Bytes(key.as_bytes()), Arg::Bytes(holder.as_bytes())]
                )
                .await
        )?;
        Ok(())
    }
}
