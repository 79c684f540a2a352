//! Running units of work on `--concurrency` tasks and recording every operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tokio::task::JoinSet;

use super::workload::{Bench, Op, Workload};
use crate::error::CliError;

/// How `--ops` is split into units of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// `--ops` login flows, each run to the end.
    Iterations(u64),
    /// `--ops` store calls in units of `per_unit`; the last unit stops where the calls
    /// run out.
    Operations {
        /// The store calls to make.
        total: u64,
        /// The store calls of one whole unit.
        per_unit: u64,
    },
}

impl Plan {
    /// The plan for `ops` of `workload`.
    pub fn new(workload: Workload, ops: u64) -> Plan {
        match workload.ops_per_unit() {
            None => Plan::Iterations(ops),
            Some(per_unit) => Plan::Operations {
                total: ops,
                per_unit,
            },
        }
    }

    /// What `--ops` counted: `"iterations"` or `"operations"`.
    pub fn counts(self) -> &'static str {
        match self {
            Plan::Iterations(_) => "iterations",
            Plan::Operations { .. } => "operations",
        }
    }

    /// `--ops`, the length of the progress bar.
    pub fn ops(self) -> u64 {
        match self {
            Plan::Iterations(n) | Plan::Operations { total: n, .. } => n,
        }
    }

    fn units(self) -> u64 {
        match self {
            Plan::Iterations(n) => n,
            Plan::Operations { total, per_unit } => total.div_ceil(per_unit),
        }
    }

    /// How many store calls unit `n` may make.
    fn budget(self, n: u64) -> u64 {
        match self {
            Plan::Iterations(_) => u64::MAX,
            Plan::Operations { total, per_unit } => per_unit.min(total - n * per_unit),
        }
    }

    /// How far unit `n` moves the progress bar.
    fn progress(self, n: u64) -> u64 {
        match self {
            Plan::Iterations(_) => 1,
            Plan::Operations { .. } => self.budget(n),
        }
    }
}

/// Latencies and failures of one operation.
#[derive(Debug, Default)]
pub struct OpRecord {
    /// Every call's latency in nanoseconds, failed ones included.
    pub latencies_ns: Vec<u64>,
    /// Calls that returned an error or an outcome a correct store never gives.
    pub errors: u64,
    /// What went wrong first, for the report. Store errors never carry secrets.
    pub first_error: Option<String>,
}

/// What one worker (or, merged, the whole run) saw, one [`OpRecord`] per [`Op`].
///
/// Each worker keeps its own, so recording takes no lock and nothing is shared on the
/// measured path; they are merged once at the end.
#[derive(Debug)]
pub struct Recorder {
    ops: Vec<OpRecord>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            ops: (0..Op::COUNT).map(|_| OpRecord::default()).collect(),
        }
    }
}

impl Recorder {
    fn record(&mut self, op: Op, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.ops[op.index()].latencies_ns.push(ns);
    }

    fn fail(&mut self, op: Op, what: impl FnOnce() -> String) {
        let record = &mut self.ops[op.index()];
        record.errors += 1;
        if record.first_error.is_none() {
            record.first_error = Some(what());
        }
    }

    fn merge(&mut self, other: Recorder) {
        for (mine, theirs) in self.ops.iter_mut().zip(other.ops) {
            mine.latencies_ns.extend(theirs.latencies_ns);
            mine.errors += theirs.errors;
            if mine.first_error.is_none() {
                mine.first_error = theirs.first_error;
            }
        }
    }

    /// Takes the record of `op` out, leaving an empty one.
    pub fn take(&mut self, op: Op) -> OpRecord {
        std::mem::take(&mut self.ops[op.index()])
    }
}

/// One unit of work in progress: times its store calls and stops making them when its
/// budget of calls is spent.
#[derive(Debug)]
pub struct Unit<'a> {
    recorder: &'a mut Recorder,
    budget: u64,
}

