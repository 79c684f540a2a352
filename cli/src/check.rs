//! `authstate check`: can every configured service be reached, and how fast?
//!
//! Each backend in use is opened once (and its `check` hook run: server, authentication,
//! schema, TLS); then every service makes one cheap real round trip to its own store —
//! a read of a random key where the contract has a read, so nothing is written, except
//! the replay cache, whose only operation records an id (for one second).

use std::io::Write as _;
use std::time::{Duration, Instant};

use authstate::{Clock as _, SessionId, Stores, SystemClock, Take};

use crate::backend::{BackendDetails, BackendSpec, Opened, Schema, open_backend};
use crate::config::Config;
use crate::error::CliError;
use crate::services::Service;

/// How one service did.
#[derive(Debug)]
pub struct ServiceCheck {
    /// The service.
    pub service: Service,
    /// Its backend's name and kind.
    pub backend: String,
    /// Its backend's kind.
    pub kind: &'static str,
    /// The round trip's latency, or why it failed.
    pub outcome: Result<Probe, String>,
    /// What the backend's check hook said.
    pub details: BackendDetails,
}

/// What the check found.
#[derive(Debug)]
pub struct Report {
    /// One entry per service.
    pub services: Vec<ServiceCheck>,
    /// The sweeper's lease backend, when it holds no service (so no row shows it): its
    /// name, and whether it opened.
    pub lease_only: Option<(String, Result<(), String>)>,
}

impl Report {
    /// Checks made: one per service, and the lease backend's when it holds no service.
    fn checks(&self) -> usize {
        self.services.len() + usize::from(self.lease_only.is_some())
    }

    fn failures(&self) -> usize {
        let lease = matches!(&self.lease_only, Some((_, Err(_))));
        self.services.iter().filter(|c| c.outcome.is_err()).count() + usize::from(lease)
    }
}

/// Runs the check and prints a table; exit status 1 if any service failed.
pub fn run(config: &Config) -> Result<(), CliError> {
    let runtime = crate::runtime()?;
    let report = runtime.block_on(check_all(config));
    let mut out = std::io::stdout().lock();
    write_table(&mut out, config, &report)?;
    out.flush()?;
    match report.failures() {
        0 => Ok(()),
        n => Err(CliError::Failed(format!(
            "{n} of {} checks failed",
            report.checks()
        ))),
    }
}

/// Opens each backend in use and checks every service on it. A backend that cannot be
/// opened fails its services (with its error) but not the others.
pub async fn check_all(config: &Config) -> Report {
    /// A backend opened (with what its check hook said), or why it could not be.
    type Outcome<'a> = (&'a BackendSpec, Result<(Opened, BackendDetails), String>);
    let mut opened: Vec<Outcome<'_>> = Vec::new();
    for spec in config.used_backends() {
        let store_config = config.store_config(config.namespace.clone());
        let result = match open_backend(spec, store_config, Schema::Require).await {
            Ok(mut o) => match o.check.take() {
                Some(hook) => match hook.await {
                    Ok(details) => Ok((o, details)),
                    Err(e) => Err(format!("backend check failed: {e}")),
                },
                None => Ok((o, BackendDetails::default())),
            },
            Err(e) => Err(e.to_string()),
        };
        opened.push((spec, result));
    }

    let mut checks = Vec::new();
    for service in Service::ALL {
        let name = config.backend_name(service);
        let Some((spec, result)) = opened.iter().find(|(s, _)| s.name == name) else {
            continue;
        };
        let (outcome, details) = match result {
            Ok((o, details)) => (probe(&o.stores, service).await, details.clone()),
            Err(e) => (Err(e.clone()), BackendDetails::default()),
        };
        checks.push(ServiceCheck {
            service,
            backend: spec.name.clone(),
            kind: spec.kind.name(),
            outcome,
            details,
        });
    }
    let lease_only = opened
        .iter()
        .find(|(spec, _)| {
            spec.name == config.lease_backend
                && Service::ALL
                    .iter()
                    .all(|s| config.backend_name(*s) != spec.name)
        })
        .map(|(spec, result)| {
            let result = result.as_ref().map(|_| ()).map_err(Clone::clone);
            (spec.name.clone(), result)
        });
    Report {
        services: checks,
        lease_only,
    }
}

