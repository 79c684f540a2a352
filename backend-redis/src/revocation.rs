//! [`RevocationStore`] on Redis: one string per revoked session reference or subject,
//! and the change feed as a sorted set scored by sequence number, all under the
//! namespace's revocation tag `{rev:<ns>}` (see [`crate::keys`] for why one slot).
//!
//! A revocation and its feed entry are written by one script: a revocation never exists
//! without its change, and `until` is never shortened. Revocations are not secret (keyed
//! hashes and times), so they are not sealed; nothing a tamperer writes can read as
//! "not revoked" without deleting the record, which a writer can always do.
//!
//! | operation | commands |
//! |-----------|----------|
//! | `revoke`, `revoke_subject` | 1 script (`revoke_sri`, `revoke_subject`) |
//! | `is_revoked` | 1 `MGET` |
//! | `changes_since` | 1 `ZRANGE` |

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    ChangeBatch, Error, Purge, PurgePolicy, PurgeReport, REVOCATION_SRI_DOMAIN,
    REVOCATION_SUBJECT_DOMAIN, Result, RevocationChange, RevocationStore, RevocationTarget,
    Timestamp,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::Value;

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, check_time, index_key, reply};
use crate::keys::encode;
use crate::purge::{self, Spec};
use crate::scripts::{REVOCATION_PURGE, REVOKE_SRI, REVOKE_SUBJECT};

/// The Redis [`RevocationStore`].
#[derive(Debug)]
pub(crate) struct RedisRevocationStore(pub(crate) Node);

impl RedisRevocationStore {
    fn sri_key(&self, sri: &str) -> Result<IndexKey> {
        self.0
            .config
            .limits
            .check_key("session reference id", sri)?;
        Ok(self.0.hash(REVOCATION_SRI_DOMAIN, sri.as_bytes()))
    }

    fn subject_key(&self, subject: &str) -> Result<IndexKey> {
        self.0
            .config
            .limits
            .check_key("revocation subject", subject)?;
        Ok(self.0.hash(REVOCATION_SUBJECT_DOMAIN, subject.as_bytes()))
    }

    /// Refuses an `until` at or before `now`.
    fn check_until(until: Timestamp, now: Timestamp) -> Result<i64> {
        if until <= now {
            return Err(Error::invalid_input(
                BACKEND_NAME,
                "revocation until is at or before now: it would never be in force",
            ));
        }
        check_time(until, "revocation until")
    }

    /// The feed, counter and purge index, after `record`: every revocation script's keys.
    fn script_keys(&self, record: String) -> [String; 4] {
        let ks = &self.0.keys;
        [
            record,
            ks.revocation_feed(),
            ks.revocation_seq(),
            ks.revocation_expiry(),
        ]
    }
}

/// The numbers at the start of a stored revocation (`until …` or `before until …`).
fn numbers(stored: &[u8], count: usize, what: &str) -> Result<Vec<i64>> {
    let text = std::str::from_utf8(stored).map_err(|_| reply::malformed(what))?;
    let numbers: Vec<i64> = text
        .split(' ')
        .take(count)
        .map(|n| n.parse().map_err(|_| reply::malformed(what)))
        .collect::<Result<_>>()?;
    if numbers.len() != count {
        return Err(reply::malformed(what));
    }
    Ok(numbers)
}

/// A hash as written in feed entries, back to an [`IndexKey`].
fn decode_hash(text: &str) -> Result<IndexKey> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| reply::malformed("revocation feed entry"))?;
    index_key(&bytes)
}

/// One feed entry: `seq s <hash> until` or `seq u <hash> before until`.
fn parse_change(entry: &[u8]) -> Result<RevocationChange> {
    let what = "revocation feed entry";
    let text = std::str::from_utf8(entry).map_err(|_| reply::malformed(what))?;
    let parts: Vec<&str> = text.split(' ').collect();
    let int = |s: &str| s.parse::<i64>().map_err(|_| reply::malformed(what));
    match parts[..] {
        [seq, "s", hash, until] => Ok(RevocationChange {
            seq: seq.parse().map_err(|_| reply::malformed(what))?,
            target: RevocationTarget::Session(decode_hash(hash)?),
            until: Timestamp::from_millis(int(until)?),
        }),
        [seq, "u", hash, before, until] => Ok(RevocationChange {
            seq: seq.parse().map_err(|_| reply::malformed(what))?,
            target: RevocationTarget::Subject {
                subject: decode_hash(hash)?,
                before: Timestamp::from_millis(int(before)?),
            },
            until: Timestamp::from_millis(int(until)?),
        }),
        _ => Err(reply::malformed(what)),
    }
}

