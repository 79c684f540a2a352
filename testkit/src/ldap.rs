//! OpenLDAP `slapd` as a native process with an `mdb` database holding one base entry.
//!
//! [`SlapdOptions::authstate`] loads the authstate schema (from `backend-ldap/schema/`)
//! and the `dds` overlay; [`Slapd::restart`] stops the server and starts it again on the
//! same data directory (a new port), for durability tests; [`SlapdTls`] adds an
//! `ldaps://` listener and StartTLS with the given certificates.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::error::{Result, TestkitError};
use crate::process::{NativeServer, Program, ServerDir};

/// `slapd`, which Debian installs in `/usr/sbin`.
pub const SLAPD: Program = Program::new("slapd", "slapd ldap-utils").also_in(&["/usr/sbin"]);

/// `slapadd`, used to load the base entry before the server starts.
pub const SLAPADD: Program = Program::new("slapadd", "slapd ldap-utils").also_in(&["/usr/sbin"]);

const SCHEMA_DIR: &str = "/etc/ldap/schema";
const MODULE_DIR: &str = "/usr/lib/ldap";

/// The authstate schema in slapd.conf form, as the LDAP backend ships it.
pub const AUTHSTATE_SCHEMA: &str = include_str!("../../backend-ldap/schema/authstate.schema");

/// How to start a [`Slapd`].
#[derive(Debug, Clone)]
pub struct SlapdOptions {
    /// The database suffix; its first RDN must be `dc=…` (the base entry is a `dcObject`).
    pub suffix: String,
    /// The password of the root DN `cn=admin,<suffix>`.
    pub admin_password: String,
    /// Extra modules from `/usr/lib/ldap` to load, e.g. `dds`, `ppolicy`, `syncprov`.
    pub modules: Vec<String>,
    /// Extra schema (`attributetype …` / `objectclass …` definitions), loaded after
    /// core, cosine, inetorgperson and nis.
    pub schema: String,
    /// Extra global lines before the database section (`authz-regexp`, `TLS…`, limits).
    pub global_config: String,
    /// Extra lines at the end of the `mdb` database section (overlays and their settings).
    pub database_config: String,
    /// Skip loading the base entry: the suffix exists as a database but has no entry
    /// (to test a base DN that does not exist).
    pub without_base_entry: bool,
    /// TLS: an `ldaps://` listener on a second port, and StartTLS on the `ldap://` one.
    pub tls: Option<SlapdTls>,
}

impl Default for SlapdOptions {
    fn default() -> Self {
        Self {
            suffix: "dc=authstate,dc=test".to_owned(),
            admin_password: "secret".to_owned(),
            modules: Vec::new(),
            schema: String::new(),
            global_config: String::new(),
            database_config: String::new(),
            without_base_entry: false,
            tls: None,
        }
    }
}

impl SlapdOptions {
    /// What the authstate LDAP backend needs: its schema, the `dds` overlay (one-day
    /// maximum TTL, expiry checks every 10 s), and its indexes.
    pub fn authstate() -> Self {
        Self {
            modules: vec!["dds".to_owned()],
            schema: AUTHSTATE_SCHEMA.to_owned(),
            database_config:
                "index authstateKey,authstateSubject,authstateGrant,authstateClient eq\n\
                 index authstateExpiresAt,authstateLastActivity,authstateCounter eq\n\
                 overlay dds\n\
                 dds-max-ttl 86400\n\
                 dds-interval 10\n"
                    .to_owned(),
            ..Self::default()
        }
    }
}

/// Certificates for slapd's TLS, as PEM text.
#[derive(Debug, Clone)]
pub struct SlapdTls {
    /// The server certificate (with any intermediates).
    pub cert_pem: String,
    /// The server's private key.
    pub key_pem: String,
    /// The CA that signs client certificates (and, usually, the server's).
    pub ca_pem: String,
    /// Ask for a client certificate (`TLSVerifyClient try`): clients that send one can
    /// bind with SASL EXTERNAL; clients without one still connect.
    pub request_client_cert: bool,
}

/// A private `slapd` on `127.0.0.1`, stopped on drop.
///
/// The database lives in its own temporary directory, which outlives [`Slapd::stop`] and
/// [`Slapd::restart`] and is removed when the `Slapd` is dropped.
#[derive(Debug)]
pub struct Slapd {
    server: Option<NativeServer>,
    port: u16,
    ldaps_port: Option<u16>,
    options: SlapdOptions,
    // Dropped last: the database outlives every server process started on it.
    data: TempDir,
}

impl Slapd {
    /// Starts a server with default options.
    pub fn start() -> Result<Self> {
        Self::start_with(SlapdOptions::default())
    }

