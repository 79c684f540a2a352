//! Purge: removing records past their time, in batches, by the store's clock.
//!
//! Records carry no write-time purge index: a write touches its record (and, for
//! sessions and tokens, its owner indexes) and nothing else. Purge finds the records
//! with `SCAN cursor MATCH as:<ns>:{<code>:??}[^:]* COUNT n` — a record's name is its tag
//! and then a base64url character, an index's name its tag and then `:`, so the pattern
//! lists records only (see [`crate::keys`]) — on every primary of a Redis Cluster in
//! turn. The keys it finds go to the contract's batch script (`purge_scan`), which reads
//! each record and deletes it only if it is dead by the cutoffs the caller computed
//! from the store's clock, stopping once it has deleted what the batch may still
//! delete. So a batch never deletes a live record nor more than `batch_size`; it scans
//! until it has deleted `batch_size` records or the scan is complete.
//!
//! Redis drops a record by itself at its expiry plus the grace (its server TTL), so
//! purge only ever meets records within the grace, records expired by a store clock
//! ahead of the server's, and sessions idle past a `LastActivity` cap.
//!
//! The walk is kept in the store between calls: the sweeper calls purge with
//! `max_batches: Some(1)` until a call deletes nothing, and each call goes on where the
//! last one stopped (keys found but not yet examined included), until a call completes
//! the scan and the next starts again from the beginning. A call without `max_batches`
//! walks the whole key space from the beginning. `SCAN` may list a key twice, or miss
//! one written during the walk (the next walk finds it); the script decides every key
//! again, so either is harmless.
//!
//! The cost: `MATCH` filters the keys `SCAN` has already read, so a full walk reads every
//! key of the server (of each primary, on a cluster), this namespace's or not. On a
//! Redis that holds much else besides, a purge costs in proportion to all of it; the
//! sweeper's interval and rate limit bound how often that happens. Writes, in exchange,
//! pay nothing for purge (earlier versions kept a purge index per bucket, maintained in
//! every write's script, which cost most writes half their throughput).
//!
//! Revocations keep their purge index (one sorted set in the namespace's revocation
//! slot): they are few, and an index walk spares scanning the whole key space for them.
//!
//! Counts are of records: `examined` counts records the script found (a key it finds
//! again in a later batch counts again), `deleted` those it deleted; a batch that deleted
//! nothing is not counted.

use std::collections::VecDeque;

use authstate_core::time::duration_millis;
use authstate_core::{Error, PurgeCriterion, PurgePolicy, PurgeReport, Result};
use redis::Value;

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, reply};
use crate::keys::{Code, tag_of};
use crate::scripts::{PURGE_SCAN, Script};

/// How many buckets one pipelined index read covers (revocations: one).
const SCAN_CHUNK: usize = 32;

/// The `COUNT` of each `SCAN`: how many slots of the key space one call walks.
const SCAN_COUNT: usize = 1000;

/// The most keys one batch script examines.
const MAX_KEYS_PER_SCRIPT: usize = 256;

/// The times at or before which records are dead, in ms by the store's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cutoffs {
    /// Records whose expiry is at or before this are dead.
    pub(crate) expiry: i64,
    /// Sessions whose last activity is at or before this are dead (`LastActivity`).
    pub(crate) idle: Option<i64>,
}

impl Cutoffs {
    fn new(policy: &PurgePolicy, now: i64) -> Self {
        let expiry = now.saturating_sub(duration_millis(policy.offset));
        let idle = match policy.criterion {
            PurgeCriterion::Expiry => None,
            PurgeCriterion::LastActivity { max_idle } => {
                Some(expiry.saturating_sub(duration_millis(max_idle)))
            }
        };
        Cutoffs { expiry, idle }
    }
}

fn check_batch_size(policy: &PurgePolicy) -> Result<usize> {
    if policy.batch_size == 0 {
        return Err(Error::invalid_input(
            BACKEND_NAME,
            "purge batch_size is zero: a purge would never make progress",
        ));
    }
    Ok(usize::try_from(policy.batch_size).unwrap_or(usize::MAX))
}

/// How the batch script reads a contract's records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Session strings (header with absolute end, idle timeout, last activity).
    Session,
    /// Artifact strings (format byte, expiry), or hashes of an earlier version.
    Artifact,
    /// Strings holding their expiry in decimal (replay entries).
    Number,
    /// Hashes with their expiry in field `e` (state, lockout, tokens).
    Hash,
    /// Registries: hashes of `<expiry> <sealed>` values, one participant per field.
    Registry,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Session => "s",
            Kind::Artifact => "a",
            Kind::Number => "n",
            Kind::Hash => "h",
            Kind::Registry => "g",
        }
    }
}

/// One node's `SCAN`: the slot that routes to it (Redis Cluster) and its cursor.
#[derive(Debug, Clone, Copy)]
struct ScanNode {
    slot: Option<u16>,
    cursor: u64,
}

