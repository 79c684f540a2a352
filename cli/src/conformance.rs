//! `authstate conformance`: the published conformance suite against the configured live
//! backend, each case in a fresh random namespace.
//!
//! The harness only opens stores: it cannot dump or tamper with a live server's raw
//! storage, nor restart it. So the `at_rest` and `durability` groups, which need that,
//! are skipped unless `--all` is given (they then fail or prove little); a backend's own
//! test harness runs them.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use authstate::{Namespace, StoreConfig, Stores};
use authstate_conformance::{Case, Harness, Outcome, Summary, all_cases, run_case};

use crate::cli::ConformanceArgs;
use crate::config::Config;
use crate::error::CliError;
use crate::services::open_services;

/// Groups that need raw storage access (dump, tamper, restart).
pub const RAW_STORAGE_GROUPS: [&str; 2] = ["at_rest", "durability"];

/// Opens the configured services with the suite's store config (its namespace, clock
/// and codec). Every open connects anew, so two opens are two nodes over one server.
struct LiveHarness {
    config: Arc<Config>,
}

#[async_trait]
impl Harness for LiveHarness {
    async fn open(&self, config: StoreConfig) -> authstate::Result<Stores> {
        open_services(&self.config, config)
            .await
            .map_err(|e| match e {
                CliError::Store(e) => e,
                other => authstate::Error::unavailable("cli", other.to_string()),
            })
    }
}

/// Which cases run: those whose `group::name` contains `filter`, without the raw-storage
/// groups unless `all`. Returns the selected cases and how many were skipped.
pub fn select(filter: Option<&str>, all: bool) -> (Vec<Case>, usize) {
    let mut skipped = 0;
    let cases = all_cases()
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.full_name().contains(f)))
        .filter(|c| {
            let keep = all || !RAW_STORAGE_GROUPS.contains(&c.group);
            if !keep {
                skipped += 1;
            }
            keep
        })
        .collect();
    (cases, skipped)
}

/// Runs the suite; prints a line per case and `N passed, N failed`; exit status 1 if
/// any case failed.
pub fn run(config: Config, args: &ConformanceArgs) -> Result<(), CliError> {
    let (cases, skipped) = select(args.filter.as_deref(), args.all);
    if cases.is_empty() && skipped == 0 {
        return Err(CliError::Usage(format!(
            "--filter: no conformance case matches {:?} (names are `group::case`, such as \
             `artifact::take_is_fresh_once`)",
            args.filter.as_deref().unwrap_or_default()
        )));
    }
    let runtime = crate::runtime()?;
    let config = Arc::new(config);
    let summary = runtime.block_on(async {
        // One open first, so that a backend that cannot be reached (or is not built in)
        // is one clear error instead of a failure per case.
        let probe = config.store_config(Namespace::random()?);
        open_services(&config, probe).await?;

        let harness: Arc<dyn Harness> = Arc::new(LiveHarness {
            config: Arc::clone(&config),
        });
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "running {} conformance cases against {} (a fresh namespace each)",
            cases.len(),
            describe(&config)
        )?;
        out.flush()?;
        let mut summary = Summary::default();
        for case in &cases {
            let started = Instant::now();
            let outcome = run_case(Arc::clone(&harness), case).await;
            let took = started.elapsed().as_millis();
            match &outcome {
                Outcome::Passed => {
                    summary.passed += 1;
                    writeln!(out, "ok     {} ({took} ms)", case.full_name())?;
                }
                Outcome::Failed(why) => {
                    summary.failed += 1;
                    writeln!(out, "FAILED {} ({took} ms): {why}", case.full_name())?;
                }
            }
            out.flush()?;
        }
        if skipped > 0 {
            writeln!(
                out,
                "skipped {skipped} cases that need raw storage access: {} — run them with the \
                 backend's test harness (or pass --all)",
                RAW_STORAGE_GROUPS.join(", ")
            )?;
        }
        writeln!(out, "{summary}")?;
        out.flush()?;
        Ok::<_, CliError>(summary)
    })?;
    match summary.failed {
        0 => Ok(()),
        n => Err(CliError::Failed(format!(
            "{n} conformance case{} failed",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

/// `memory backend "default"`, or the backends and what they hold.
fn describe(config: &Config) -> String {
    let used = config.used_backends();
    match used.as_slice() {
        [one] => format!("the {} backend \"{}\"", one.kind, one.name),
        many => format!(
            "backends {}",
            many.iter()
                .map(|b| format!("\"{}\" ({})", b.name, b.kind))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_storage_groups_are_skipped_unless_all() {
        let total = all_cases().len();
        let (selected, skipped) = select(None, false);
        assert!(skipped > 0);
        assert_eq!(selected.len() + skipped, total);
        assert!(
            selected
                .iter()
                .all(|c| !RAW_STORAGE_GROUPS.contains(&c.group))
        );
        let (everything, none) = select(None, true);
        assert_eq!((everything.len(), none), (total, 0));

        let (filtered, skipped) = select(Some("session::"), false);
        assert!(!filtered.is_empty());
        assert_eq!(skipped, 0);
        assert!(filtered.iter().all(|c| c.full_name().contains("session::")));
    }
}
