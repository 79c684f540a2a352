//! `authstate sweep`: purges what is past its time, with the configured (or given)
//! sweeper settings, once or on an interval until Ctrl-C.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use authstate::sweeper::{SWEEPER_LEASE, SweepRun, Sweeper, SweeperConfig};

use crate::backend::Schema;
use crate::cli::SweepArgs;
use crate::config::Config;
use crate::error::CliError;
use crate::services::open_services;

/// The sweeper settings: the config's, with the command line's overrides.
pub fn settings(config: &Config, args: &SweepArgs) -> Result<SweeperConfig, CliError> {
    let mut settings = config.sweeper.clone();
    if let Some(interval) = args.interval {
        if interval.is_zero() {
            return Err(CliError::Usage("--interval: must be more than zero".into()));
        }
        settings.interval = interval;
    }
    if let Some(batch) = args.batch_size {
        settings.batch_size = batch;
    }
    if let Some(rate) = args.max_deletes_per_second {
        settings.max_deletes_per_second = Some(rate);
    }
    settings.validate()?;
    Ok(settings)
}

/// Runs the sweeper: one run with `--once`, else one every interval until Ctrl-C, when
/// it stops the run in progress after its current batch, releases the lease and prints
/// the totals.
pub fn run(config: &Config, args: &SweepArgs) -> Result<(), CliError> {
    let settings = settings(config, args)?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let store_config = config.store_config(config.namespace.clone());
        let stores = open_services(config, store_config, Schema::Require).await?;
        let interval = settings.interval;
        let sweeper = Sweeper::new(&stores, settings)?;

        if args.once {
            let run = sweeper.sweep_once().await?;
            let mut out = std::io::stdout().lock();
            write_run(&mut out, config, &sweeper, &run)?;
            out.flush()?;
            return Ok(());
        }

        eprintln!(
            "sweeping namespace {} every {} as {} (Ctrl-C stops)",
            config.namespace,
            humantime::format_duration(interval),
            sweeper.holder()
        );
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => break,
                _ = ticker.tick() => {}
            }
            let run = tokio::select! {
                run = sweeper.sweep_once() => run,
                _ = &mut ctrl_c => {
                    // The run future is dropped here, between or during a batch (a cut
                    // batch only leaves dead records for the next run); give the lease
                    // back so that another node need not wait for its TTL.
                    if let Err(e) = stores.lease.release(SWEEPER_LEASE, sweeper.holder()).await {
                        eprintln!("warning: could not release the sweeper lease (it expires by itself): {e}");
                    }
                    eprintln!("interrupted the run in progress");
                    break;
                }
            };
            let mut out = std::io::stdout().lock();
            match run {
                Ok(run) => writeln!(out, "{}", run_line(&run))?,
                // One failed run does not stop the sweeper (a server may be back next
                // time); it is counted in the totals.
                Err(e) => eprintln!("warning: sweep run failed: {e}"),
            }
            out.flush()?;
        }
        let stats = sweeper.stats();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "stopped: {} runs, {} skipped (another node held the lease), {} failed; {} records \
             deleted of {} examined in {} batches",
            stats.runs, stats.skipped, stats.errors, stats.deleted, stats.examined, stats.batches
        )?;
        out.flush()?;
        Ok(())
    })
}

/// One line per run: when, and what was deleted per contract.
fn run_line(run: &SweepRun) -> String {
    let now = humantime::format_rfc3339_seconds(SystemTime::now());
    if !run.swept {
        return format!("{now} skipped: another node holds the sweeper lease");
    }
    let total = run.total();
    let per_contract: Vec<String> = run
        .reports
        .iter()
        .filter(|(_, r)| r.deleted > 0)
        .map(|(c, r)| format!("{c} {}", r.deleted))
        .collect();
    format!(
        "{now} deleted {} of {} examined in {} batches{}{} ({})",
        total.deleted,
        total.examined,
        total.batches,
        if per_contract.is_empty() {
            String::new()
        } else {
            format!(": {}", per_contract.join(", "))
        },
        if run.interrupted { ", interrupted" } else { "" },
        ms(run.elapsed)
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The report of one run: a line per contract and the total.
pub fn write_run(
    out: &mut impl std::io::Write,
    config: &Config,
    sweeper: &Sweeper,
    run: &SweepRun,
) -> std::io::Result<()> {
    if !run.swept {
        writeln!(
            out,
            "skipped: another node holds the sweeper lease in namespace {}",
            config.namespace
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "swept namespace {} in {} as {}{}",
        config.namespace,
        ms(run.elapsed),
        sweeper.holder(),
        if run.interrupted {
            " (interrupted: the lease was lost)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>8}",
        "CONTRACT", "EXAMINED", "DELETED", "BATCHES"
    )?;
    for (contract, report) in &run.reports {
        writeln!(
            out,
            "{:<12} {:>10} {:>10} {:>8}",
            contract.as_str(),
            report.examined,
            report.deleted,
            report.batches
        )?;
    }
    let total = run.total();
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>8}",
        "total", total.examined, total.deleted, total.batches
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use authstate::{ManualClock, MemoryBackend, Namespace, NewSession, StoreConfig};

    use super::*;

    #[tokio::test]
    async fn a_run_reports_what_it_deleted_per_contract() {
        let config = crate::config::load(None, Some("memory:")).expect("loads");
        let clock = ManualClock::starting_now();
        let stores = MemoryBackend::new()
            .open(
                StoreConfig::new(Namespace::new("sweep-test").expect("valid"))
                    .with_clock(Arc::new(clock.clone())),
            )
            .expect("opens");
        for subject in ["alice", "bob"] {
            stores
                .sessions
                .create(NewSession {
                    subject: subject.into(),
                    data: Vec::new(),
                    lifetime: Duration::from_secs(60),
                    idle_timeout: None,
                })
                .await
                .expect("created");
        }
        clock.advance(Duration::from_secs(3600));
        let settings = SweeperConfig {
            offset: Duration::ZERO,
            ..SweeperConfig::default()
        };
        let sweeper = Sweeper::new(&stores, settings).expect("valid");
        let run = sweeper.sweep_once().await.expect("runs");
        let mut out = Vec::new();
        write_run(&mut out, &config, &sweeper, &run).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        let session = text
            .lines()
            .find(|l| l.starts_with("session "))
            .expect("a session line");
        let cells: Vec<&str> = session.split_whitespace().collect();
        assert_eq!(cells, ["session", "2", "2", "1"], "{text}");
        assert!(text.lines().any(|l| l.starts_with("total")), "{text}");
        assert!(run_line(&run).contains("deleted 2 of 2 examined"));
        assert!(run_line(&run).contains("session 2"));
    }

    #[test]
    fn command_line_overrides_the_config() {
        let config = crate::config::load(None, None).expect("loads");
        let args = SweepArgs {
            once: true,
            interval: Some(Duration::from_secs(7)),
            batch_size: Some(9),
            max_deletes_per_second: Some(11),
        };
        let s = settings(&config, &args).expect("valid");
        assert_eq!(s.interval, Duration::from_secs(7));
        assert_eq!(s.batch_size, 9);
        assert_eq!(s.max_deletes_per_second, Some(11));
        let zero = SweepArgs {
            interval: Some(Duration::ZERO),
            ..args
        };
        assert!(matches!(settings(&config, &zero), Err(CliError::Usage(_))));
    }
}
