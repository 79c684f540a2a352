//! Loading a config: parse, check every field, read the secrets. Every error names the
//! file, the line and the field.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use authstate::codec::{Algorithm, DataKey, Keyring, Pepper, RecordCodec};
use authstate::sweeper::SweeperConfig;
use authstate::{Namespace, PurgeCriterion, SecretBytes, SecretString};
use toml::Spanned;

use super::raw::{Criterion, KeyAlgorithm, RawBackend, RawConfig, RawEncryption, RawSweeper};
use super::secrets::{SecretSource, parse_key_text, parse_pepper};
use super::{Config, DEFAULT_NAMESPACE, Encryption, KeyInfo, UrlSource};
use crate::backend::{
    BackendKind, BackendSpec, DEFAULT_BACKEND, address_in_options, kind_names, parse_url,
    url_has_password,
};
use crate::error::{CliError, ConfigError};
use crate::services::Service;

/// The name of the backend `--backend` defines.
pub const CLI_BACKEND: &str = "cli";
/// The name of the embedded default's backend.
pub const EMBEDDED_BACKEND: &str = "default";
/// How the embedded default is named in messages.
const EMBEDDED_SOURCE: &str = "(embedded default)";

/// Loads the config from `path` (or the embedded default), then lets `backend` (a
/// `--backend` URL) replace its backends. All errors are exit status 2.
pub fn load(path: Option<&Path>, backend: Option<&str>) -> Result<Config, CliError> {
    let mut config = match path {
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                file: Some(name.clone()),
                line: None,
                field: None,
                message: format!("cannot read the config file: {e}"),
            })?;
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            parse(&Source {
                name,
                dir,
                text: &text,
            })?
        }
        None => {
            let text = embedded_text();
            let mut config = parse(&Source {
                name: EMBEDDED_SOURCE.into(),
                dir: PathBuf::from("."),
                text: &text,
            })?;
            for spec in config.backends.values_mut() {
                spec.embedded = true;
            }
            config
        }
    };
    if let Some(url) = backend {
        override_backend(&mut config, url)?;
    }
    Ok(config)
}

/// The embedded default as a config file: the default namespace and one backend.
pub fn embedded_text() -> String {
    format!(
        "namespace = \"{DEFAULT_NAMESPACE}\"\n\n[backends.{EMBEDDED_BACKEND}]\nurl = \
         \"{DEFAULT_BACKEND}\"\n"
    )
}

/// The text being loaded, with what errors need to point into it.
struct Source<'a> {
    /// The file as the user named it.
    name: String,
    /// Relative secret files are read from here.
    dir: PathBuf,
    text: &'a str,
}

impl Source<'_> {
    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text
            .as_bytes()
            .get(..end)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1
    }

    /// An error at `span` about `field`.
    fn error(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> CliError {
        CliError::Config(self.at(span, field, message))
    }

    fn at(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let field = field.into();
        ConfigError {
            file: Some(self.name.clone()),
            line: span.map(|s| self.line(s.start)),
            field: (!field.is_empty()).then_some(field),
            message: message.into(),
        }
    }
}

fn parse(src: &Source<'_>) -> Result<Config, CliError> {
    let de = toml::Deserializer::parse(src.text)
        .map_err(|e| src.error(e.span(), "", format!("malformed TOML: {}", e.message())))?;
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_path(&e.path().to_string());
        let inner = e.into_inner();
        src.error(inner.span(), field, inner.message())
    })?;
    resolve(src, raw)
}

/// A serde path as a config field: `sweeper.interval`, without the segments that
/// `toml::Spanned` adds (`sweeper.interval.$__serde_spanned_private_value`).
fn field_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.split('.')
        .filter(|seg| !seg.starts_with("$__serde_spanned"))
        .collect::<Vec<_>>()
        .join(".")
}