/// A walk over one contract's records, kept in the store between purge calls.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// The nodes to scan, in order (learned when the walk starts).
    nodes: Option<Vec<ScanNode>>,
    /// The node being scanned.
    at: usize,
    /// Keys found and not yet examined by a batch script.
    pending: VecDeque<String>,
}

impl Walk {
    /// Whether every node has been scanned to its end.
    fn scanned(&self) -> bool {
        self.nodes.as_ref().is_some_and(|n| self.at >= n.len())
    }

    /// Scans one page more into `pending`.
    async fn scan_page(&mut self, node: &Node, pattern: &str) -> Result<()> {
        if self.nodes.is_none() {
            self.nodes = Some(if node.cluster {
                node.primaries()
                    .await?
                    .into_iter()
                    .map(|slot| ScanNode {
                        slot: Some(slot),
                        cursor: 0,
                    })
                    .collect()
            } else {
                vec![ScanNode {
                    slot: None,
                    cursor: 0,
                }]
            });
            self.at = 0;
        }
        let Some(current) = self.nodes.as_ref().and_then(|n| n.get(self.at)).copied() else {
            return Ok(());
        };
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(current.cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let answer = node.query_at(&cmd, current.slot).await?;
        let mut parts = reply::array(answer, "purge SCAN")?.into_iter();
        let (Some(cursor), Some(keys)) = (parts.next(), parts.next()) else {
            return Err(reply::malformed("purge SCAN"));
        };
        let cursor = u64::try_from(reply::int(&cursor, "purge SCAN cursor")?)
            .map_err(|_| reply::malformed("purge SCAN cursor"))?;
        for key in reply::array(keys, "purge SCAN keys")? {
            // Names this backend wrote are ASCII; anything else is not one of its records.
            if let Ok(key) = String::from_utf8(reply::bytes(key, "purge SCAN key")?) {
                self.pending.push_back(key);
            }
        }
        if let Some(nodes) = self.nodes.as_mut() {
            nodes[self.at].cursor = cursor;
        }
        if cursor == 0 {
            self.at += 1;
        }
        Ok(())
    }

    /// The next keys for one script: the first pending keys, or on Redis Cluster the
    /// pending keys of the first one's tag (one slot).
    fn take_keys(&mut self, cluster: bool) -> Vec<String> {
        if !cluster {
            let n = self.pending.len().min(MAX_KEYS_PER_SCRIPT);
            return self.pending.drain(..n).collect();
        }
        let Some(first) = self.pending.front() else {
            return Vec::new();
        };
        let tag = tag_of(first).to_owned();
        let mut taken = Vec::new();
        let mut rest = VecDeque::with_capacity(self.pending.len());
        for key in self.pending.drain(..) {
            if taken.len() < MAX_KEYS_PER_SCRIPT && tag_of(&key) == tag {
                taken.push(key);
            } else {
                rest.push_back(key);
            }
        }
        self.pending = rest;
        taken
    }
}

/// Runs a purge of one contract's records by `SCAN` (every contract but revocations).
pub(crate) async fn run_scan(
    node: &Node,
    code: Code,
    kind: Kind,
    policy: &PurgePolicy,
) -> Result<PurgeReport> {
    let limit = check_batch_size(policy)?;
    let pattern = node.keys.record_pattern(code);
    // A call without a batch limit walks the whole key space; a limited one goes on
    // where the last limited call stopped.
    let mut walk = match policy.max_batches {
        None => Walk::default(),
        Some(_) => node.take_walk(code),
    };
    let mut report = PurgeReport::default();
    loop {
        if policy.max_batches.is_some_and(|max| report.batches >= max) {
            break;
        }
        // The clock is read per batch: a long purge keeps up with a moving clock.
        let cut = Cutoffs::new(policy, node.now());
        let mut deleted = 0;
        while deleted < limit {
            if walk.pending.is_empty() {
                if walk.scanned() {
                    break;
                }
                walk.scan_page(node, &pattern).await?;
                continue;
            }
            let keys = walk.take_keys(node.cluster);
            let (examined, removed, done) = batch(node, kind, cut, &keys, limit - deleted).await?;
            report.examined += examined;
            report.deleted += removed;
            deleted += usize::try_from(removed).unwrap_or(usize::MAX);
            // The keys the script did not reach (it stopped at the limit) come first next.
            for key in keys.into_iter().skip(done).rev() {
                walk.pending.push_front(key);
            }
        }
        if deleted > 0 {
            report.batches += 1;
        }
        if walk.scanned() && walk.pending.is_empty() {
            // The walk is complete: the next call starts again.
            walk = Walk::default();
            break;
        }
    }
    if policy.max_batches.is_some() {
        node.keep_walk(code, walk);
    }
    Ok(report)
}

/// Runs `purge_scan` over `keys`: returns what it examined and deleted, and how many of
/// the keys (from the first) it finished.
async fn batch(
    node: &Node,
    kind: Kind,
    cut: Cutoffs,
    keys: &[String],
    limit: usize,
) -> Result<(u64, u64, usize)> {
    let idle = cut.idle.map(|t| t.to_string()).unwrap_or_default();
    let args = Args::new()
        .bytes(kind.code())
        .int(cut.expiry)
        .bytes(idle)
        .int(i64::try_from(limit).unwrap_or(i64::MAX));
    let result = node.eval(&PURGE_SCAN, keys, args, Write::Yes).await?;
    let items = reply::array(result, "purge batch")?;
    let count = |i: usize| -> Result<u64> {
        let n = reply::int(items.get(i).unwrap_or(&Value::Nil), "purge batch")?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let done = usize::try_from(count(2)?)
        .unwrap_or(usize::MAX)
        .min(keys.len());
    Ok((count(0)?, count(1)?, done))
}

/// What an index-walking purge looks like (revocations).
pub(crate) struct Spec<'a> {
    /// The batch script. Its `KEYS` are `lead_keys` then each candidate's keys; its
    /// `ARGV` are `lead_args` then the candidates' members.
    pub(crate) script: &'a Script,
    /// The purge indexes scored by expiry, in walk order.
    pub(crate) indexes: Vec<String>,
    /// Keys every batch names first.
    pub(crate) lead_keys: Vec<String>,
    /// Arguments every batch passes first.
    pub(crate) lead_args: &'a (dyn Fn(Cutoffs) -> Args + Sync),
    /// The keys of one candidate, from its index member.
    pub(crate) candidate_keys: &'a (dyn Fn(&[u8]) -> Result<Vec<String>> + Sync),
}

/// Runs a purge that walks purge indexes (revocations): reads due members with
/// `ZRANGE … BYSCORE LIMIT` until it has `batch_size` of them, then runs the batch
/// script once over those records; the script decides again on each record, deletes
/// the dead ones with their index entries, drops entries whose record is gone and puts
/// back in step any entry of a live record, so every member looked at leaves the due
/// range and the walk advances. All indexes are in one slot.
pub(crate) async fn run(node: &Node, policy: &PurgePolicy, spec: &Spec<'_>) -> Result<PurgeReport> {
    let limit = check_batch_size(policy)?;
    let mut report = PurgeReport::default();
    // The index the walk is at; an index is left once a read of it comes back short.
    let mut at = 0;
    loop {
        if policy.max_batches.is_some_and(|max| report.batches >= max) {
            break;
        }
        let cut = Cutoffs::new(policy, node.now());
        let (candidates, next) = scan_indexes(node, spec, cut, at, limit).await?;
        at = next;
        if candidates.is_empty() {
            break;
        }
        let mut keys = spec.lead_keys.clone();
        let mut args = (spec.lead_args)(cut);
        for member in candidates {
            keys.extend((spec.candidate_keys)(&member)?);
            args.push(member);
        }
        let result = node.eval(spec.script, &keys, args, Write::Yes).await?;
        let items = reply::array(result, "purge batch")?;
        let count = |i: usize| -> Result<u64> {
            let n = reply::int(items.get(i).unwrap_or(&Value::Nil), "purge batch")?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let (examined, deleted) = (count(0)?, count(1)?);
        report.examined += examined;
        report.deleted += deleted;
        if deleted > 0 {
            report.batches += 1;
        }
    }
    Ok(report)
}

/// Reads up to `limit` due members, walking the indexes from `at`. Returns them and the
/// index to continue from.
async fn scan_indexes(
    node: &Node,
    spec: &Spec<'_>,
    cut: Cutoffs,
    mut at: usize,
    limit: usize,
) -> Result<(Vec<Vec<u8>>, usize)> {
    let mut found: Vec<Vec<u8>> = Vec::new();
    while at < spec.indexes.len() && found.len() < limit {
        let want = limit - found.len();
        let end = (at + SCAN_CHUNK).min(spec.indexes.len());
        let mut pipe = redis::pipe();
        for index in &spec.indexes[at..end] {
            pipe.cmd("ZRANGE")
                .arg(index)
                .arg("-inf")
                .arg(cut.expiry)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(want);
        }
        let replies = node.query_many(&pipe).await?;
        for (i, listed) in replies.into_iter().enumerate() {
            let want = limit - found.len();
            let members = reply::array(listed, "purge scan")?
                .into_iter()
                .map(|m| reply::bytes(m, "purge scan member"))
                .collect::<Result<Vec<_>>>()?;
            if members.len() >= want {
                // This index may hold more: the walk stays on it.
                found.extend(members.into_iter().take(want));
                return Ok((found, at + i));
            }
            found.extend(members);
        }
        at = end;
    }
    Ok((found, at))
}
