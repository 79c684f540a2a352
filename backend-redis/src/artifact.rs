//! [`ArtifactStore`] on Redis: one hash per artifact under the keyed hash of its handle.
//! `take` turns it into a tombstone (the time of the take, payload gone) that keeps the
//! handle until the original expiry, in the same script that hands out the payload: of
//! any number of concurrent takes, one gets it.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `put` | 1 script (`artifact_put`) |
//! | `take` | 1 script (`artifact_take`) |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    ArtifactStore, Contract, Error, Purge, PurgePolicy, PurgeReport, Result, Take, Timestamp,
};
use redis::Value;

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, index_key, later, reply};
use crate::keys::{BUCKETS, Code};
use crate::purge::{self, Spec};
use crate::scripts::{ARTIFACT_PUT, ARTIFACT_TAKE, PURGE_RECORDS};

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
        let ks = &self.0.keys;
        let keys = [
            ks.record(Code::Artifact, &key),
            ks.expiry_index_of(Code::Artifact, &key),
        ];
        let args = Args::new()
            .int(now)
            .int(self.0.grace())
            .bytes(key.as_bytes().to_vec())
            .int(expires_at)
            .bytes(sealed);
        let stored = self.0.eval(&ARTIFACT_PUT, &keys, args, Write::Yes).await?;
        match reply::int(&stored, "artifact put")? {
            1 => Ok(()),
            0 => Err(Error::already_exists(
                BACKEND_NAME,
                "an artifact with this handle is live, or was taken and has not reached its \
                 expiry",
            )),
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

#[async_trait]
impl Purge for RedisArtifactStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_hashes(&self.0, Code::Artifact, policy).await
    }
}

/// The purge of a contract whose records are hashes with their expiry in `e` and one
/// purge index per bucket (artifacts, state values, lockout counters, tokens).
pub(crate) async fn purge_hashes(
    node: &Node,
    code: Code,
    policy: &PurgePolicy,
) -> Result<PurgeReport> {
    purge_single(node, code, "h", policy).await
}

/// [`purge_hashes`] for records of `kind` (`h` hash, `s` string).
pub(crate) async fn purge_single(
    node: &Node,
    code: Code,
    kind: &'static str,
    policy: &PurgePolicy,
) -> Result<PurgeReport> {
    let ks = &node.keys;
    let spec = Spec {
        script: &PURGE_RECORDS,
        indexes: (0..BUCKETS)
            .map(|b| ks.expiry_index(code, b as u8))
            .collect(),
        activity: None,
        lead_keys: Vec::new(),
        lead_args: &|cut| Args::new().bytes(kind).int(cut.expiry),
        candidate_keys: &|member| {
            let key = index_key(member)?;
            Ok(vec![ks.record(code, &key), ks.expiry_index_of(code, &key)])
        },
    };
    purge::run(node, policy, &spec).await
}