fn resolve(src: &Source<'_>, raw: RawConfig) -> Result<Config, CliError> {
    let mut warnings = Vec::new();

    let namespace = match &raw.namespace {
        Some(ns) => Namespace::new(ns.get_ref().as_str())
            .map_err(|e| src.error(Some(ns.span()), "namespace", e.message()))?,
        None => Namespace::new(DEFAULT_NAMESPACE)?,
    };

    let mut backends = BTreeMap::new();
    let mut url_sources = BTreeMap::new();
    for (name, table) in &raw.backends {
        let (spec, url_source) = resolve_backend(src, name, table, &mut warnings)?;
        url_sources.insert(spec.name.clone(), url_source);
        backends.insert(spec.name.clone(), spec);
    }
    if backends.is_empty() {
        // A file that only sets encryption or the sweeper uses the embedded default's
        // backend.
        let default = embedded_backend()?;
        url_sources.insert(default.name.clone(), UrlSource::Inline);
        backends.insert(default.name.clone(), default);
    }
    let defined = || backends.keys().cloned().collect::<Vec<_>>().join(", ");
    let undefined = |name: &str| {
        format!(
            "backend \"{name}\" is not defined (defined: {}); add a [backends.{name}] table",
            defined()
        )
    };

    let default_backend = match &raw.default_backend {
        Some(name) => {
            if !backends.contains_key(name.get_ref()) {
                return Err(src.error(
                    Some(name.span()),
                    "default_backend",
                    undefined(name.get_ref()),
                ));
            }
            name.get_ref().clone()
        }
        None if backends.len() == 1 => backends.keys().next().cloned().unwrap_or_default(),
        None => {
            return Err(src.error(
                None,
                "default_backend",
                format!(
                    "missing: {} backends are defined ({}); name the one that services not \
                     in [services] use",
                    backends.len(),
                    defined()
                ),
            ));
        }
    };

    let mut services: [(String, bool); 9] = Default::default();
    for slot in services.iter_mut() {
        *slot = (default_backend.clone(), false);
    }
    // Errors point at the value's line: the key is on it (`sesions = "cache"`).
    for (key, value) in &raw.services {
        let field = format!("services.{key}");
        let Some(service) = Service::from_name(key) else {
            return Err(src.error(
                Some(value.span()),
                field,
                format!(
                    "unknown service \"{key}\" (expected one of {})",
                    Service::names()
                ),
            ));
        };
        if !backends.contains_key(value.get_ref()) {
            return Err(src.error(Some(value.span()), field, undefined(value.get_ref())));
        }
        let i = Service::ALL.iter().position(|s| *s == service).unwrap_or(0);
        services[i] = (value.get_ref().clone(), true);
    }

    let encryption = match &raw.encryption {
        Some(enc) => resolve_encryption(src, enc, &mut warnings)?,
        None => Encryption::default(),
    };

    let (sweeper, lease_backend) = match &raw.sweeper {
        Some(sw) => {
            let sweeper = resolve_sweeper(src, sw)?;
            let lease = match &sw.lease_backend {
                Some(name) if !backends.contains_key(name.get_ref()) => {
                    return Err(src.error(
                        Some(name.span()),
                        "sweeper.lease_backend",
                        undefined(name.get_ref()),
                    ));
                }
                Some(name) => name.get_ref().clone(),
                None => default_backend.clone(),
            };
            (sweeper, lease)
        }
        None => (SweeperConfig::default(), default_backend.clone()),
    };

    Ok(Config {
        source: src.name.clone(),
        backend_override: false,
        namespace,
        backends,
        url_sources,
        default_backend,
        services,
        encryption,
        sweeper,
        lease_backend,
        warnings,
    })
}

/// The embedded default's backend.
fn embedded_backend() -> Result<BackendSpec, CliError> {
    let kind = parse_url(DEFAULT_BACKEND).map_err(|m| ConfigError::field("DEFAULT_BACKEND", m))?;
    Ok(BackendSpec {
        name: EMBEDDED_BACKEND.into(),
        kind,
        url: kind.needs_url().then(|| SecretString::new(DEFAULT_BACKEND)),
        options: toml::Table::new(),
        options_at: ConfigError::field(format!("backends.{EMBEDDED_BACKEND}.options"), ""),
        base_dir: PathBuf::from("."),
        embedded: true,
    })
}

