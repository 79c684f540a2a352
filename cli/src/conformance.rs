//! `authstate conformance`: the published conformance suite against the configured live
//! backend, each case in a fresh random namespace.
//!
//! The harness only opens stores: it cannot dump or tamper with a live server's raw
//! storage, nor restart it. So the `at_rest` and `durability` groups, which need that,
//! are skipped unless `--all` is given (they then fail or prove little); a backend's own
//! test harness runs them.
//!
//! On a SQL or LDAP backend every case's namespace is migrated when it is opened (its
//! tables or its subtree created). The run drops them at the end, except those of
//! failed cases, which it keeps for a look and names (in the case's `FAILED` line and
//! in a closing note). On Redis every record expires.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use authstate::{Namespace, StoreConfig, Stores};
use authstate_conformance::{Case, Harness, Outcome, Summary, all_cases, run_case};

use crate::backend::{BackendSpec, Schema};
use crate::cli::ConformanceArgs;
use crate::config::Config;
use crate::error::CliError;
use crate::services::open_services;

/// Groups that need raw storage access (dump, tamper, restart).
pub const RAW_STORAGE_GROUPS: [&str; 2] = ["at_rest", "durability"];

/// Opens the configured services with the suite's store config (its namespace, clock
/// and codec), creating the namespace's schema first. Every open connects anew, so two
/// opens are two nodes over one server.
struct LiveHarness {
    config: Arc<Config>,
    /// The namespaces opened, to say how many were left behind.
    namespaces: Arc<Mutex<HashSet<Namespace>>>,
}

#[async_trait]
impl Harness for LiveHarness {
    async fn open(&self, config: StoreConfig) -> authstate::Result<Stores> {
        remember(&self.namespaces, &config.namespace);
        open_services(&self.config, config, Schema::Migrate)
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
        let namespaces = Arc::new(Mutex::new(HashSet::new()));
        let probe = config.store_config(Namespace::random()?);
        remember(&namespaces, &probe.namespace);
        open_services(&config, probe, Schema::Migrate).await?;

        let harness: Arc<dyn Harness> = Arc::new(LiveHarness {
            config: Arc::clone(&config),
            namespaces: Arc::clone(&namespaces),
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
        // The namespaces of failed cases, kept for a look at what they hold.
        let mut kept: HashSet<Namespace> = HashSet::new();
        for case in &cases {
            let before = opened(&namespaces);
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
                    let mine: Vec<Namespace> =
                        opened(&namespaces).difference(&before).cloned().collect();
                    writeln!(
                        out,
                        "FAILED {} ({took} ms{}): {why}",
                        case.full_name(),
                        namespaces_of(&mine)
                    )?;
                    kept.extend(mine);
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
        let all = opened(&namespaces);
        let to_drop: Vec<Namespace> = all.difference(&kept).cloned().collect();
        for spec in config.used_backends() {
            if !crate::backend::keeps_namespaces(spec) {
                continue;
            }
            match crate::backend::drop_namespaces(spec, &to_drop).await {
                Ok(()) if kept.is_empty() => {}
                Ok(()) => eprintln!("{}", kept_for_failures(spec, &kept)),
                Err(e) => eprintln!(
                    "warning: could not drop the namespaces this run opened in backend \
                     \"{}\" ({}): {e}. {}",
                    spec.name,
                    spec.display_url(),
                    left_behind(spec, all.len())
                ),
            }
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

fn remember(namespaces: &Mutex<HashSet<Namespace>>, namespace: &Namespace) {
    // One insert under the lock: a panic cannot leave the set half-updated.
    namespaces
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(namespace.clone());
}

/// `, namespace t…` or `, namespaces t…, t…` for a FAILED line; empty for none.
fn namespaces_of(list: &[Namespace]) -> String {
    let names: Vec<&str> = list.iter().map(Namespace::as_str).collect();
    match names.len() {
        0 => String::new(),
        1 => format!(", namespace {}", names[0]),
        _ => format!(", namespaces {}", names.join(", ")),
    }
}

/// A copy of the namespaces opened so far.
fn opened(namespaces: &Mutex<HashSet<Namespace>>) -> HashSet<Namespace> {
    namespaces.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// What a namespace is on a backend that keeps namespaces, for the notes.
fn namespace_storage(spec: &BackendSpec) -> &'static str {
    match spec.kind {
        crate::backend::BackendKind::Postgres => "schemas authstate_<namespace>",
        crate::backend::BackendKind::Ldap => "subtrees ou=<namespace> under the base DN",
        _ => "tables authstate_<namespace>_*",
    }
}

/// The note about the namespaces of failed cases, which a run keeps.
fn kept_for_failures(spec: &BackendSpec, kept: &HashSet<Namespace>) -> String {
    let mut names: Vec<&str> = kept.iter().map(Namespace::as_str).collect();
    names.sort_unstable();
    format!(
        "note: the {} of the failed cases' namespaces ({}) stay in backend \"{}\" ({}) \
         for a look at what they hold; the other namespaces this run opened were dropped.",
        namespace_storage(spec),
        names.join(", "),
        spec.name,
        spec.display_url()
    )
}

/// The note about what a run leaves behind when dropping its namespaces failed.
fn left_behind(spec: &BackendSpec, namespaces: usize) -> String {
    format!(
        "note: the {} of the {namespaces} random namespaces this run opened stay in \
         backend \"{}\" ({}). Run the suite against a scratch database or base DN, not one \
         an IdP uses.",
        namespace_storage(spec),
        spec.name,
        spec.display_url()
    )
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

    #[test]
    fn failed_lines_name_the_case_namespaces() {
        let ns = |n: &str| Namespace::new(n).expect("a namespace");
        assert_eq!(namespaces_of(&[]), "");
        assert_eq!(namespaces_of(&[ns("t1")]), ", namespace t1");
        assert_eq!(namespaces_of(&[ns("t1"), ns("t2")]), ", namespaces t1, t2");
    }
}
