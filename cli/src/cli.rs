//! The command line: global options and subcommands.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
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
    /// The backend for every service, as a URL (`memory:`, `sqlite://PATH`,
    /// `postgres://…`, `mysql://…`, `redis://…`, `rediss://…`, `redis+sentinel://…`,
    /// `redis+cluster://HOST:PORT,HOST:PORT`, `rediss+cluster://…`, `ldap://HOST/BASE_DN`,
    /// `ldaps://…`); replaces the config file's backends. Run `authstate migrate` once
    /// before using a SQL database or an LDAP directory.
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

    /// The configuration file (TOML): backends, which service uses which, encryption
    /// keys, sweeper settings. Without it and without --backend, the embedded default is
    /// used: a SQLite file `authstate.db` in the working directory, created (with its
    /// tables) by the first command that needs it.
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
    /// Check every configured service: reachability, latency, and what the backend
    /// reports (server, authentication, schema, TLS). Exit status 1 if any fails.
    Check,
    /// Create or upgrade each backend's schema (SQL tables, LDAP subtrees) for the
    /// configured namespace and for `bench`, and say what was done. Safe to run again.
    Migrate,
    /// Purge what is past its time: once, or on an interval until Ctrl-C.
    Sweep(SweepArgs),
    /// List or revoke a user's sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Keys for encrypting records at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run the conformance suite against the configured live backend.
    Conformance(ConformanceArgs),
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `authstate config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective configuration, every default
    /// filled in and every secret redacted. Exit status 2 if it is invalid.
    Check,
}

/// `authstate sweep`
#[derive(Debug, Clone, Copy, Args)]
#[command(after_help = "Settings not given here come from the config's [sweeper] table.")]
pub struct SweepArgs {
    /// Run once, print what was purged per contract, and exit.
    #[arg(long)]
    pub once: bool,

    /// Time between the starts of two runs, such as `30s` or `5m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub interval: Option<Duration>,

    /// Records deleted per batch.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,

    /// The most records deleted per second across all stores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_deletes_per_second: Option<u32>,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

/// `authstate sessions …`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's live sessions: id hashes, created, last activity, expiry, version.
    List(SessionsListArgs),
    /// End all of a user's sessions at once and print how many there were.
    Revoke(SubjectArgs),
}

/// Whose sessions.
#[derive(Debug, Args)]
pub struct SubjectArgs {
    /// The subject (user) whose sessions these are.
    #[arg(long, value_name = "S", value_parser = NonEmptyStringValueParser::new())]
    pub subject: String,
}

/// `authstate sessions list`
#[derive(Debug, Args)]
pub struct SessionsListArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `authstate conformance`
#[derive(Debug, Args)]
#[command(
    after_help = "Each case runs in a fresh random namespace with its own clock and \
    codec. The at_rest and durability groups need raw storage access (dump, tamper, \
    restart), which a live backend does not give: they are skipped unless --all is given. \
    On a SQL or LDAP backend each case's namespace gets its own tables or subtree; the \
    run drops them at the end, except those of failed cases, which it keeps and names. \
    Still, prefer a scratch database or base DN to one an IdP uses. Exit status 1 if any \
    case failed."
)]
pub struct ConformanceArgs {
    /// Only the cases whose `group::name` contains this.
    #[arg(long, value_name = "F")]
    pub filter: Option<String>,

    /// Also run the at_rest and durability cases (they fail against a live backend).
    #[arg(long)]
    pub all: bool,
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
    "The services are those of --config or --backend (default {DEFAULT_BACKEND}); the bench \
     writes in the namespace `bench`, with the configured encryption. On a configured SQL \
     database, run `authstate migrate` first (it creates the `bench` tables too). Exit \
     status 1 if any operation failed."
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
