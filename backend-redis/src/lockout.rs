//! [`LockoutStore`] on Redis: one hash per counter under the keyed hash of its key
//! (`f` failures, `l` locked until, `e` expiry), in plain integers so the script can
//! count atomically. Nothing in it is secret, so it is not sealed; the rule is the one
//! documented on [`LockoutStore`], with the store's clock.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `record_failure` | 1 script (`lockout_failure`) |
//! | `status` | 1 `HMGET` |
//! | `reset` | 1 `DEL` |

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::time::duration_millis;
use authstate_core::{
    LockoutPolicy, LockoutStatus, LockoutStore, Purge, PurgePolicy, PurgeReport, Result, Timestamp,
};

use crate::backend::{Args, Node, Write, later, reply};
use crate::keys::Code;
use crate::purge::{self, Kind};
use crate::scripts::LOCKOUT_FAILURE;

/// The hashing domain of lockout keys (as in the memory backend).
const KEY_DOMAIN: &str = "lockout.key";

/// The Redis [`LockoutStore`].
#[derive(Debug)]
pub(crate) struct RedisLockoutStore(pub(crate) Node);

impl RedisLockoutStore {
    fn key(&self, key: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("lockout key", key)?;
        Ok(self.0.hash(KEY_DOMAIN, key.as_bytes()))
    }
}

/// A status from stored failures and lock end (0: none).
fn status(failures: i64, locked_until: i64) -> Result<LockoutStatus> {
    Ok(LockoutStatus {
        failures: u32::try_from(failures).map_err(|_| reply::malformed("lockout failures"))?,
        locked_until: (locked_until != 0).then(|| Timestamp::from_millis(locked_until)),
    })
}

#[async_trait]
impl LockoutStore for RedisLockoutStore {
    async fn record_failure(&self, key: &str, policy: &LockoutPolicy) -> Result<LockoutStatus> {
        policy.validate()?;
        let key = self.key(key)?;
        let now = self.0.now();
        // Both ends must be exact in the script (and its sum with the window).
        later(now, policy.failure_window, "lockout failure_window")?;
        later(now, policy.lockout_duration, "lockout lockout_duration")?;
        let keys = [self.0.keys.record(Code::Lockout, &key)];
        let args = Args::new()
            .int(now)
            .int(self.0.grace())
            .int(i64::from(policy.max_failures))
            .int(duration_millis(policy.failure_window))
            .int(duration_millis(policy.lockout_duration));
        let counted = self
            .0
            .eval(&LOCKOUT_FAILURE, &keys, args, Write::Yes)
            .await?;
        let items = reply::array(counted, "lockout failure")?;
        let failures = reply::status(&items, "lockout failure")?;
        let locked_until = reply::int(
            items.get(1).unwrap_or(&redis::Value::Nil),
            "lockout locked_until",
        )?;
        status(failures, locked_until)
    }

    async fn status(&self, key: &str) -> Result<LockoutStatus> {
        let key = self.key(key)?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.0.keys.record(Code::Lockout, &key))
            .arg("f")
            .arg("l")
            .arg("e");
        let fields = reply::array(self.0.query(&cmd, Write::No).await?, "lockout status")?;
        let mut it = fields.into_iter();
        let mut next = || it.next().unwrap_or(redis::Value::Nil);
        let (f, l, e) = (next(), next(), next());
        let Some(e) = reply::opt_int(e, "lockout expiry")? else {
            return Ok(LockoutStatus::default());
        };
        if e <= self.0.now() {
            return Ok(LockoutStatus::default());
        }
        status(
            reply::int(&f, "lockout failures")?,
            reply::int(&l, "lockout locked_until")?,
        )
    }

    async fn reset(&self, key: &str) -> Result<()> {
        let key = self.key(key)?;
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.0.keys.record(Code::Lockout, &key));
        self.0.query(&cmd, Write::Yes).await?;
        Ok(())
    }
}

#[async_trait]
impl Purge for RedisLockoutStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge::run_scan(&self.0, Code::Lockout, Kind::Hash, policy).await
    }
}
