//! The sweeper: runs `purge` on every store of a backend on an interval, throttled,
//! with a lease so that one node of a cluster sweeps at a time.
//!
//! ```no_run
//! # async fn example(stores: authstate_core::Stores) -> authstate_core::Result<()> {
//! use std::time::Duration;
//! use authstate_core::sweeper::{Sweeper, SweeperConfig};
//!
//! let config = SweeperConfig {
//!     interval: Duration::from_secs(300),
//!     max_deletes_per_second: Some(1_000),
//!     ..SweeperConfig::default()
//! };
//! let handle = Sweeper::new(&stores, config)?.spawn();
//! // … serve requests …
//! let stats = handle.shutdown().await;
//! println!("deleted {} records in {} runs", stats.deleted, stats.runs);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::contract::Contract;
use crate::contracts::{Purge, PurgeCriterion, PurgePolicy, PurgeReport, Stores, SweepLease};
use crate::error::{Error, Result};

/// The name of the lease the sweeper holds while it runs.
pub const SWEEPER_LEASE: &str = "sweeper";

/// How the sweeper runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweeperConfig {
    /// Time between the starts of two runs. PingFederate's cleanup runs daily; the
    /// default here is 5 minutes, so memory is returned sooner.
    pub interval: Duration,
    /// Records deleted per batch.
    pub batch_size: u32,
    /// Which records are dead.
    pub criterion: PurgeCriterion,
    /// How long past its time a record is kept.
    pub offset: Duration,
    /// The most records deleted per second across all stores, or `None` for no limit.
    ///
    /// An unthrottled purge competes with logins for the database host: on a two-core
    /// host, a full-speed purge of a million sessions put the p99 of concurrent session
    /// reads at 3–7× its idle value on MariaDB and SQLite, and a limit of about a tenth
    /// of the unpaced purge rate kept it under 2× (`backend-jdbc/BENCHMARKS.md`). Set it
    /// above the rate at which records expire, or the backlog grows.
    pub max_deletes_per_second: Option<u32>,
    /// How long the lease lasts without renewal; renewed before every batch.
    pub lease_ttl: Duration,
    /// This node's name in the lease. Defaults to a random name per sweeper.
    pub holder: Option<String>,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        let policy = PurgePolicy::default();
        SweeperConfig {
            interval: Duration::from_secs(300),
            batch_size: policy.batch_size,
            criterion: policy.criterion,
            offset: policy.offset,
            max_deletes_per_second: None,
            lease_ttl: Duration::from_secs(60),
            holder: None,
        }
    }
}

