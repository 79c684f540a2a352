//! The LDAP backend (`authstate::ldap`): OpenLDAP, PingDirectory, PingDS.
//!
//! The backend's own [`LdapConfig`] is not read from TOML, so its settings are written
//! in the backend's `[options]` as [`LdapOptions`] (below) and mapped onto it. The URL
//! may carry the base DN as its path (RFC 4516:
//! `ldap://dir:389/ou=authstate,dc=example,dc=com`, percent-encoded where needed), or
//! the `base_dn` option gives it.
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `base_dn` | the URL's path | the entry under which each namespace gets `ou=<namespace>` (must exist) |
//! | `bind_dn` | anonymous | the DN to bind as (simple bind; needs `password` or `password_file`) |
//! | `password`, `password_file` | none | the bind password, or a file holding it (one trailing newline removed) |
//! | `sasl_external` | `false` | bind with SASL EXTERNAL (a client certificate, or `ldapi://`) |
//! | `start_tls` | `false` | upgrade `ldap://` with StartTLS |
//! | `ca_file` | system roots | PEM CA certificates for `ldaps://` and StartTLS |
//! | `client_cert_file`, `client_key_file` | none | a client certificate and its key (PEM) |
//! | `pool_size` | `4` | connections per node |
//! | `connect_timeout`, `operation_timeout` | `"5s"`, `"10s"` | how long connecting, and one operation, may take |
//! | `dds_max_ttl` | off | the server's `dds-max-ttl`: add short-lived records as dynamic objects |
//! | `time_attributes` | `false` | also write expiry and last activity as GeneralizedTime |
//! | `purge_delete_threads`, `purge_max_deletes_per_second` | `1`, no limit | how purge deletes |
//!
//! Each namespace needs its subtree, made by `authstate migrate`; stores refuse to open
//! on a namespace without it.

use std::path::PathBuf;

use authstate::ldap::{Bind, ClientCert, LdapBackend, LdapConfig, ServerTtl, TlsOptions};
use authstate::{ErrorKind, Namespace, SecretString, StoreConfig};
use serde::Deserialize;

use super::{BackendDetails, BackendSpec, Opened, Schema};
use crate::config::parse_duration;
use crate::error::CliError;

/// The LDAP backend's settings as written in `[backends.<name>.options]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LdapOptions {
    url: String,
    #[serde(default)]
    base_dn: Option<String>,
    #[serde(default)]
    bind_dn: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default)]
    sasl_external: bool,
    #[serde(default)]
    start_tls: bool,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    client_cert_file: Option<PathBuf>,
    #[serde(default)]
    client_key_file: Option<PathBuf>,
    #[serde(default)]
    pool_size: Option<usize>,
    #[serde(default)]
    connect_timeout: Option<String>,
    #[serde(default)]
    operation_timeout: Option<String>,
    #[serde(default)]
    dds_max_ttl: Option<String>,
    #[serde(default)]
    time_attributes: bool,
    #[serde(default)]
    purge_delete_threads: Option<usize>,
    #[serde(default)]
    purge_max_deletes_per_second: Option<u32>,
}

/// An error about the option `field` (or the options as a whole), at their line.
fn option_error(spec: &BackendSpec, field: Option<&str>, message: impl Into<String>) -> CliError {
    let mut at = spec.options_at.clone();
    if let Some(field) = field {
        at.field = Some(match at.field {
            Some(options) => format!("{options}.{field}"),
            None => field.to_string(),
        });
    }
    at.message = message.into();
    CliError::Config(at)
}

/// The URL without its path, and the base DN its path gives (percent-decoded).
fn split_url(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let rest = rest.split('?').next().unwrap_or_default();
    match rest.split_once('/') {
        Some((authority, path)) => {
            let dn = percent_decode(path);
            (
                format!("{scheme}://{authority}"),
                (!dn.trim().is_empty()).then_some(dn),
            )
        }
        None => (format!("{scheme}://{rest}"), None),
    }
}

