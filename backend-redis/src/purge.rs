//! Purge: removing records past their time, in batches, by the store's clock.
//!
//! Each contract keeps purge indexes — sorted sets scored by expiry (and, for sessions,
//! by last activity), one per bucket — beside its records. A purge walks the buckets in
//! order: it reads due members with `ZRANGE … BYSCORE LIMIT` (pipelined over a run of
//! buckets) until it has `batch_size` of them, then runs the contract's purge script
//! once over those records. The script decides again, on each record, with the cutoffs
//! the caller computed from the store's clock: it deletes the dead ones (and their index
//! entries), drops entries whose record the server has already evicted, and puts back in
//! step any entry of a record that is live after all. So a batch never deletes a live
//! record and never more than `batch_size`, and every member it looked at leaves the due
//! range, so the walk always advances.
//!
//! Counts are of records: `examined` counts records the script found, `deleted` those it
//! deleted; a batch that deleted nothing (only stale index entries) is not counted.

use authstate_core::time::duration_millis;
use authstate_core::{Error, PurgeCriterion, PurgePolicy, PurgeReport, Result};
use redis::Value;

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, reply};
use crate::scripts::Script;

/// How many buckets one pipelined scan reads.
const SCAN_CHUNK: usize = 32;

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

/// What a contract's purge looks like.
pub(crate) struct Spec<'a> {
    /// The batch script. Its `KEYS` are `lead_keys` then each candidate's keys; its
    /// `ARGV` are `lead_args` then the candidates' members.
    pub(crate) script: &'a Script,
    /// The purge indexes scored by expiry, in walk order.
    pub(crate) indexes: Vec<String>,
    /// The last-activity indexes, one per entry of `indexes` (sessions only).
    pub(crate) activity: Option<Vec<String>>,
    /// Keys every batch names first.
    pub(crate) lead_keys: Vec<String>,
    /// Arguments every batch passes first.
    pub(crate) lead_args: &'a (dyn Fn(Cutoffs) -> Args + Sync),
    /// The keys of one candidate, from its index member.
    pub(crate) candidate_keys: &'a (dyn Fn(&[u8]) -> Result<Vec<String>> + Sync),
}

/// Runs a purge of one contract.
pub(crate) async fn run(node: &Node, policy: &PurgePolicy, spec: &Spec<'_>) -> Result<PurgeReport> {
    if policy.batch_size == 0 {
        return Err(Error::invalid_input(
            BACKEND_NAME,
            "purge batch_size is zero: a purge would never make progress",
        ));
    }
    let limit = usize::try_from(policy.batch_size).unwrap_or(usize::MAX);
    let mut report = PurgeReport::default();
    // The bucket the walk is at; a bucket is left once a scan of it comes back short.
    let mut at = 0;
    loop {
        if policy.max_batches.is_some_and(|max| report.batches >= max) {
            break;
        }
        // The clock is read per batch: a long purge keeps up with a moving clock.
        let cut = Cutoffs::new(policy, node.now());
        let (candidates, next) = scan(node, spec, cut, at, limit).await?;
        at = next;
        if candidates.is_empty() {
            break;
        }
        // One script per batch; on Redis Cluster one per bucket of the batch, since each
        // bucket's records and indexes are a slot of their own.
        let groups: Vec<Vec<Vec<u8>>> = if node.cluster {
            let mut groups: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
            for (bucket, member) in candidates {
                match groups.last_mut() {
                    Some((b, members)) if *b == bucket => members.push(member),
                    _ => groups.push((bucket, vec![member])),
                }
            }
            groups.into_iter().map(|(_, members)| members).collect()
        } else {
            vec![candidates.into_iter().map(|(_, member)| member).collect()]
        };
        let (mut examined, mut deleted) = (0, 0);
        for members in groups {
            let (e, d) = batch(node, spec, cut, members).await?;
            examined += e;
            deleted += d;
        }
        report.examined += examined;
        report.deleted += deleted;
        if deleted > 0 {
            report.batches += 1;
        }
    }
    Ok(report)
}

/// Runs the purge script once over `members`: returns what it examined and deleted.
async fn batch(
    node: &Node,
    spec: &Spec<'_>,
    cut: Cutoffs,
    members: Vec<Vec<u8>>,
) -> Result<(u64, u64)> {
    let mut keys = spec.lead_keys.clone();
    let mut args = (spec.lead_args)(cut);
    for member in members {
        keys.extend((spec.candidate_keys)(&member)?);
        args.push(member);
    }
    let result = node.eval(spec.script, &keys, args, Write::Yes).await?;
    let items = reply::array(result, "purge batch")?;
    let count = |i: usize| -> Result<u64> {
        let n = reply::int(items.get(i).unwrap_or(&Value::Nil), "purge batch")?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    Ok((count(0)?, count(1)?))
}

/// Reads up to `limit` due members, walking the buckets from `at`. Returns them (each
/// with its bucket, in walk order) and the bucket to continue from.
async fn scan(
    node: &Node,
    spec: &Spec<'_>,
    cut: Cutoffs,
    mut at: usize,
    limit: usize,
) -> Result<(Vec<(usize, Vec<u8>)>, usize)> {
    let mut found: Vec<(usize, Vec<u8>)> = Vec::new();
    while at < spec.indexes.len() && found.len() < limit {
        let want = limit - found.len();
        let end = (at + SCAN_CHUNK).min(spec.indexes.len());
        let mut pipe = redis::pipe();
        for i in at..end {
            add_range(&mut pipe, &spec.indexes[i], cut.expiry, want);
            if let (Some(activity), Some(idle)) = (&spec.activity, cut.idle) {
                add_range(&mut pipe, &activity[i], idle, want);
            }
        }
        let replies = node.query_many(&pipe).await?;
        let per_bucket = if spec.activity.is_some() && cut.idle.is_some() {
            2
        } else {
            1
        };
        let mut replies = replies.into_iter();
        for bucket in at..end {
            let want = limit - found.len();
            let mut members = Vec::new();
            for _ in 0..per_bucket {
                let listed = reply::array(replies.next().unwrap_or(Value::Nil), "purge scan")?;
                for m in listed {
                    let m = reply::bytes(m, "purge scan member")?;
                    if !members.contains(&m) {
                        members.push(m);
                    }
                }
            }
            if members.len() >= want {
                // This bucket may hold more: the walk stays on it.
                found.extend(members.into_iter().take(want).map(|m| (bucket, m)));
                return Ok((found, bucket));
            }
            found.extend(members.into_iter().map(|m| (bucket, m)));
        }
        at = end;
    }
    Ok((found, at))
}

fn add_range(pipe: &mut redis::Pipeline, index: &str, max: i64, count: usize) {
    pipe.cmd("ZRANGE")
        .arg(index)
        .arg("-inf")
        .arg(max)
        .arg("BYSCORE")
        .arg("LIMIT")
        .arg(0)
        .arg(count);
}