/// A backend name: what may follow `backends.` without quotes, and what messages show.
fn valid_backend_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn resolve_backend(
    src: &Source<'_>,
    name: &str,
    table: &Spanned<RawBackend>,
    warnings: &mut Vec<String>,
) -> Result<(BackendSpec, UrlSource), CliError> {
    let field = format!("backends.{name}");
    if !valid_backend_name(name) {
        return Err(src.error(
            Some(table.span()),
            "backends",
            format!(
                "backend name {name:?} is invalid: use 1 to 64 characters of A-Z, a-z, 0-9, \
                 '-' and '_'"
            ),
        ));
    }
    let raw = table.get_ref();

    // At most one of url, url_env, url_file.
    let given: Vec<(&str, &Spanned<String>)> = [
        ("url", &raw.url),
        ("url_env", &raw.url_env),
        ("url_file", &raw.url_file),
    ]
    .into_iter()
    .filter_map(|(f, v)| v.as_ref().map(|v| (f, v)))
    .collect();
    if let [_, (second, value), ..] = given.as_slice() {
        return Err(src.error(
            Some(value.span()),
            format!("{field}.{second}"),
            "give only one of url, url_env and url_file",
        ));
    }
    let (url, url_source, url_field, url_span) = match given.first() {
        None => (None, UrlSource::None, String::new(), None),
        Some(("url", value)) => {
            if url_has_password(value.get_ref()) {
                warnings.push(
                    src.at(
                        Some(value.span()),
                        format!("{field}.url"),
                        "the URL holds a password; keep it out of the config file with url_env \
                         or url_file",
                    )
                    .to_string(),
                );
            }
            (
                Some(SecretString::new(value.get_ref().as_str())),
                UrlSource::Inline,
                format!("{field}.url"),
                Some(value.span()),
            )
        }
        Some((which, value)) => {
            let source = if *which == "url_env" {
                SecretSource::Env(value.get_ref().clone())
            } else {
                SecretSource::file(value.get_ref(), &src.dir)
            };
            let f = format!("{field}.{which}");
            let text = source
                .read()
                .map_err(|m| src.error(Some(value.span()), f.clone(), m))?;
            (
                Some(SecretString::new(text.as_str())),
                UrlSource::Secret(source),
                f,
                Some(value.span()),
            )
        }
    };

    let url_kind = match &url {
        Some(url) => Some(
            parse_url(url.expose())
                .map_err(|m| src.error(url_span.clone(), url_field.clone(), m))?,
        ),
        None => None,
    };
    let kind = match (&raw.kind, url_kind) {
        (Some(k), url_kind) => {
            let Some(kind) = BackendKind::from_name(k.get_ref()) else {
                return Err(src.error(
                    Some(k.span()),
                    format!("{field}.kind"),
                    format!(
                        "unknown backend kind \"{}\" (expected one of {})",
                        k.get_ref(),
                        kind_names()
                    ),
                ));
            };
            if let Some(url_kind) = url_kind
                && url_kind != kind
            {
                return Err(src.error(
                    url_span,
                    url_field,
                    format!(
                        "the URL is for a {url_kind} backend, but kind = \"{kind}\"; make them \
                         agree (or leave kind out: the URL's scheme says it)"
                    ),
                ));
            }
            kind
        }
        (None, Some(url_kind)) => url_kind,
        (None, None) => {
            return Err(src.error(
                Some(table.span()),
                field,
                format!("give the backend's kind ({}) or its url", kind_names()),
            ));
        }
    };
    let (options, options_span) = match &raw.options {
        Some(o) => (o.get_ref().clone(), Some(o.span())),
        None => (toml::Table::new(), Some(table.span())),
    };
    if kind.needs_url() && url.is_none() && !address_in_options(kind, &options) {
        let or_options = if kind == BackendKind::Redis {
            ", or say where the server is in its options (host, socket, sentinel or cluster)"
        } else {
            ""
        };
        return Err(src.error(
            Some(table.span()),
            field,
            format!("the {kind} backend needs a URL: give url, url_env or url_file{or_options}"),
        ));
    }

    let options_field = format!("{field}.options");
    let spec = BackendSpec {
        name: name.to_string(),
        kind,
        url: if kind.needs_url() { url } else { None },
        options,
        options_at: src.at(options_span, options_field, ""),
        base_dir: src.dir.clone(),
        embedded: false,
    };
    crate::backend::validate(&spec)?;
    Ok((spec, url_source))
}

