//! [`StateStore`] on Redis: one hash per value under the keyed hash of its key (`e`
//! expiry, `v` sealed value).
//!
//! | operation | commands |
//! |-----------|----------|
//! | `put`, `put_if_absent` | 1 script (`state_put`) |
//! | `get` | 1 `HMGET` |
//! | `remove` | 1 script (`remove_live`) |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{Contract, Purge, PurgePolicy, PurgeReport, Result, StateStore};

use crate::backend::{Args, Node, Write, later, reply};
use crate::keys::Code;
use crate::purge::{self, Kind};
use crate::scripts::{REMOVE_LIVE, STATE_PUT};

/// The hashing domain of state keys (as in the memory backend).
const KEY_DOMAIN: &str = "state.key";

/// The Redis [`StateStore`].
#[derive(Debug)]
pub(crate) struct RedisStateStore(pub(crate) Node);

impl RedisStateStore {
    fn key(&self, key: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("state key", key)?;
        Ok(self.0.hash(KEY_DOMAIN, key.as_bytes()))
    }

    /// Stores the value; with `only_if_absent`, only if no live value is there.
    async fn store(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        only_if_absent: bool,
    ) -> Result<bool> {
        let key = self.key(key)?;
        let limits = &self.0.config.limits;
        limits.check_payload("state value", value.len())?;
        limits.check_ttl("state ttl", ttl)?;
        let sealed = self.0.seal_bytes(Contract::State, key.as_bytes(), &value)?;
        let now = self.0.now();
        let expires_at = later(now, ttl, "state ttl")?;
        let keys = [self.0.keys.record(Code::State, &key)];
        let args = Args::new()
            .int(now)
            .int(self.0.grace())
            .int(expires_at)
            .bytes(sealed)
            .bytes(if only_if_absent { "1" } else { "0" });
        let stored = self.0.eval(&STATE_PUT, &keys, args, Write::Yes).await?;
        match reply::int(&stored, "state put")? {
            n if n < 0 => Err(reply::malformed("state put")),
            n => Ok(n == 1),
        }
    }
}

#[async_trait]
impl StateStore for RedisStateStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<()> {
        self.store(key, value, ttl, false).await.map(|_| ())
    }

    async fn put_if_absent(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool> {
        self.store(key, value, ttl, true).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(key)?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.0.keys.record(Code::State, &key))
            .arg("e")
            .arg("v");
        let fields = reply::array(self.0.query(&cmd, Write::No).await?, "state get")?;
        let mut it = fields.into_iter();
        let (Some(e), Some(v)) = (it.next(), it.next()) else {
            return Err(reply::malformed("state get"));
        };
        let Some(e) = reply::opt_int(e, "state expiry")? else {
            return Ok(None);
        };
        if e <= self.0.now() {
            return Ok(None);
        }
        let sealed = reply::bytes(v, "state value")?;
        self.0
            .unseal_bytes(Contract::State, key.as_bytes(), &sealed)
            .map(Some)
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        let key = self.key(key)?;
        let keys = [self.0.keys.record(Code::State, &key)];
        let args = Args::new().int(self.0.now());
        let removed = self.0.eval(&REMOVE_LIVE, &keys, args, Write::Yes).await?;
        Ok(reply::int(&removed, "state remove")? == 1)
    }
}

#[async_trait]
impl Purge for RedisStateStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge::run_scan(&self.0, Code::State, Kind::Hash, policy).await
    }
}
