//! [`ReplayCache`] on Redis: one string per seen id under its keyed hash, holding its
//! `not_after`. Nothing is secret in it, so it is not sealed (a tampered entry can only
//! read as replayed or malformed, never fresh).
//!
//! The server never evicts a live entry by itself: its TTL is `not_after` plus the grace,
//! and a server whose `maxmemory-policy` evicts keys can drop it anyway — run Redis with
//! `noeviction`.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `check_and_record` | 1 `SET … NX GET PX` (+1 script, `replay_check`, when the id is held by an entry expired by the store's clock that the server still keeps within its grace) |

use async_trait::async_trait;
use authstate_core::{
    Error, Purge, PurgePolicy, PurgeReport, Replay, ReplayCache, Result, Timestamp,
};

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, check_time, reply};
use crate::keys::Code;
use crate::purge::{self, Kind};
use crate::scripts::REPLAY_CHECK;

/// The hashing domain of replay ids (as in the memory backend).
const ID_DOMAIN: &str = "replay.id";

/// The Redis [`ReplayCache`].
#[derive(Debug)]
pub(crate) struct RedisReplayCache(pub(crate) Node);

#[async_trait]
impl ReplayCache for RedisReplayCache {
    async fn check_and_record(&self, id: &str, not_after: Timestamp) -> Result<Replay> {
        let config = &self.0.config;
        config.limits.check_key("replay id", id)?;
        let now = config.now();
        if not_after <= now {
            return Err(Error::invalid_input(
                BACKEND_NAME,
                "replay not_after is at or before now: the assertion has already expired",
            ));
        }
        let max = config.limits.max_replay_retention;
        if not_after > now.saturating_add(max) {
            return Err(Error::invalid_input(
                BACKEND_NAME,
                format!(
                    "replay not_after is more than the maximum retention of {}s from now",
                    max.as_secs()
                ),
            ));
        }
        let not_after = check_time(not_after, "replay not_after")?;
        let key = self.0.hash(ID_DOMAIN, id.as_bytes());
        let now = now.as_millis();
        let record = self.0.keys.record(Code::Replay, &key);
        // The common case is one native command: stored if absent, and the entry that
        // holds the id (if any) back.
        let mut cmd = redis::cmd("SET");
        cmd.arg(&record)
            .arg(not_after)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(
                not_after
                    .saturating_sub(now)
                    .saturating_add(self.0.grace())
                    .max(1),
            );
        let held = self.0.query(&cmd, Write::Yes).await?;
        let Some(held) = reply::opt_bytes(held, "replay entry")? else {
            return Ok(Replay::Fresh);
        };
        if reply::parse_int(&held, "replay entry")? > now {
            return Ok(Replay::Replayed);
        }
        // An entry expired by the store's clock, kept by the server's grace: checked and
        // replaced by the script (a second round trip, on this rare path only).
        let args = Args::new().int(now).int(self.0.grace()).int(not_after);
        let seen = self
            .0
            .eval(
                &REPLAY_CHECK,
                std::slice::from_ref(&record),
                args,
                Write::Yes,
            )
            .await?;
        match reply::int(&seen, "replay check")? {
            1 => Ok(Replay::Fresh),
            0 => Ok(Replay::Replayed),
            _ => Err(reply::malformed("replay check")),
        }
    }
}

#[async_trait]
impl Purge for RedisReplayCache {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge::run_scan(&self.0, Code::Replay, Kind::Number, policy).await
    }
}