fn resolve_encryption(
    src: &Source<'_>,
    raw: &RawEncryption,
    warnings: &mut Vec<String>,
) -> Result<Encryption, CliError> {
    let mut keys: Vec<(DataKey, KeyInfo)> = Vec::new();
    for (i, entry) in raw.keys.iter().enumerate() {
        let field = format!("encryption.keys[{i}]");
        let key = entry.get_ref();
        let id = key.id.get_ref();
        check_key_id(id).map_err(|m| src.error(Some(key.id.span()), format!("{field}.id"), m))?;
        if keys.iter().any(|(_, info)| info.id == *id) {
            return Err(src.error(
                Some(key.id.span()),
                format!("{field}.id"),
                format!("another key has the id \"{id}\"; key ids must differ"),
            ));
        }
        let algorithm = match key.algorithm.as_ref().map(|a| *a.get_ref()) {
            None | Some(KeyAlgorithm::Aes256Gcm) => Algorithm::Aes256Gcm,
            Some(KeyAlgorithm::Aes128Gcm) => Algorithm::Aes128Gcm,
        };
        let (source, source_field, span) = match (&key.key_file, &key.key_env) {
            (Some(file), None) => (
                SecretSource::file(file.get_ref(), &src.dir),
                format!("{field}.key_file"),
                file.span(),
            ),
            (None, Some(env)) => (
                SecretSource::Env(env.get_ref().clone()),
                format!("{field}.key_env"),
                env.span(),
            ),
            (Some(_), Some(env)) => {
                return Err(src.error(
                    Some(env.span()),
                    format!("{field}.key_env"),
                    "give only one of key_file and key_env",
                ));
            }
            (None, None) => {
                return Err(src.error(
                    Some(entry.span()),
                    field,
                    format!(
                        "key \"{id}\" needs key_file or key_env: key material is never written \
                         in the config file"
                    ),
                ));
            }
        };
        let fail = |m: String| src.error(Some(span.clone()), source_field.clone(), m);
        let text = source.read().map_err(&fail)?;
        let parsed = parse_key_text(&text).map_err(|m| fail(format!("key \"{id}\": {m}")))?;
        if let Some(declared) = &parsed.id
            && declared != id
        {
            return Err(fail(format!(
                "{source} holds the key \"{declared}\", but this entry's id is \"{id}\""
            )));
        }
        if let Some(declared) = &parsed.algorithm
            && !declared.eq_ignore_ascii_case(algorithm.name())
        {
            return Err(fail(format!(
                "{source} holds an {declared} key, but this entry's algorithm is {algorithm}"
            )));
        }
        let len = parsed.material.len();
        let data_key = DataKey::new(
            id.as_str(),
            algorithm,
            SecretBytes::new(parsed.material.to_vec()),
        )
        .map_err(|_| {
            fail(format!(
                "key \"{id}\": {algorithm} needs {} bytes of key material, {source} holds {len}{}",
                algorithm.key_len(),
                if len == 16 && algorithm == Algorithm::Aes256Gcm {
                    " (for a 16-byte key set algorithm = \"aes-128-gcm\")"
                } else {
                    ""
                }
            ))
        })?;
        keys.push((
            data_key,
            KeyInfo {
                id: id.clone(),
                algorithm,
                source,
                write: false,
            },
        ));
    }

    let write_index = match &raw.write_key {
        Some(name) => match keys.iter().position(|(_, info)| info.id == *name.get_ref()) {
            Some(i) => Some(i),
            None if keys.is_empty() => {
                return Err(src.error(
                    Some(name.span()),
                    "encryption.write_key",
                    format!(
                        "no keys are configured; add a [[encryption.keys]] entry with id = \"{}\"",
                        name.get_ref()
                    ),
                ));
            }
            None => {
                return Err(src.error(
                    Some(name.span()),
                    "encryption.write_key",
                    format!(
                        "no key has the id \"{}\" (configured: {})",
                        name.get_ref(),
                        key_ids(&keys)
                    ),
                ));
            }
        },
        None if keys.len() == 1 => Some(0),
        None if keys.is_empty() => None,
        None => {
            return Err(src.error(
                None,
                "encryption.write_key",
                format!(
                    "missing: {} keys are configured ({}); name the one new records are sealed \
                     with (the others are read keys)",
                    keys.len(),
                    key_ids(&keys)
                ),
            ));
        }
    };

    let mut codec = RecordCodec::plaintext().accept_plaintext(raw.accept_plaintext);
    let mut infos = Vec::new();
    if let Some(w) = write_index {
        let (write, mut info) = keys.remove(w);
        info.write = true;
        infos.push(info);
        let mut keyring = Keyring::new(write);
        for (key, info) in keys {
            // Ids were checked to differ above, so this cannot fail; map it anyway.
            keyring = keyring.with_read_key(key).map_err(CliError::Store)?;
            infos.push(info);
        }
        codec = codec.with_keyring(keyring);
    } else if raw.accept_plaintext {
        warnings.push(
            src.at(
                None,
                "encryption.accept_plaintext",
                "has no effect without keys: records are plaintext anyway",
            )
            .to_string(),
        );
    }

    let pepper = match (&raw.pepper_file, &raw.pepper_env) {
        (Some(_), Some(env)) => {
            return Err(src.error(
                Some(env.span()),
                "encryption.pepper_env",
                "give only one of pepper_file and pepper_env",
            ));
        }
        (Some(file), None) => Some((
            SecretSource::file(file.get_ref(), &src.dir),
            "encryption.pepper_file",
            file.span(),
        )),
        (None, Some(env)) => Some((
            SecretSource::Env(env.get_ref().clone()),
            "encryption.pepper_env",
            env.span(),
        )),
        (None, None) => None,
    };
    let pepper = match pepper {
        Some((source, field, span)) => {
            let fail = |m: String| src.error(Some(span.clone()), field, m);
            let text = source.read().map_err(&fail)?;
            let bytes = parse_pepper(&text).map_err(&fail)?;
            let len = bytes.len();
            let pepper = Pepper::new(SecretBytes::new(bytes.to_vec()))
                .map_err(|e| fail(format!("{source}: {}", e.message())))?;
            codec = codec.with_pepper(pepper);
            Some((source, len))
        }
        None => None,
    };

    Ok(Encryption {
        codec,
        keys: infos,
        pepper,
        accept_plaintext: raw.accept_plaintext,
        allow_plaintext_keys: raw.allow_plaintext_keys,
    })
}

