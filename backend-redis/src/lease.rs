//! [`SweepLease`] on Redis: one hash per lease (`h` holder, `e` expiry by the store's
//! clock) under the keyed hash of the lease name. Holders are operator-chosen labels
//! (a node id), kept as they are.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `try_acquire` | 1 script (`lease_acquire`) |
//! | `release` | 1 script (`lease_release`) |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::time::duration_millis;
use authstate_core::{Result, SweepLease};

use crate::backend::{Args, Node, Write, later, reply};
use crate::scripts::{LEASE_ACQUIRE, LEASE_RELEASE};

/// The hashing domain of lease names.
const NAME_DOMAIN: &str = "lease.name";

/// The Redis [`SweepLease`].
#[derive(Debug)]
pub(crate) struct RedisSweepLease(pub(crate) Node);

impl RedisSweepLease {
    fn key(&self, name: &str) -> String {
        self.0
            .keys
            .lease(&self.0.hash(NAME_DOMAIN, name.as_bytes()))
    }
}

#[async_trait]
impl SweepLease for RedisSweepLease {
    async fn try_acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let limits = &self.0.config.limits;
        limits.check_key("lease name", name)?;
        limits.check_key("lease holder", holder)?;
        limits.check_ttl("lease ttl", ttl)?;
        let now = self.0.now();
        later(now, ttl, "lease ttl")?;
        let args = Args::new()
            .int(now)
            .int(self.0.grace())
            .bytes(holder)
            .int(duration_millis(ttl));
        let taken = self
            .0
            .eval(&LEASE_ACQUIRE, &[self.key(name)], args, Write::Yes)
            .await?;
        Ok(reply::int(&taken, "lease acquire")? == 1)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<()> {
        self.0
            .eval(
                &LEASE_RELEASE,
                &[self.key(name)],
                Args::new().bytes(holder),
                Write::Yes,
            )
            .await?;
        Ok(())
    }
}
