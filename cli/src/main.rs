//! The `authstate` command. This file parses the arguments and hands over to the
//! modules; the work is done by the library.

mod backend;
mod bench;
mod cli;
mod error;
mod keys;

use std::process::ExitCode;

use std::io::IsTerminal as _;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, KeysCommand};
use crate::error::CliError;

fn main() -> ExitCode {
    // Usage errors exit with status 2 and `--help` with 0, both printed by clap.
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.print();
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    if cli.config.is_some() {
        return Err(CliError::Usage(
            "--config: config files arrive with a later release; for now choose the backend \
             with --backend (or AUTHSTATE_BACKEND)"
                .into(),
        ));
    }
    match cli.command {
        Command::Bench(args) => bench::run(cli.backend.as_deref(), &args),
        Command::Keys(KeysCommand::Generate(args)) => keys::generate(&args),
    }
}

/// Diagnostics go to stderr so stdout stays the command's output. `-v` wins over
/// `RUST_LOG`; with neither, only warnings are shown.
fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    // Only fails if a subscriber is already set, which nothing here does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
