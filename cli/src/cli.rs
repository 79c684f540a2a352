//! The command line: global options and subcommands.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::backend::DEFAULT_BACKEND;
use crate::bench::Workload;

/// The help heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";

/// Shared state for identity providers: sessions, one-time artifacts, replay caches,
/// lockout counters, revocations, signing keys, reference tokens and logout registries.
#[derive(Debug, Parser)]
#[command(name = "authstate", version)]
pub struct Cli {
    /// The backend, as a URL. Supported in this release: `memory:`. Without --backend
    /// and --config the embedded default is used: `memory:` for now, a SQLite file once
    /// the SQL backend ships.
    #[arg(
        long,
        global = true,
        env = "AUTHSTATE_BACKEND",
        // A backend URL can hold a password: never show the variable's value in --help.
        hide_env_values = true,
        value_name = "URL",
        help_heading = GLOBAL
    )]
    pub backend: Option<String>,

    /// A configuration file (TOML) naming the backends. Config files arrive with a later
    /// release.
    #[arg(
        long,
        global = true,
        env = "AUTHSTATE_CONFIG",
        hide_env_values = true,
        value_name = "FILE",
        help_heading = GLOBAL
    )]
    pub config: Option<PathBuf>,

    /// Diagnostics on stderr: -v info, -vv debug, -vvv trace (RUST_LOG is used without -v).
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure latency and throughput of a backend under a realistic workload.
    Bench(BenchArgs),
    /// Keys for encrypting records at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `authstate keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random data-encryption key and a key id for the keyring.
    Generate(GenerateArgs),
}

/// `authstate keys generate`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// An AES-128-GCM key (16 bytes) instead of AES-256-GCM (32 bytes).
    #[arg(long)]
    pub aes128: bool,

    /// The key id stored with every record the key seals: 1 to 32 characters of
    /// A-Z, a-z, 0-9, '.', '_' and '-'. Default: `k` and today's date and a random suffix.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
}

/// `authstate bench`
#[derive(Debug, Args)]
#[command(after_help = format!(
    "The backend is --backend (default {DEFAULT_BACKEND}); the bench writes in the namespace \
     `bench`. Exit status 1 if any operation failed."
))]
pub struct BenchArgs {
    /// What to run.
    #[arg(long, value_enum, default_value_t = Workload::Login)]
    pub workload: Workload,

    /// Login flows to run for `login`; operations to run for the other workloads.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: u64,

    /// Operations in flight at once (one task each).
    #[arg(long, value_name = "C", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,

    /// Size of each payload: session data, artifacts, token data.
    #[arg(long, value_name = "B", default_value_t = 200,
          value_parser = clap::value_parser!(u32))]
    pub payload_bytes: u32,

    /// Print the results as one JSON object instead of a table (no progress bar).
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
