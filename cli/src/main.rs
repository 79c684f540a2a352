//! The `authstate` command. This file parses the arguments, loads the configuration and
//! hands over to the modules; the work is done by the library.

mod backend;
mod bench;
mod check;
mod cli;
mod config;
mod conformance;
mod error;
mod keys;
mod migrate;
mod services;
mod sessions;
mod sweep;

use std::io::IsTerminal as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, ConfigCommand, KeysCommand, SessionsCommand};
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
    // `keys generate` needs no backend, so a broken config does not stop it.
    if let Command::Keys(KeysCommand::Generate(args)) = &cli.command {
        return keys::generate(args);
    }
    let config = config::load(cli.config.as_deref(), cli.backend.as_deref())?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    match cli.command {
        Command::Bench(args) => bench::run(&config, &args),
        Command::Check => check::run(&config),
        Command::Migrate => migrate::run(&config),
        Command::Sweep(args) => sweep::run(&config, &args),
        Command::Sessions(SessionsCommand::List(args)) => sessions::run_list(&config, &args),
        Command::Sessions(SessionsCommand::Revoke(args)) => sessions::run_revoke(&config, &args),
        Command::Conformance(args) => conformance::run(config, &args),
        Command::Config(ConfigCommand::Check) => {
            let mut out = std::io::stdout().lock();
            out.write_all(config::render(&config).as_bytes())?;
            out.flush()?;
            eprintln!("{}: the configuration is valid", config.source);
            Ok(())
        }
        Command::Keys(KeysCommand::Generate(args)) => keys::generate(&args),
    }
}

/// The async runtime every command that talks to a backend runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))
}

/// Diagnostics go to stderr so stdout stays the command's output. `-v` wins over
/// `RUST_LOG`; with neither, only warnings are shown, but not sqlx's "slow statement"
/// warnings: a busy database under `bench` would print one per slow call, and the
/// bench's own report already shows every latency.
fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("warn,sqlx::query=error")),
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
