//! `authstate bench`: a realistic workload against a backend, with a progress bar and a
//! latency/throughput report.
//!
//! `workload` says what a unit of work does, `runner` runs units on many tasks and
//! records every call, `report` turns the records into exact percentiles.

mod report;
mod runner;
mod workload;

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use self::report::{Report, RunInfo};
use self::runner::Plan;
use self::workload::Bench;
pub use self::workload::Workload;
use crate::backend::Schema;
use crate::cli::BenchArgs;
use crate::config::Config;
use crate::error::CliError;
use crate::services::open_services;

/// The namespace the bench writes in, apart from any IdP's records. `authstate migrate`
/// creates its tables beside the configured namespace's.
pub const NAMESPACE: &str = "bench";

/// Runs the bench over the configured services (in the namespace `bench`, with the
/// configured encryption); fails (exit status 1) after the report if any operation
/// failed.
pub fn run(config: &Config, args: &BenchArgs) -> Result<(), CliError> {
    let max_payload = authstate::Limits::default().max_payload_bytes;
    let payload_bytes = usize::try_from(args.payload_bytes).unwrap_or(usize::MAX);
    if payload_bytes > max_payload {
        return Err(CliError::Usage(format!(
            "--payload-bytes: {payload_bytes} is over the stores' payload limit of {max_payload} \
             bytes"
        )));
    }

    let runtime = crate::runtime()?;
    let store_config = config.store_config(authstate::Namespace::new(NAMESPACE)?);
    let stores = runtime.block_on(open_services(config, store_config, Schema::Require))?;
    let bench = Arc::new(Bench::new(stores, payload_bytes)?);
    let plan = Plan::new(args.workload, args.ops);
    let info = RunInfo {
        backend: bench.backend(),
        workload: args.workload,
        plan,
        concurrency: args.concurrency,
        payload_bytes: args.payload_bytes,
    };
    tracing::info!(
        backend = info.backend,
        workload = args.workload.name(),
        ops = args.ops,
        concurrency = args.concurrency,
        payload_bytes = args.payload_bytes,
        "bench starting"
    );

    let bar = progress_bar(plan, args.json);
    let (recorder, elapsed) = runtime.block_on(runner::run(
        bench,
        args.workload,
        plan,
        args.concurrency,
        bar,
    ))?;
    let report = Report::new(info, recorder, elapsed);

    let mut out = std::io::stdout().lock();
    if args.json {
        report.write_json(&mut out)?;
    } else {
        report.write_table(&mut out)?;
    }
    out.flush()?;

    match report.total.errors {
        0 => Ok(()),
        failed => Err(CliError::Failed(format!(
            "{failed} of {} operations failed",
            report.total.count
        ))),
    }
}

/// A bar on stderr, or a hidden one when stderr is not a terminal or the output is JSON.
fn progress_bar(plan: Plan, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = format!(
        "{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {} ({{per_sec:0}}, eta {{eta}})",
        plan.counts()
    );
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(plan.ops()), ProgressDrawTarget::stderr()).with_style(style)
}