impl SweeperConfig {
    /// `ConfigInvalid` for a zero interval, batch size, rate or lease TTL.
    pub fn validate(&self) -> Result<()> {
        if self.interval.is_zero() {
            return Err(Error::config("core", "sweeper interval is zero"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("core", "sweeper batch_size is zero"));
        }
        if self.max_deletes_per_second == Some(0) {
            return Err(Error::config(
                "core",
                "sweeper max_deletes_per_second is zero (leave it unset for no limit)",
            ));
        }
        if self.lease_ttl.is_zero() {
            return Err(Error::config("core", "sweeper lease_ttl is zero"));
        }
        Ok(())
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SweepRun {
    /// Whether this node held the lease and swept. `false`: another node is sweeping.
    pub swept: bool,
    /// Counts per contract, for the contracts swept.
    pub reports: Vec<(Contract, PurgeReport)>,
    /// Whether the run stopped early (shutdown, or the lease was lost).
    pub interrupted: bool,
    /// How long the run took.
    pub elapsed: Duration,
}

impl SweepRun {
    /// The counts of all contracts added up.
    pub fn total(&self) -> PurgeReport {
        let mut total = PurgeReport::default();
        for (_, r) in &self.reports {
            total.merge(*r);
        }
        total
    }
}

/// Running totals since the sweeper started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepStats {
    /// Runs in which this node swept.
    pub runs: u64,
    /// Runs skipped because another node held the lease.
    pub skipped: u64,
    /// Records examined.
    pub examined: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Batches run.
    pub batches: u64,
    /// Runs that ended in an error.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    runs: AtomicU64,
    skipped: AtomicU64,
    examined: AtomicU64,
    deleted: AtomicU64,
    batches: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> SweepStats {
        SweepStats {
            runs: self.runs.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            examined: self.examined.load(Ordering::Relaxed),
            deleted: self.deleted.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// Purges every store of a backend; see the [module docs](self).
pub struct Sweeper {
    stores: Vec<(Contract, Arc<dyn Purge>)>,
    lease: Arc<dyn SweepLease>,
    config: SweeperConfig,
    holder: String,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("config", &self.config)
            .field("holder", &self.holder)
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl Sweeper {
    /// A sweeper over every purgeable store of `stores`.
    pub fn new(stores: &Stores, config: SweeperConfig) -> Result<Self> {
        config.validate()?;
        let holder = match &config.holder {
            Some(h) => h.clone(),
            None => {
                let mut b = [0u8; 8];
                crate::id::random_bytes(&mut b)?;
                format!("sweeper-{}", hex::encode(b))
            }
        };
        Ok(Sweeper {
            stores: stores.purgeable(),
            lease: stores.lease.clone(),
            config,
            holder,
            counters: Arc::default(),
        })
    }

    /// This node's name in the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Totals since the sweeper was made.
    pub fn stats(&self) -> SweepStats {
        self.counters.snapshot()
    }

    /// One run now: take the lease (or skip if another node holds it), purge every
    /// store batch by batch within the rate limit, release the lease.
    pub async fn sweep_once(&self) -> Result<SweepRun> {
        let (_tx, rx) = watch::channel(false);
        self.run(rx).await
    }

    async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<SweepRun> {
        let started = Instant::now();
        let result = self.run_inner(&mut shutdown, started).await;
        match &result {
            Ok(run) if run.swept => {
                let total = run.total();
                self.counters.runs.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .examined
                    .fetch_add(total.examined, Ordering::Relaxed);
                self.counters
                    .deleted
                    .fetch_add(total.deleted, Ordering::Relaxed);
                self.counters
                    .batches
                    .fetch_add(u64::from(total.batches), Ordering::Relaxed);
                tracing::debug!(
                    deleted = total.deleted,
                    examined = total.examined,
                    batches = total.batches,
                    elapsed_ms = run.elapsed.as_millis() as u64,
                    interrupted = run.interrupted,
                    "sweep run finished"
                );
            }
            Ok(_) => {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("another node holds the sweeper lease; skipping this run");
            }
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "sweep run failed");
            }
        }
        result
    }

    async fn run_inner(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        started: Instant,
    ) -> Result<SweepRun> {
        let mut run = SweepRun::default();
        if !self
            .lease
            .try_acquire(SWEEPER_LEASE, &self.holder, self.config.lease_ttl)
            .await?
        {
            run.elapsed = started.elapsed();
            return Ok(run);
        }
        run.swept = true;
        let outcome = self.purge_all(shutdown, started, &mut run).await;
        // Release even after an error, so another node need not wait for the TTL.
        let released = self.lease.release(SWEEPER_LEASE, &self.holder).await;
        outcome?;
        released?;
        run.elapsed = started.elapsed();
        Ok(run)
    }

    async fn purge_all(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        started: Instant,
        run: &mut SweepRun,
    ) -> Result<()> {
        let policy = PurgePolicy {
            batch_size: self.config.batch_size,
            criterion: self.config.criterion,
            offset: self.config.offset,
            // One batch per call: the rate limit, the lease renewal and the shutdown
            // check happen between batches, so no purge holds anything for longer.
            max_batches: Some(1),
        };
        let mut deleted_total: u64 = 0;
        for (contract, store) in &self.stores {
            let mut report = PurgeReport::default();
            loop {
                if *shutdown.borrow() {
                    run.interrupted = true;
                    break;
                }
                if !self
                    .lease
                    .try_acquire(SWEEPER_LEASE, &self.holder, self.config.lease_ttl)
                    .await?
                {
                    tracing::warn!("the sweeper lease was lost mid-run; stopping");
                    run.interrupted = true;
                    break;
                }
                let batch = store.purge(&policy).await?;
                report.merge(batch);
                deleted_total += batch.deleted;
                if batch.deleted < u64::from(self.config.batch_size) {
                    break;
                }
                if let Some(rate) = self.config.max_deletes_per_second {
                    // Sleep until the deletes so far fit within the rate.
                    let due = Duration::from_secs_f64(deleted_total as f64 / f64::from(rate));
                    let elapsed = started.elapsed();
                    if due > elapsed {
                        tokio::select! {
                            _ = tokio::time::sleep(due - elapsed) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                }
            }
            run.reports.push((*contract, report));
            if run.interrupted {
                break;
            }
        }
        Ok(())
    }

    /// Runs the sweeper on its interval in a Tokio task until the handle is shut down.
    /// Errors of one run are logged and counted; the next run goes ahead.
    pub fn spawn(self) -> SweeperHandle {
        let (tx, rx) = watch::channel(false);
        let counters = self.counters.clone();
        let task = tokio::spawn(async move {
            let mut shutdown = rx;
            let mut ticker = tokio::time::interval(self.config.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = shutdown.changed() => break,
                }
                if *shutdown.borrow() {
                    break;
                }
                let _ = self.run(shutdown.clone()).await;
            }
        });
        SweeperHandle {
            shutdown: tx,
            task,
            counters,
        }
    }
}

/// A running sweeper.
#[derive(Debug)]
pub struct SweeperHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl SweeperHandle {
    /// Totals so far.
    pub fn stats(&self) -> SweepStats {
        self.counters.snapshot()
    }

    /// Stops the sweeper after the batch in progress (releasing the lease) and returns
    /// the totals.
    pub async fn shutdown(self) -> SweepStats {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.counters.snapshot()
    }
}