    /// Starts a server with `options`.
    pub fn start_with(options: SlapdOptions) -> Result<Self> {
        base_dc(&options.suffix)?;
        // Look both up first so a machine without slapd gets the install hint, not a slapadd error.
        SLAPD.locate()?;
        SLAPADD.locate()?;
        let data = tempfile::Builder::new()
            .prefix("authstate-slapd-data-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating the slapd data directory", e))?;
        let mut slapd = Self {
            server: None,
            port: 0,
            ldaps_port: None,
            options,
            data,
        };
        slapd.launch()?;
        Ok(slapd)
    }

    /// Stops the server (SIGKILL, as a crash would) and keeps its data directory.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Stops the server, if it runs, and starts it again on the same data directory.
    /// The ports change: read [`Slapd::url`] again afterwards.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch()
    }

    /// Whether a server process is running.
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    fn launch(&mut self) -> Result<()> {
        let dc = base_dc(&self.options.suffix)?;
        let data = self.data.path().to_path_buf();
        let mut ldaps_port = None;
        let options = &self.options;
        let server = NativeServer::launch(SLAPD).start(
            |dir| configure(dir, options, &dc, &data, &mut ldaps_port),
            root_dse_probe,
        )?;
        self.port = server.port();
        self.ldaps_port = ldaps_port;
        self.server = Some(server);
        Ok(())
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://{}:{}", self.host(), self.port())
    }

    /// `ldaps://127.0.0.1:PORT` when TLS is configured.
    pub fn ldaps_url(&self) -> Option<String> {
        self.ldaps_port
            .map(|p| format!("ldaps://{}:{p}", self.host()))
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        crate::process::LOCALHOST
    }

    /// The `ldap://` port (of the last start).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database suffix, e.g. `dc=authstate,dc=test`.
    pub fn suffix(&self) -> &str {
        &self.options.suffix
    }

    /// The root DN, `cn=admin,<suffix>`.
    pub fn admin_dn(&self) -> String {
        format!("cn=admin,{}", self.options.suffix)
    }

    /// The root DN's password.
    pub fn admin_password(&self) -> &str {
        &self.options.admin_password
    }

    /// The server's stdout and stderr so far (empty when stopped).
    pub fn log(&self) -> String {
        self.server
            .as_ref()
            .map(NativeServer::log)
            .unwrap_or_default()
    }

    /// The running process, if any.
    pub fn native(&self) -> Option<&NativeServer> {
        self.server.as_ref()
    }

    /// The data directory (the `mdb` files).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }
}

fn base_dc(suffix: &str) -> Result<String> {
    let first = suffix.split(',').next().unwrap_or_default().trim();
    match first.split_once('=') {
        Some((attr, value)) if attr.trim().eq_ignore_ascii_case("dc") && !value.is_empty() => {
            Ok(value.trim().to_owned())
        }
        _ => Err(TestkitError::InvalidOptions(format!(
            "slapd suffix {suffix:?} must start with dc=…"
        ))),
    }
}

fn configure(
    dir: &mut ServerDir,
    options: &SlapdOptions,
    dc: &str,
    data: &Path,
    ldaps_port: &mut Option<u16>,
) -> Result<Vec<OsString>> {
    let root = dir.path().display().to_string();
    let extra_schema = dir.write("extra.schema", &options.schema)?;
    let modules: String = std::iter::once("back_mdb")
        .chain(options.modules.iter().map(String::as_str))
        .map(|m| format!("moduleload {m}\n"))
        .collect();
    let mut listen = format!("ldap://127.0.0.1:{}/", dir.port());
    let mut tls_config = String::new();
    *ldaps_port = None;
    if let Some(tls) = &options.tls {
        let cert = dir.write("server.crt", &tls.cert_pem)?;
        let key = dir.write("server.key", &tls.key_pem)?;
        let ca = dir.write("ca.crt", &tls.ca_pem)?;
        let port = dir.free_port()?;
        listen.push_str(&format!(" ldaps://127.0.0.1:{port}/"));
        *ldaps_port = Some(port);
        tls_config = format!(
            "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n\
             TLSVerifyClient {}\n",
            ca.display(),
            cert.display(),
            key.display(),
            if tls.request_client_cert {
                "try"
            } else {
                "never"
            },
        );
    }
    let conf = format!(
        "include {SCHEMA_DIR}/core.schema\n\
         include {SCHEMA_DIR}/cosine.schema\n\
         include {SCHEMA_DIR}/inetorgperson.schema\n\
         include {SCHEMA_DIR}/nis.schema\n\
         include {extra_schema}\n\
         modulepath {MODULE_DIR}\n\
         {modules}\
         pidfile {root}/slapd.pid\n\
         argsfile {root}/slapd.args\n\
         {tls_config}\
         {global_config}\n\
         \n\
         database mdb\n\
         maxsize 1073741824\n\
         suffix \"{suffix}\"\n\
         rootdn \"cn=admin,{suffix}\"\n\
         rootpw {password}\n\
         directory {data}\n\
         {database_config}\n",
        extra_schema = extra_schema.display(),
        global_config = options.global_config,
        suffix = options.suffix,
        password = options.admin_password,
        data = data.display(),
        database_config = options.database_config,
    );
    let conf = dir.write("slapd.conf", conf)?;
    // The base entry is loaded once, into a fresh database; a restart (or a retry on
    // fresh ports) finds it there.
    if !options.without_base_entry && !data.join("data.mdb").exists() {
        let ldif = dir.write(
            "base.ldif",
            format!(
                "dn: {suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: {dc}\no: {dc}\n",
                suffix = options.suffix
            ),
        )?;
        dir.run_tool(
            &SLAPADD,
            &[
                "-f".into(),
                conf.clone().into(),
                "-b".into(),
                options.suffix.clone().into(),
                "-l".into(),
                ldif.into(),
            ],
        )?;
    }
    Ok(vec![
        "-d".into(),
        "0".into(),
        "-h".into(),
        listen.into(),
        "-f".into(),
        conf.into(),
    ])
}

