//! `authstate migrate`: creates or upgrades each backend's schema (SQL tables, LDAP
//! subtrees) through its `migrate` hook, and says what it did.

use std::io::Write as _;

use crate::backend::open_backend;
use crate::config::Config;
use crate::error::CliError;

/// Migrates every backend in use, one after the other; stops at the first failure
/// (exit status 1), after saying what was done before it.
pub fn run(config: &Config) -> Result<(), CliError> {
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let mut out = std::io::stdout().lock();
        for spec in config.used_backends() {
            let store_config = config.store_config(config.namespace.clone());
            let opened = open_backend(spec, store_config).await?;
            let label = format!("backend {} ({})", spec.name, spec.kind);
            match opened.migrate {
                None => writeln!(out, "{label}: nothing to migrate")?,
                Some(hook) => {
                    let steps = hook
                        .await
                        .map_err(|e| CliError::Failed(format!("{label}: migration failed: {e}")))?;
                    if steps.is_empty() {
                        writeln!(out, "{label}: already up to date")?;
                    }
                    for step in steps {
                        writeln!(out, "{label}: {step}")?;
                    }
                }
            }
            out.flush()?;
        }
        Ok(())
    })
}
