//! OpenLDAP `slapd` as a native process with an `mdb` database holding one base entry.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{Result, TestkitError};
use crate::process::{NativeServer, Program, ServerDir};

/// `slapd`, which Debian installs in `/usr/sbin`.
pub const SLAPD: Program = Program::new("slapd", "slapd ldap-utils").also_in(&["/usr/sbin"]);

/// `slapadd`, used to load the base entry before the server starts.
pub const SLAPADD: Program = Program::new("slapadd", "slapd ldap-utils").also_in(&["/usr/sbin"]);

const SCHEMA_DIR: &str = "/etc/ldap/schema";
const MODULE_DIR: &str = "/usr/lib/ldap";

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
    /// Extra lines at the end of the `mdb` database section (overlays and their settings).
    pub database_config: String,
}

impl Default for SlapdOptions {
    fn default() -> Self {
        Self {
            suffix: "dc=authstate,dc=test".to_owned(),
            admin_password: "secret".to_owned(),
            modules: Vec::new(),
            schema: String::new(),
            database_config: String::new(),
        }
    }
}

/// A private `slapd` on `127.0.0.1`, stopped on drop.
#[derive(Debug)]
pub struct Slapd {
    server: NativeServer,
    options: SlapdOptions,
}

impl Slapd {
    /// Starts a server with default options.
    pub fn start() -> Result<Self> {
        Self::start_with(SlapdOptions::default())
    }

    /// Starts a server with `options`.
    pub fn start_with(options: SlapdOptions) -> Result<Self> {
        let base_rdn_value = base_dc(&options.suffix)?;
        // Look both up first so a machine without slapd gets the install hint, not a slapadd error.
        SLAPD.locate()?;
        SLAPADD.locate()?;
        let server = NativeServer::launch(SLAPD).start(
            |dir| configure(dir, &options, &base_rdn_value),
            root_dse_probe,
        )?;
        Ok(Self { server, options })
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://{}:{}", self.host(), self.port())
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        self.server.host()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.server.port()
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

    /// The server's stdout and stderr so far.
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// The underlying process.
    pub fn native(&self) -> &NativeServer {
        &self.server
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

fn configure(dir: &mut ServerDir, options: &SlapdOptions, dc: &str) -> Result<Vec<OsString>> {
    let root = dir.path().display().to_string();
    let data = dir.create_dir("data")?;
    let extra_schema = dir.write("extra.schema", &options.schema)?;
    let modules: String = std::iter::once("back_mdb")
        .chain(options.modules.iter().map(String::as_str))
        .map(|m| format!("moduleload {m}\n"))
        .collect();
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
         \n\
         database mdb\n\
         maxsize 1073741824\n\
         suffix \"{suffix}\"\n\
         rootdn \"cn=admin,{suffix}\"\n\
         rootpw {password}\n\
         directory {data}\n\
         {database_config}\n",
        extra_schema = extra_schema.display(),
        suffix = options.suffix,
        password = options.admin_password,
        data = data.display(),
        database_config = options.database_config,
    );
    let conf = dir.write("slapd.conf", conf)?;
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
    Ok(vec![
        "-d".into(),
        "0".into(),
        "-h".into(),
        format!("ldap://127.0.0.1:{}/", dir.port()).into(),
        "-f".into(),
        conf.into(),
    ])
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
