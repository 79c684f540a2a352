//! [`ArtifactStore`] on Redis: one string per artifact under the keyed hash of its
//! handle:
//!
//! ```text
//! 0x02 | expiry: i64 | sealed payload        (live)
//! 0x03 | expiry: i64 | taken at: i64         (tombstone)
//! ```
//!
//! (big-endian, ms by the store's clock). `take` turns the record into a tombstone that
//! keeps the handle until the original expiry, in the same script that hands out the
//! payload: of any number of concurrent takes, one gets it. A string and not a hash: a
//! hash with a payload over 64 bytes loses Redis's compact encoding, and a string lets
//! `put` be one native `SET … NX GET`.
//!
//! Artifacts written by an earlier version are hashes (`e` expiry, `p` payload, `t`
//! taken at); `take`, `put` and purge still read them.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `put` | 1 `SET … NX GET PX` (+1 script, `artifact_put`, when the handle is held by a record expired by the store's clock that the server keeps within its grace, or by an earlier layout's) |
//! | `take` | 1 script (`artifact_take`) |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    ArtifactStore, Contract, Error, Purge, PurgePolicy, PurgeReport, Result, Take, Timestamp,
};
use redis::Value;

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, later, reply};
use crate::keys::Code;
use crate::purge::{self, Kind};
use crate::scripts::{ARTIFACT_PUT, ARTIFACT_TAKE};

/// The hashing domain of artifact handles (as in the memory backend).
const HANDLE_DOMAIN: &str = "artifact.handle";

/// The Redis [`ArtifactStore`].
#[derive(Debug)]
pub(crate) struct RedisArtifactStore(pub(crate) Node);

impl RedisArtifactStore {
    fn key(&self, handle: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("artifact handle", handle)?;
        Ok(self.0.hash(HANDLE_DOMAIN, handle.as_bytes()))
    }
}

#[async_trait]
impl ArtifactStore for RedisArtifactStore {
    async fn put(&self, handle: &str, payload: Vec<u8>, ttl: Duration) -> Result<()> {
        let key = self.key(handle)?;
        let limits = &self.0.config.limits;
        limits.check_payload("artifact payload", payload.len())?;
        limits.check_ttl("artifact ttl", ttl)?;
        let now = self.0.now();
        let expires_at = later(now, ttl, "artifact ttl")?;
        let sealed = self
            .0
            .seal_bytes(Contract::Artifact, key.as_bytes(), &payload)?;
        let record = pack(expires_at, &sealed);
        let rec = self.0.keys.record(Code::Artifact, &key);
        // The common case is one native command: stored if the handle is free, and the
        // record that holds it (if any) back.
        let mut cmd = redis::cmd("SET");
        cmd.arg(&rec)
            .arg(&record[..])
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(
                expires_at
                    .saturating_sub(now)
                    .saturating_add(self.0.grace())
                    .max(1),
            );
        match self.0.query_typed(&cmd, Write::Yes).await? {
            Some(Value::Nil) => return Ok(()),
            Some(held) => {
                let held = reply::bytes(held, "artifact record")?;
                if expiry(&held)? > now {
                    return Err(held_error());
                }
            }
            // A record of an earlier layout (a hash): the script decides.
            None => {}
        }
        // The handle is held by a record expired by the store's clock that the server
        // keeps within its grace (or by an earlier layout's): checked and replaced by the
        // script, a second round trip on this rare path only.
        let args = Args::new()
            .int(now)
            .int(self.0.grace())
            .int(expires_at)
            .bytes(record);
        let stored = self.0.eval(&ARTIFACT_PUT, &[rec], args, Write::Yes).await?;
        match reply::int(&stored, "artifact put")? {
            1 => Ok(()),
            0 => Err(held_error()),
            _ => Err(reply::malformed("artifact put")),
        }
    }

    async fn take(&self, handle: &str) -> Result<Take> {
        let key = self.key(handle)?;
        let keys = [self.0.keys.record(Code::Artifact, &key)];
        let args = Args::new().int(self.0.now());
        let taken = self.0.eval(&ARTIFACT_TAKE, &keys, args, Write::Yes).await?;
        let items = reply::array(taken, "artifact take")?;
        let status = reply::status(&items, "artifact take")?;
        let second = items.into_iter().nth(1).unwrap_or(Value::Nil);
        match status {
            0 => Ok(Take::Unknown),
            1 => {
                let at = reply::int(&second, "artifact taken_at")?;
                Ok(Take::Replayed {
                    taken_at: Timestamp::from_millis(at),
                })
            }
            _ => {
                // The tombstone is written whatever the payload holds: a payload that
                // does not open is `Corrupt`, and the handle stays spent (fail closed).
                let sealed = reply::bytes(second, "artifact payload")?;
                let payload = self
                    .0
                    .unseal_bytes(Contract::Artifact, key.as_bytes(), &sealed)?;
                Ok(Take::Fresh(payload))
            }
        }
    }
}

/// The format byte of a live artifact record (its sealed payload follows the header).
const LIVE: u8 = 2;
/// The format byte of a taken artifact's tombstone (the time of the take follows).
const TAKEN: u8 = 3;
/// Format byte and expiry.
const HEADER_LEN: usize = 9;

/// The stored form of a live artifact.
fn pack(expires_at: i64, sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.push(LIVE);
    out.extend_from_slice(&expires_at.to_be_bytes());
    out.extend_from_slice(sealed);
    out
}

/// The expiry of a stored artifact record (live or tombstone).
fn expiry(record: &[u8]) -> Result<i64> {
    match record.get(..HEADER_LEN) {
        Some([format, e @ ..]) if *format == LIVE || *format == TAKEN => {
            let mut b = [0u8; 8];
            b.copy_from_slice(e);
            Ok(i64::from_be_bytes(b))
        }
        _ => Err(reply::malformed("artifact record")),
    }
}

fn held_error() -> Error {
    Error::already_exists(
        BACKEND_NAME,
        "an artifact with this handle is live, or was taken and has not reached its expiry",
    )
}

#[async_trait]
impl Purge for RedisArtifactStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge::run_scan(&self.0, Code::Artifact, Kind::Artifact, policy).await
    }
}
