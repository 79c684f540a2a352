//! The effective config as TOML, every default filled in and every secret redacted:
//! what `authstate config check` prints.

use std::fmt::Write as _;

use authstate::PurgeCriterion;

use super::{Config, SecretSource, UrlSource, redact_table};
use crate::services::Service;

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn duration(d: std::time::Duration) -> String {
    quote(&humantime::format_duration(d).to_string())
}

/// Where a secret is, as a config line: `key_file = "…"` or `key_env = "…"`.
fn source_line(prefix: &str, source: &SecretSource) -> String {
    match source {
        SecretSource::File { written, .. } => format!("{prefix}_file = {}", quote(written)),
        SecretSource::Env(name) => format!("{prefix}_env = {}", quote(name)),
    }
}

/// The effective config. Key material, the pepper, passwords in URLs and secret-named
/// options never appear; where they come from does.
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored with `let _`.
    let _ = writeln!(
        out,
        "# The effective configuration from {}{}; secrets are [redacted].",
        config.source,
        if config.backend_override {
            ", with its backends replaced by --backend"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "namespace = {}", quote(config.namespace.as_str()));
    let _ = writeln!(out, "default_backend = {}", quote(&config.default_backend));

    let used: Vec<&str> = config
        .used_backends()
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    for (name, spec) in &config.backends {
        let _ = writeln!(out, "\n[backends.{name}]");
        if !used.contains(&name.as_str()) {
            let _ = writeln!(out, "# not used by any service (not opened)");
        }
        let _ = writeln!(out, "kind = {}", quote(spec.kind.name()));
        let shown = quote(&spec.display_url());
        match config.url_sources.get(name).unwrap_or(&UrlSource::None) {
            UrlSource::None => {}
            UrlSource::Inline => {
                let _ = writeln!(out, "url = {shown}");
            }
            UrlSource::CommandLine => {
                let _ = writeln!(out, "url = {shown}  # from --backend");
            }
            UrlSource::Secret(source) => {
                let _ = writeln!(out, "{}  # {shown}", source_line("url", source));
            }
        }
        if !spec.kind.is_built() {
            let _ = writeln!(
                out,
                "# the {} backend is not built into this release yet: the settings are valid, \
                 but this binary cannot open it",
                spec.kind
            );
        }
        if !spec.options.is_empty() {
            let _ = writeln!(
                out,
                "options = {}",
                toml::Value::Table(redact_table(&spec.options))
            );
        }
    }

    let _ = writeln!(
        out,
        "\n# Every service and its backend; \"(default)\" marks those not in [services]."
    );
    let _ = writeln!(out, "[services]");
    for (service, (backend, explicit)) in Service::ALL.iter().zip(&config.services) {
        let _ = writeln!(
            out,
            "{} = {}{}",
            service.name(),
            quote(backend),
            if *explicit { "" } else { "  # (default)" }
        );
    }

    let enc = &config.encryption;
    let _ = writeln!(out, "\n[encryption]");
    match enc.keys.iter().find(|k| k.write) {
        Some(write) => {
            let _ = writeln!(out, "write_key = {}", quote(&write.id));
        }
        None => {
            let _ = writeln!(out, "# no keys: records are stored unencrypted");
        }
    }
    let _ = writeln!(out, "accept_plaintext = {}", enc.accept_plaintext);
    let _ = writeln!(out, "allow_plaintext_keys = {}", enc.allow_plaintext_keys);
    match &enc.pepper {
        Some((source, len)) => {
            let _ = writeln!(
                out,
                "{}  # pepper: [redacted], {len} bytes",
                source_line("pepper", source)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "# no pepper: handles are hashed with plain SHA-256 (set pepper_file or \
                 pepper_env for keyed hashing)"
            );
        }
    }
    for key in &enc.keys {
        let _ = writeln!(out, "\n[[encryption.keys]]");
        let _ = writeln!(out, "id = {}", quote(&key.id));
        let _ = writeln!(
            out,
            "algorithm = {}",
            quote(&key.algorithm.name().to_ascii_lowercase())
        );
        let _ = writeln!(
            out,
            "{}  # material: [redacted], {} bytes, {} key",
            source_line("key", &key.source),
            key.algorithm.key_len(),
            if key.write { "write" } else { "read" }
        );
    }

    let sw = &config.sweeper;
    let _ = writeln!(out, "\n[sweeper]");
    let _ = writeln!(out, "interval = {}", duration(sw.interval));
    let _ = writeln!(out, "batch_size = {}", sw.batch_size);
    match sw.criterion {
        PurgeCriterion::Expiry => {
            let _ = writeln!(out, "criterion = \"expiry\"");
        }
        PurgeCriterion::LastActivity { max_idle } => {
            let _ = writeln!(out, "criterion = \"last_activity\"");
            let _ = writeln!(out, "max_idle = {}", duration(max_idle));
        }
    }
    let _ = writeln!(out, "offset = {}", duration(sw.offset));
    match sw.max_deletes_per_second {
        Some(rate) => {
            let _ = writeln!(out, "max_deletes_per_second = {rate}");
        }
        None => {
            let _ = writeln!(out, "# max_deletes_per_second: no limit");
        }
    }
    let _ = writeln!(out, "lease_ttl = {}", duration(sw.lease_ttl));
    let _ = writeln!(out, "lease_backend = {}", quote(&config.lease_backend));
    match &sw.holder {
        Some(holder) => {
            let _ = writeln!(out, "holder = {}", quote(holder));
        }
        None => {
            let _ = writeln!(out, "# holder: a random name per run");
        }
    }
    out
}