#[async_trait]
impl RevocationStore for RedisRevocationStore {
    async fn revoke(&self, sri: &str, until: Timestamp) -> Result<()> {
        let key = self.sri_key(sri)?;
        let now = self.0.config.now();
        let until = Self::check_until(until, now)?;
        let keys = self.script_keys(self.0.keys.revoked_sri(&key));
        let args = Args::new()
            .int(now.as_millis())
            .int(self.0.grace())
            .bytes(encode(&key))
            .int(until);
        let seq = self.0.eval(&REVOKE_SRI, &keys, args, Write::Yes).await?;
        if reply::int(&seq, "revoke")? < 0 {
            return Err(reply::malformed("revoke"));
        }
        Ok(())
    }

    async fn is_revoked(&self, sri: &str, subject: &str, issued_at: Timestamp) -> Result<bool> {
        let sri_key = self.sri_key(sri)?;
        let subject_key = self.subject_key(subject)?;
        let now = self.0.now();
        let mut cmd = redis::cmd("MGET");
        cmd.arg(self.0.keys.revoked_sri(&sri_key))
            .arg(self.0.keys.revoked_subject(&subject_key));
        let found = reply::array(self.0.query(&cmd, Write::No).await?, "is_revoked")?;
        let mut it = found.into_iter();
        let mut next = || it.next().unwrap_or(Value::Nil);
        let (by_sri, by_subject) = (next(), next());
        if let Some(stored) = reply::opt_bytes(by_sri, "revoked session reference")? {
            let until = numbers(&stored, 1, "revoked session reference")?[0];
            if until > now {
                return Ok(true);
            }
        }
        if let Some(stored) = reply::opt_bytes(by_subject, "revoked subject")? {
            let n = numbers(&stored, 2, "revoked subject")?;
            if n[1] > now {
                return Ok(issued_at.as_millis() < n[0]);
            }
        }
        Ok(false)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        before: Timestamp,
        until: Timestamp,
    ) -> Result<()> {
        let key = self.subject_key(subject)?;
        let now = self.0.config.now();
        let until = Self::check_until(until, now)?;
        let before = check_time(before, "revocation before")?;
        let keys = self.script_keys(self.0.keys.revoked_subject(&key));
        let args = Args::new()
            .int(now.as_millis())
            .int(self.0.grace())
            .bytes(encode(&key))
            .int(before)
            .int(until);
        let seq = self
            .0
            .eval(&REVOKE_SUBJECT, &keys, args, Write::Yes)
            .await?;
        if reply::int(&seq, "revoke_subject")? < 0 {
            return Err(reply::malformed("revoke_subject"));
        }
        Ok(())
    }

    async fn changes_since(&self, cursor: u64, limit: usize) -> Result<ChangeBatch> {
        if limit == 0 {
            return Ok(ChangeBatch {
                changes: Vec::new(),
                cursor,
            });
        }
        // Every change is listed until purge removes it with its revocation, even after
        // its `until`: a cache that missed it learns it existed and drops it by `until`.
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(self.0.keys.revocation_feed())
            .arg(format!("({cursor}"))
            .arg("+inf")
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(i64::try_from(limit).unwrap_or(i64::MAX));
        let entries = reply::array(self.0.query(&cmd, Write::No).await?, "changes_since")?;
        let changes = entries
            .into_iter()
            .map(|e| parse_change(&reply::bytes(e, "revocation feed entry")?))
            .collect::<Result<Vec<_>>>()?;
        let cursor = changes.last().map_or(cursor, |c| c.seq);
        Ok(ChangeBatch { changes, cursor })
    }
}

#[async_trait]
impl Purge for RedisRevocationStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        let ks = &self.0.keys;
        let spec = Spec {
            script: &REVOCATION_PURGE,
            indexes: vec![ks.revocation_expiry()],
            lead_keys: vec![ks.revocation_expiry(), ks.revocation_feed()],
            lead_args: &|cut| Args::new().int(cut.expiry),
            candidate_keys: &|member| {
                let (kind, hash) = member
                    .split_first()
                    .ok_or_else(|| reply::malformed("revocation index member"))?;
                let hash = decode_hash(
                    std::str::from_utf8(hash)
                        .map_err(|_| reply::malformed("revocation index member"))?,
                )?;
                match kind {
                    b's' => Ok(vec![ks.revoked_sri(&hash)]),
                    b'u' => Ok(vec![ks.revoked_subject(&hash)]),
                    _ => Err(reply::malformed("revocation index member")),
                }
            },
        };
        purge::run(&self.0, policy, &spec).await
    }
}