/// `%XX` escapes decoded; anything malformed kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(value as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The options mapped onto an [`LdapConfig`], checked (the password file read) without
/// connecting.
fn ldap_config(spec: &BackendSpec) -> Result<LdapConfig, CliError> {
    if spec.options.contains_key("url") {
        return Err(option_error(
            spec,
            Some("url"),
            format!(
                "the URL is not an option: give it as backends.{}.url (or url_env, url_file)",
                spec.name
            ),
        ));
    }
    let options = spec.options_as::<LdapOptions>(Some("url"))?;
    let (url, url_base) = split_url(&options.url);
    let base_dn = match (url_base, options.base_dn) {
        (Some(_), Some(_)) => {
            return Err(option_error(
                spec,
                Some("base_dn"),
                "the URL gives a base DN already (its path): give it once",
            ));
        }
        (Some(dn), None) | (None, Some(dn)) => dn,
        (None, None) => {
            return Err(option_error(
                spec,
                Some("base_dn"),
                "no base DN: set base_dn (such as \"ou=authstate,dc=example,dc=com\") or give \
                 it as the URL's path (ldap://dir/ou=authstate,dc=example,dc=com)",
            ));
        }
    };
    let password = match (options.password, &options.password_file) {
        (Some(_), Some(_)) => {
            return Err(option_error(
                spec,
                Some("password_file"),
                "both password and password_file are set: give one",
            ));
        }
        (Some(p), None) => Some(SecretString::new(p)),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                option_error(
                    spec,
                    Some("password_file"),
                    format!("cannot read password_file {}: {e}", file.display()),
                )
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            Some(SecretString::new(text))
        }
        (None, None) => None,
    };
    let bind = match (options.bind_dn, password, options.sasl_external) {
        (Some(_), _, true) => {
            return Err(option_error(
                spec,
                Some("sasl_external"),
                "is set with bind_dn: SASL EXTERNAL binds as the certificate's identity; \
                 remove one",
            ));
        }
        (Some(dn), Some(password), false) => Bind::Simple { dn, password },
        (Some(_), None, false) => {
            return Err(option_error(
                spec,
                Some("bind_dn"),
                "needs password or password_file",
            ));
        }
        (None, Some(_), _) => {
            return Err(option_error(
                spec,
                Some("password"),
                "is set but bind_dn is not: say which DN the password is for",
            ));
        }
        (None, None, true) => Bind::SaslExternal,
        (None, None, false) => Bind::Anonymous,
    };
    let client_cert = match (options.client_cert_file, options.client_key_file) {
        (Some(cert_file), Some(key_file)) => Some(ClientCert {
            cert_file,
            key_file,
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(option_error(
                spec,
                Some("client_key_file"),
                "client_cert_file is set but its key is not",
            ));
        }
        (None, Some(_)) => {
            return Err(option_error(
                spec,
                Some("client_cert_file"),
                "client_key_file is set but its certificate is not",
            ));
        }
    };
    for (field, file) in [
        ("ca_file", options.ca_file.as_ref()),
        (
            "client_cert_file",
            client_cert.as_ref().map(|c| &c.cert_file),
        ),
        ("client_key_file", client_cert.as_ref().map(|c| &c.key_file)),
    ] {
        if let Some(file) = file
            && !file.is_file()
        {
            return Err(option_error(
                spec,
                Some(field),
                format!("{} is not a readable file", file.display()),
            ));
        }
    }
    let duration = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|m| option_error(spec, Some(field), m))
    };
    let mut config = LdapConfig {
        bind,
        tls: TlsOptions {
            start_tls: options.start_tls,
            ca_file: options.ca_file,
            client_cert,
        },
        time_attributes: options.time_attributes,
        ..LdapConfig::new(url, base_dn)
    };
    if let Some(n) = options.pool_size {
        config.pool_size = n;
    }
    if let Some(d) = duration("connect_timeout", &options.connect_timeout)? {
        config.connect_timeout = d;
    }
    if let Some(d) = duration("operation_timeout", &options.operation_timeout)? {
        config.operation_timeout = d;
    }
    if let Some(d) = duration("dds_max_ttl", &options.dds_max_ttl)? {
        config.server_ttl = ServerTtl::dds(d);
    }
    if let Some(n) = options.purge_delete_threads {
        config.purge.delete_threads = n;
    }
    config.purge.max_deletes_per_second = options.purge_max_deletes_per_second;
    config
        .validate()
        .map_err(|e| option_error(spec, None, e.message()))?;
    Ok(config)
}