impl Unit<'_> {
    /// Times `call` as `op`. `None` if it failed (counted) or the budget is spent (then
    /// `call` is dropped without being run: a store future does nothing until polled).
    pub async fn step<T>(
        &mut self,
        op: Op,
        call: impl Future<Output = authstate::Result<T>>,
    ) -> Option<T> {
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        let started = Instant::now();
        let result = call.await;
        self.recorder.record(op, started.elapsed());
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.recorder.fail(op, || e.to_string());
                None
            }
        }
    }

    /// Counts an error of `op` unless `ok`: the store answered, but not as a correct
    /// store would.
    pub fn expect(&mut self, op: Op, ok: bool, what: &'static str) {
        if !ok {
            self.recorder
                .fail(op, || format!("unexpected outcome: {what}"));
        }
    }
}

/// Runs `plan` on `concurrency` tasks; returns what they recorded and the wall time.
pub async fn run(
    bench: Arc<Bench>,
    workload: Workload,
    plan: Plan,
    concurrency: u32,
    bar: ProgressBar,
) -> Result<(Recorder, Duration), CliError> {
    // Units are handed out one at a time from a shared counter, so a slow call on one
    // task never leaves the others idle at the end of the run.
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (bench, next, bar) = (bench.clone(), next.clone(), bar.clone());
        workers.spawn(async move {
            let mut recorder = Recorder::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= plan.units() {
                    break;
                }
                let mut unit = Unit {
                    recorder: &mut recorder,
                    budget: plan.budget(n),
                };
                bench.run_unit(workload, n, &mut unit).await;
                bar.inc(plan.progress(n));
            }
            recorder
        });
    }
    let mut all = Recorder::default();
    while let Some(joined) = workers.join_next().await {
        let recorder =
            joined.map_err(|e| CliError::Failed(format!("a bench task stopped: {e}")))?;
        all.merge(recorder);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok((all, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_plan_spends_exactly_ops() {
        for total in 1..40 {
            let plan = Plan::Operations { total, per_unit: 7 };
            let spent: u64 = (0..plan.units()).map(|n| plan.budget(n)).sum();
            assert_eq!(spent, total);
            let progress: u64 = (0..plan.units()).map(|n| plan.progress(n)).sum();
            assert_eq!(progress, plan.ops());
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn unit_counts_failures_and_wrong_answers_and_keeps_their_latency() {
        let mut recorder = Recorder::default();
        let mut unit = Unit {
            recorder: &mut recorder,
            budget: u64::MAX,
        };
        let failed = authstate::Error::unavailable("memory", "down");
        assert_eq!(
            block_on(unit.step(Op::SessionGet, async { Err::<(), _>(failed) })),
            None
        );
        assert_eq!(
            block_on(unit.step(Op::SessionGet, async { Ok(7) })),
            Some(7)
        );
        unit.expect(Op::SessionGet, false, "a live session was not found");
        unit.expect(Op::SessionGet, true, "never counted");
        let record = recorder.take(Op::SessionGet);
        assert_eq!(record.latencies_ns.len(), 2);
        assert_eq!(record.errors, 2);
        assert_eq!(
            record.first_error.as_deref(),
            Some("memory: unavailable: down")
        );
    }

    #[test]
    fn unit_stops_calling_when_its_budget_is_spent() {
        let mut recorder = Recorder::default();
        let mut unit = Unit {
            recorder: &mut recorder,
            budget: 1,
        };
        assert_eq!(block_on(unit.step(Op::TokenGet, async { Ok(1) })), Some(1));
        let not_run = async { panic!("a call past the budget was run") };
        assert_eq!(block_on(unit.step::<()>(Op::TokenGet, not_run)), None);
        assert_eq!(recorder.take(Op::TokenGet).latencies_ns.len(), 1);
    }

    #[test]
    fn iterations_plan_runs_whole_units() {
        let plan = Plan::Iterations(5);
        assert_eq!(plan.units(), 5);
        assert_eq!(plan.budget(4), u64::MAX);
        assert_eq!((0..5).map(|n| plan.progress(n)).sum::<u64>(), 5);
    }
}
