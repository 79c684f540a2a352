//! `authstate migrate`: creates or upgrades each backend's schema (SQL tables, LDAP
//! subtrees) and says what it did.
//!
//! Two namespaces are migrated on every backend in use: the configured one, and `bench`,
//! where `authstate bench` writes (so that a bench against a configured database needs
//! no other step, and never writes in the IdP's namespace).

use std::io::Write as _;

use authstate::Namespace;

use crate::backend::{Schema, open_backend};
use crate::config::Config;
use crate::error::CliError;

/// Migrates every backend in use, one after the other; stops at the first failure
/// (exit status 1), after saying what was done before it.
pub fn run(config: &Config) -> Result<(), CliError> {
    let bench = Namespace::new(crate::bench::NAMESPACE)?;
    let mut namespaces = vec![(config.namespace.clone(), "")];
    if bench != config.namespace {
        namespaces.push((bench, " (where `authstate bench` writes)"));
    }
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let mut out = std::io::stdout().lock();
        for spec in config.used_backends() {
            let label = format!("backend {} ({})", spec.name, spec.kind);
            for (namespace, note) in &namespaces {
                let store_config = config.store_config(namespace.clone());
                let opened = open_backend(spec, store_config, Schema::Migrate)
                    .await
                    .map_err(|e| match e {
                        // Said with where it happened; the kind keeps the exit status
                        // (2 for settings the backend refused, 1 for the rest).
                        CliError::Store(e) => CliError::Store(
                            authstate::Error::new(
                                e.kind(),
                                e.backend(),
                                format!("{label}, namespace {namespace}: migration failed"),
                            )
                            .with_source(e),
                        ),
                        other => other,
                    })?;
                let Some(steps) = opened.migrated else {
                    // Nothing to migrate here is nothing to migrate in any namespace.
                    let why = match spec.kind {
                        crate::backend::BackendKind::Redis => "Redis keeps no schema",
                        _ => "it keeps no schema",
                    };
                    writeln!(out, "{label}: nothing to migrate ({why})")?;
                    break;
                };
                if steps.is_empty() {
                    writeln!(
                        out,
                        "{label}, namespace {namespace}{note}: already up to date"
                    )?;
                }
                for step in steps {
                    writeln!(out, "{label}, namespace {namespace}{note}: {step}")?;
                }
                out.flush()?;
            }
            out.flush()?;
        }
        Ok(())
    })
}