/// Checks the options of an LDAP backend without connecting.
pub fn validate(spec: &BackendSpec) -> Result<(), CliError> {
    ldap_config(spec).map(drop)
}

/// Drops `namespaces` from the backend's directory (their subtrees and all they hold),
/// for `authstate conformance`, which opens a fresh namespace per case.
pub async fn drop_namespaces(spec: &BackendSpec, namespaces: &[Namespace]) -> Result<(), CliError> {
    let backend = LdapBackend::connect(ldap_config(spec)?).await?;
    for namespace in namespaces {
        backend.drop_namespace(namespace).await?;
    }
    Ok(())
}

/// Opens an LDAP backend: a pool per open (so two opens are two nodes); with
/// [`Schema::Migrate`] creates the namespace's subtree first.
pub async fn open(
    spec: &BackendSpec,
    config: StoreConfig,
    schema: Schema,
) -> Result<Opened, CliError> {
    let ldap = ldap_config(spec)?;
    let check = details(&ldap);
    let subtree = format!("ou={},{}", config.namespace.as_str(), ldap.base_dn.trim());
    let backend = LdapBackend::connect(ldap).await?;
    let namespace = config.namespace.clone();
    let migrated = if schema == Schema::Migrate {
        backend.migrate(&namespace).await?;
        vec![format!(
            "the subtree {subtree} and its containers are in place (created what was missing)"
        )]
    } else {
        Vec::new()
    };
    let stores = match backend.open(config).await {
        Ok(stores) => stores,
        Err(e) if e.kind() == ErrorKind::ConfigInvalid && schema == Schema::Require => {
            return Err(not_migrated(spec, &namespace, &subtree));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Opened {
        stores,
        migrated: Some(migrated),
        check: Some(Box::pin(async move { Ok(check) })),
    })
}

/// The error for a namespace without its subtree.
fn not_migrated(spec: &BackendSpec, namespace: &Namespace, subtree: &str) -> CliError {
    CliError::Failed(format!(
        "backend {:?} ({}), namespace {namespace}: the subtree {subtree} does not exist or is \
         incomplete; run `authstate migrate` (with the same --config or --backend) first: it \
         creates it, once per namespace",
        spec.name,
        spec.display_url()
    ))
}

/// What `check` shows: the directory, the bind, the namespace's subtree, TLS.
fn details(ldap: &LdapConfig) -> BackendDetails {
    let scheme = ldap
        .url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    let authentication = match &ldap.bind {
        Bind::Anonymous => "anonymous (no bind_dn configured)".to_string(),
        Bind::Simple { dn, .. } => format!("ok as {dn} (simple bind)"),
        Bind::SaslExternal => "ok (SASL EXTERNAL)".to_string(),
    };
    let roots = if ldap.tls.ca_file.is_some() {
        "ca_file"
    } else {
        "system roots"
    };
    let tls = match scheme.as_str() {
        "ldaps" => format!("yes (ldaps), certificate verified ({roots})"),
        "ldap" if ldap.tls.start_tls => format!("yes (StartTLS), certificate verified ({roots})"),
        "ldapi" => "no (local socket)".to_string(),
        _ => "no".to_string(),
    };
    BackendDetails {
        server: Some(format!("LDAP directory, base DN {}", ldap.base_dn.trim())),
        authentication: Some(authentication),
        schema: Some("authstate schema loaded, namespace subtree present".to_string()),
        tls: Some(tls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConfigError;

    fn spec(url: &str, options: &str) -> BackendSpec {
        BackendSpec {
            name: "dir".into(),
            kind: super::super::BackendKind::Ldap,
            url: Some(SecretString::new(url)),
            options: toml::from_str(options).expect("valid TOML"),
            options_at: ConfigError {
                file: Some("a.toml".into()),
                line: Some(9),
                field: Some("backends.dir.options".into()),
                message: String::new(),
            },
            base_dir: PathBuf::from("."),
            embedded: false,
        }
    }

    fn refused(url: &str, options: &str) -> String {
        match validate(&spec(url, options)) {
            Err(e @ CliError::Config(_)) => e.to_string(),
            other => panic!("expected a config error for {options:?}, got {other:?}"),
        }
    }

    #[test]
    fn the_base_dn_comes_from_the_url_or_the_options() {
        let c = ldap_config(&spec(
            "ldap://127.0.0.1:389/ou=authstate,dc=example%2Cdc=com",
            "bind_dn = \"cn=admin,dc=example,dc=com\"\npassword = \"pw\"\npool_size = 2",
        ))
        .expect("valid");
        assert_eq!(c.url, "ldap://127.0.0.1:389");
        assert_eq!(c.base_dn, "ou=authstate,dc=example,dc=com");
        assert_eq!(c.pool_size, 2);
        assert!(
            matches!(c.bind, Bind::Simple { ref dn, .. } if dn == "cn=admin,dc=example,dc=com")
        );

        let c = ldap_config(&spec(
            "ldaps://dir",
            "base_dn = \"dc=example,dc=com\"\noperation_timeout = \"2s\"\ndds_max_ttl = \"1d\"",
        ))
        .expect("valid");
        assert_eq!(c.url, "ldaps://dir");
        assert_eq!(c.operation_timeout, std::time::Duration::from_secs(2));
        assert!(matches!(c.server_ttl, ServerTtl::Dds { .. }));
        assert!(matches!(c.bind, Bind::Anonymous));
    }

    #[test]
    fn bad_options_name_their_field() {
        for (url, options, expected) in [
            ("ldap://dir", "", "backends.dir.options.base_dn: no base DN"),
            (
                "ldap://dir/dc=x",
                "base_dn = \"dc=y\"",
                "backends.dir.options.base_dn: the URL gives a base DN already",
            ),
            (
                "ldap://dir/dc=x",
                "bind_dn = \"cn=a,dc=x\"",
                "backends.dir.options.bind_dn: needs password or password_file",
            ),
            (
                "ldap://dir/dc=x",
                "password = \"pw\"",
                "backends.dir.options.password: is set but bind_dn is not",
            ),
            (
                "ldap://dir/dc=x",
                "bind_dn = \"cn=a,dc=x\"\npassword_file = \"/nonexistent/pw\"",
                "backends.dir.options.password_file: cannot read password_file",
            ),
            (
                "ldap://dir/dc=x",
                "pool_size = 0",
                "a.toml:9: backends.dir.options: pool_size is zero",
            ),
            (
                "ldap://dir/dc=x",
                "poolsize = 2",
                "backends.dir.options.poolsize: unknown field `poolsize`",
            ),
            (
                "ldap://dir/dc=x",
                "connect_timeout = \"fast\"",
                "backends.dir.options.connect_timeout: invalid duration",
            ),
            (
                "ldaps://dir/dc=x",
                "ca_file = \"/nonexistent/ca.pem\"",
                "backends.dir.options.ca_file: /nonexistent/ca.pem is not a readable file",
            ),
            (
                "ldaps://dir/dc=x",
                "start_tls = true",
                "tls.start_tls needs an ldap:// url",
            ),
        ] {
            let m = refused(url, options);
            assert!(m.contains(expected), "{options:?}: {m}");
        }
    }

    #[test]
    fn a_password_is_never_echoed() {
        let m = refused("ldap://dir/dc=x", "password = \"hunter2\"");
        assert!(!m.contains("hunter2"), "{m}");
        let shown = format!(
            "{:?}",
            ldap_config(&spec(
                "ldap://dir/dc=x",
                "bind_dn = \"cn=a,dc=x\"\npassword = \"hunter2\"",
            ))
            .expect("valid")
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