fn key_ids(keys: &[(DataKey, KeyInfo)]) -> String {
    keys.iter()
        .map(|(_, i)| i.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keyring's rule for key ids, checked here so the error names the `id` field.
fn check_key_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= authstate::codec::MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "key id {id:?} is invalid: use 1 to {} characters of A-Z, a-z, 0-9, '.', '_' and '-'",
            authstate::codec::MAX_KEY_ID_LEN
        ))
    }
}

fn resolve_sweeper(src: &Source<'_>, raw: &RawSweeper) -> Result<SweeperConfig, CliError> {
    let mut config = SweeperConfig::default();
    if let Some(interval) = &raw.interval {
        if interval.get_ref().0.is_zero() {
            return Err(src.error(
                Some(interval.span()),
                "sweeper.interval",
                "must be more than zero",
            ));
        }
        config.interval = interval.get_ref().0;
    }
    if let Some(batch) = &raw.batch_size {
        if *batch.get_ref() == 0 {
            return Err(src.error(
                Some(batch.span()),
                "sweeper.batch_size",
                "must be at least 1",
            ));
        }
        config.batch_size = *batch.get_ref();
    }
    let criterion = raw.criterion.as_ref().map(|c| (*c.get_ref(), c.span()));
    config.criterion = match (criterion, &raw.max_idle) {
        (None | Some((Criterion::Expiry, _)), None) => PurgeCriterion::Expiry,
        (None | Some((Criterion::Expiry, _)), Some(idle)) => {
            return Err(src.error(
                Some(idle.span()),
                "sweeper.max_idle",
                "applies only with criterion = \"last_activity\"",
            ));
        }
        (Some((Criterion::LastActivity, span)), None) => {
            return Err(src.error(
                Some(span),
                "sweeper.criterion",
                "\"last_activity\" needs max_idle: how long a session may stay unused",
            ));
        }
        (Some((Criterion::LastActivity, _)), Some(idle)) => {
            if idle.get_ref().0.is_zero() {
                return Err(src.error(
                    Some(idle.span()),
                    "sweeper.max_idle",
                    "must be more than zero",
                ));
            }
            PurgeCriterion::LastActivity {
                max_idle: idle.get_ref().0,
            }
        }
    };
    if let Some(offset) = &raw.offset {
        config.offset = offset.0;
    }
    if let Some(rate) = &raw.max_deletes_per_second {
        if *rate.get_ref() == 0 {
            return Err(src.error(
                Some(rate.span()),
                "sweeper.max_deletes_per_second",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        config.max_deletes_per_second = Some(*rate.get_ref());
    }
    if let Some(ttl) = &raw.lease_ttl {
        if ttl.get_ref().0.is_zero() {
            return Err(src.error(
                Some(ttl.span()),
                "sweeper.lease_ttl",
                "must be more than zero",
            ));
        }
        config.lease_ttl = ttl.get_ref().0;
    }
    if let Some(holder) = &raw.holder {
        if holder.get_ref().trim().is_empty() {
            return Err(src.error(
                Some(holder.span()),
                "sweeper.holder",
                "is empty (leave it out for a random name per run)",
            ));
        }
        config.holder = Some(holder.get_ref().clone());
    }
    Ok(config)
}

/// `--backend URL`: one backend for every service and the lease. Namespace, encryption
/// and sweeper settings stay as configured.
fn override_backend(config: &mut Config, url: &str) -> Result<(), CliError> {
    let kind = parse_url(url).map_err(|m| ConfigError::field("--backend", m))?;
    let spec = BackendSpec {
        name: CLI_BACKEND.into(),
        kind,
        url: kind.needs_url().then(|| SecretString::new(url)),
        options: toml::Table::new(),
        options_at: ConfigError::field("--backend", ""),
        base_dir: PathBuf::from("."),
        embedded: false,
    };
    crate::backend::validate(&spec)?;
    config.backends = BTreeMap::from([(CLI_BACKEND.to_string(), spec)]);
    config.url_sources = BTreeMap::from([(CLI_BACKEND.to_string(), UrlSource::CommandLine)]);
    config.default_backend = CLI_BACKEND.into();
    config.lease_backend = CLI_BACKEND.into();
    for slot in config.services.iter_mut() {
        *slot = (CLI_BACKEND.into(), false);
    }
    config.backend_override = true;
    Ok(())
}