/// Where a file of the authstate schema lives in the source tree (for tools that want
/// a path rather than the text).
pub fn authstate_schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../backend-ldap/schema")
}

/// An anonymous base-scope search of the root DSE (`objectClass=*`), hand-encoded in BER.
const ROOT_DSE_SEARCH: [u8; 39] = [
    0x30, 0x25, // LDAPMessage
    0x02, 0x01, 0x01, // messageID 1
    0x63, 0x20, // SearchRequest
    0x04, 0x00, // baseObject ""
    0x0a, 0x01, 0x00, // scope baseObject
    0x0a, 0x01, 0x00, // derefAliases never
    0x02, 0x01, 0x00, // sizeLimit 0
    0x02, 0x01, 0x00, // timeLimit 0
    0x01, 0x01, 0x00, // typesOnly false
    0x87, 0x0b, b'o', b'b', b'j', b'e', b'c', b't', b'C', b'l', b'a', b's', b's', // present
    0x30, 0x00, // all user attributes
];

/// Readiness: the root DSE search is answered with a search result entry or done message.
pub fn root_dse_probe(addr: SocketAddr) -> io::Result<()> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&ROOT_DSE_SEARCH)?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 512];
    while reply.len() < 16 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&chunk[..n]);
    }
    match search_reply_op(&reply) {
        Some(0x64 | 0x65) => Ok(()),
        _ => Err(io::Error::other(format!(
            "root DSE search answered {reply:02x?}"
        ))),
    }
}

/// The protocol-op tag of an LDAPMessage with messageID 1.
fn search_reply_op(reply: &[u8]) -> Option<u8> {
    let (&first, rest) = reply.split_first()?;
    if first != 0x30 {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    // OpenLDAP uses long-form lengths; only how many bytes to skip matters here.
    let rest = if len & 0x80 == 0 {
        rest
    } else {
        rest.get(usize::from(len & 0x7f)..)?
    };
    match rest {
        [0x02, 0x01, 0x01, op, ..] => Some(*op),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_request_length_fields_match() {
        assert_eq!(usize::from(ROOT_DSE_SEARCH[1]), ROOT_DSE_SEARCH.len() - 2);
        assert_eq!(usize::from(ROOT_DSE_SEARCH[6]), ROOT_DSE_SEARCH.len() - 7);
    }

    #[test]
    fn reads_the_op_tag_in_short_and_long_form() {
        assert_eq!(
            search_reply_op(&[0x30, 0x0c, 0x02, 0x01, 0x01, 0x65, 0x07]),
            Some(0x65)
        );
        assert_eq!(
            search_reply_op(&[0x30, 0x84, 0, 0, 0, 0x30, 0x02, 0x01, 0x01, 0x64, 0x84]),
            Some(0x64)
        );
        assert_eq!(search_reply_op(b"HTTP/1.1 400"), None);
    }

    #[test]
    fn suffix_must_start_with_dc() {
        assert_eq!(
            base_dc("dc=authstate,dc=test").ok().as_deref(),
            Some("authstate")
        );
        assert!(base_dc("o=acme").is_err());
    }
}