/// What a service's probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It answered, in this time.
    Reachable(Duration),
    /// It works, but not as configured; the message says why (the key store without a
    /// keyring refuses every call before reaching the backend). Not a failure: an IdP
    /// that does not use the service is fine.
    Unusable(String),
}

/// One cheap round trip to `service`'s store, timed.
async fn probe(stores: &Stores, service: Service) -> Result<Probe, String> {
    // Random names: a probe never meets a real record (and never leaves one, but for
    // the replay cache's one-second entry).
    let key = authstate::id::random_token()
        .map_err(|e| e.to_string())?
        .expose()
        .to_string();
    let started = Instant::now();
    let answer: authstate::Result<bool> = match service {
        Service::Sessions => match SessionId::generate() {
            Ok(id) => stores.sessions.get(&id).await.map(|r| r.is_none()),
            Err(e) => Err(e),
        },
        Service::Artifacts => stores
            .artifacts
            .take(&key)
            .await
            .map(|t| t == Take::Unknown),
        Service::State => stores.state.get(&key).await.map(|v| v.is_none()),
        Service::Replay => {
            let not_after = SystemClock.now().saturating_add(Duration::from_secs(1));
            stores
                .replay
                .check_and_record(&key, not_after)
                .await
                .map(|r| r == authstate::Replay::Fresh)
        }
        Service::Lockout => stores.lockout.status(&key).await.map(|s| s.failures == 0),
        Service::Keys => stores.keys.load(&key).await.map(|k| k.is_none()),
        Service::Revocations => stores
            .revocations
            .is_revoked(&key, &key, SystemClock.now())
            .await
            .map(|revoked| !revoked),
        Service::Tokens => stores.tokens.get(&key).await.map(|t| t.is_none()),
        Service::Registry => stores
            .registry
            .participants(&key)
            .await
            .map(|p| p.is_empty()),
    };
    let took = started.elapsed();
    match answer {
        Ok(true) => Ok(Probe::Reachable(took)),
        Ok(false) => Err("answered wrongly for a random key (found something)".into()),
        Err(e) if service == Service::Keys && e.kind() == authstate::ErrorKind::ConfigInvalid => {
            Ok(Probe::Unusable(format!(
                "not usable as configured, reachability not checked: {} (configure \
                 [encryption] keys, or allow_plaintext_keys = true)",
                e.message()
            )))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn na(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("n/a")
}

fn write_table(
    out: &mut impl std::io::Write,
    config: &Config,
    report: &Report,
) -> std::io::Result<()> {
    let checks = &report.services;
    writeln!(
        out,
        "namespace {}, config {}{}",
        config.namespace,
        config.source,
        if config.backend_override {
            ", backends from --backend"
        } else {
            ""
        }
    )?;
    let header = [
        "SERVICE", "BACKEND", "KIND", "STATUS", "LATENCY", "SERVER", "AUTH", "SCHEMA", "TLS",
    ];
    let rows: Vec<[String; 9]> = checks
        .iter()
        .map(|c| {
            let (status, latency) = match &c.outcome {
                Ok(Probe::Reachable(d)) => {
                    ("ok".to_string(), format!("{:.3} ms", d.as_secs_f64() * 1e3))
                }
                Ok(Probe::Unusable(_)) => ("warning".to_string(), "-".to_string()),
                Err(_) => ("FAILED".to_string(), "-".to_string()),
            };
            [
                c.service.name().to_string(),
                c.backend.clone(),
                c.kind.to_string(),
                status,
                latency,
                na(&c.details.server).to_string(),
                na(&c.details.authentication).to_string(),
                na(&c.details.schema).to_string(),
                na(&c.details.tls).to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    // One line per distinct problem, naming the services it hit: a backend that cannot
    // be opened fails all of its services with the same error.
    let mut problems: Vec<(String, Vec<&str>)> = Vec::new();
    for c in checks {
        let why = match &c.outcome {
            Ok(Probe::Reachable(_)) => continue,
            Ok(Probe::Unusable(why)) => format!("warning: {why}"),
            Err(why) => why.clone(),
        };
        match problems.iter_mut().find(|(w, _)| *w == why) {
            Some((_, services)) => services.push(c.service.name()),
            None => problems.push((why, vec![c.service.name()])),
        }
    }
    for (why, services) in &problems {
        writeln!(out, "{}: {why}", services.join(", "))?;
    }
    match &report.lease_only {
        Some((name, Ok(()))) => writeln!(out, "sweeper lease: backend {name} opened")?,
        Some((name, Err(why))) => writeln!(out, "sweeper lease: backend {name} FAILED: {why}")?,
        None => {}
    }
    let n = checks.len();
    let failed = report.failures();
    let reachable = checks
        .iter()
        .filter(|c| matches!(c.outcome, Ok(Probe::Reachable(_))))
        .count();
    let warned = n - failed - reachable;
    match (failed, warned) {
        (0, 0) => writeln!(out, "all {n} services reachable"),
        (0, w) => writeln!(
            out,
            "{reachable} of {n} services reachable, {w} with a warning, none failed"
        ),
        (f, _) => writeln!(out, "{f} of {} checks failed", report.checks()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_service_of_the_embedded_default_is_reachable() {
        let config = crate::config::load(None, Some("memory:")).expect("loads");
        let report = check_all(&config).await;
        assert!(report.lease_only.is_none());
        let checks = &report.services;
        assert_eq!(checks.len(), 9);
        for c in checks {
            assert_eq!(c.kind, "memory");
            match (&c.outcome, c.service) {
                // Without a keyring the key store refuses every call.
                (Ok(Probe::Unusable(why)), Service::Keys) => {
                    assert!(why.contains("keyring"), "{why}");
                }
                (Ok(Probe::Reachable(_)), _) => {}
                (other, service) => panic!("{service}: {other:?}"),
            }
        }
        let mut out = Vec::new();
        write_table(&mut out, &config, &report).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains("8 of 9 services reachable, 1 with a warning, none failed"),
            "{text}"
        );
        assert!(text.contains("keys: warning: not usable"), "{text}");
        assert!(text.contains("n/a"), "{text}");
    }

    #[tokio::test]
    async fn a_backend_that_cannot_be_reached_fails_its_services_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("authstate.toml");
        std::fs::write(
            &path,
            "default_backend = \"mem\"\n[backends.mem]\nkind = \"memory\"\n\
             [backends.cache]\nurl = \"redis://127.0.0.1:1\"\n\
             [backends.db]\nurl = \"ldap://127.0.0.1:1/dc=example,dc=com\"\n\
             [services]\nreplay = \"cache\"\n[sweeper]\nlease_backend = \"db\"\n",
        )
        .expect("writes");
        let config = crate::config::load(Some(&path), None).expect("loads");
        let report = check_all(&config).await;
        assert_eq!(report.failures(), 2);
        let (name, lease) = report
            .lease_only
            .as_ref()
            .expect("the lease backend is shown");
        assert_eq!(name, "db");
        assert!(lease.is_err());
        let failed: Vec<_> = report
            .services
            .iter()
            .filter(|c| c.outcome.is_err())
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].service, Service::Replay);
        let why = failed[0].outcome.as_ref().expect_err("failed");
        assert!(
            why.contains("cannot connect to Redis at 127.0.0.1:1"),
            "{why}"
        );
    }
}
