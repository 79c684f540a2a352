//! Standalone `redis-server` as a native process, and a raw RESP client for probes and
//! tests that must not depend on a Redis client library.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::Result;
use crate::process::{NativeServer, Program, ServerDir};

/// `redis-server` from the Debian package of the same name.
pub const REDIS_SERVER: Program = Program::new("redis-server", "redis-server");

/// An ACL user created on the command line:
/// `--user NAME on ">PASSWORD" "~KEYS" "&*" "+@all"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclUser {
    /// The user name.
    pub name: String,
    /// The password (sent as `>PASSWORD`).
    pub password: String,
    /// The key pattern the user may touch (sent as `~PATTERN`); `*` for all keys.
    pub key_pattern: String,
}

impl AclUser {
    /// A user with all commands on all keys.
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            password: password.into(),
            key_pattern: "*".to_owned(),
        }
    }

    /// Restricts the user to keys matching `pattern`, e.g. `ns:*`.
    pub fn keys(mut self, pattern: impl Into<String>) -> Self {
        self.key_pattern = pattern.into();
        self
    }

    fn args(&self) -> Vec<String> {
        // redis-server joins its argv into config lines; each rule must be its own argument.
        vec![
            "--user".to_owned(),
            self.name.clone(),
            "on".to_owned(),
            format!(">{}", self.password),
            format!("~{}", self.key_pattern),
            "&*".to_owned(),
            "+@all".to_owned(),
        ]
    }
}

/// How to start a [`RedisServer`].
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// An ACL user to create.
    pub user: Option<AclUser>,
    /// Turns the `default` user off, so every connection must `AUTH` as [`user`](Self::user).
    pub default_user_off: bool,
    /// More `redis-server` arguments, appended last (later arguments win).
    pub extra_args: Vec<String>,
}

/// A private `redis-server` on `127.0.0.1`, persistence off, stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    server: NativeServer,
    options: RedisOptions,
}

impl RedisServer {
    /// Starts a server with default options.
    pub fn start() -> Result<Self> {
        Self::start_with(RedisOptions::default())
    }

    /// Starts a server with `options`.
    pub fn start_with(options: RedisOptions) -> Result<Self> {
        let server = NativeServer::launch(REDIS_SERVER)
            .start(|dir| Ok(redis_args(dir, &options)), ping_probe)?;
        Ok(Self { server, options })
    }

    /// `redis://127.0.0.1:PORT`, no credentials.
    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.host(), self.port())
    }

    /// `redis://USER:PASSWORD@127.0.0.1:PORT` for the configured ACL user, if any.
    pub fn user_url(&self) -> Option<String> {
        self.options.user.as_ref().map(|user| {
            format!(
                "redis://{}:{}@{}:{}",
                percent_encode(&user.name),
                percent_encode(&user.password),
                self.host(),
                self.port()
            )
        })
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        self.server.host()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The options it was started with.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// The server's stdout and stderr so far.
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// The underlying process.
    pub fn native(&self) -> &NativeServer {
        &self.server
    }

    /// Gives up the Redis view, keeping the process.
    pub fn into_native(self) -> NativeServer {
        self.server
    }
}

fn redis_args(dir: &ServerDir, options: &RedisOptions) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--port".into(),
        dir.port().to_string().into(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--daemonize".into(),
        "no".into(),
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
        "--dir".into(),
        dir.path().into(),
    ];
    if let Some(user) = &options.user {
        args.extend(user.args().into_iter().map(OsString::from));
    }
    if options.default_user_off {
        args.extend(["--user", "default", "off"].map(OsString::from));
    }
    args.extend(options.extra_args.iter().map(OsString::from));
    args
}

/// Readiness: `PING` answered with `+PONG`, or `-NOAUTH` (up, but wants a password).
/// `-LOADING` and anything else means not yet.
pub fn ping_probe(addr: SocketAddr) -> io::Result<()> {
    let mut conn = RespConn::connect(addr)?;
    match conn.command(&["PING"])? {
        RespReply::Simple(s) if s == "PONG" => Ok(()),
        RespReply::Error(e) if e.starts_with("NOAUTH") => Ok(()),
        other => Err(io::Error::other(format!("PING answered {other:?}"))),
    }
}

/// A reply in RESP2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespReply {
    /// `+OK`
    Simple(String),
    /// `-ERR …`, without the leading `-`.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`, or `None` for `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n…`, or `None` for `*-1`.
    Array(Option<Vec<RespReply>>),
}

/// A blocking RESP connection over a raw `TcpStream`.
#[derive(Debug)]
pub struct RespConn {
    reader: BufReader<TcpStream>,
}

impl RespConn {
    /// Connects with one-second connect, read and write timeouts.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let timeout = Duration::from_secs(1);
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, args: &[&str]) -> io::Result<RespReply> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&request)?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> io::Result<RespReply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
        let number = || {
            rest.parse::<i64>().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad RESP {line:?}"))
            })
        };
        match kind {
            "+" => Ok(RespReply::Simple(rest.to_owned())),
            "-" => Ok(RespReply::Error(rest.to_owned())),
            ":" => Ok(RespReply::Integer(number()?)),
            "$" => match usize::try_from(number()?) {
                Err(_) => Ok(RespReply::Bulk(None)),
                Ok(len) => {
                    let mut data = vec![0; len + 2];
                    self.reader.read_exact(&mut data)?;
                    data.truncate(len);
                    Ok(RespReply::Bulk(Some(data)))
                }
            },
            "*" => match usize::try_from(number()?) {
                Err(_) => Ok(RespReply::Array(None)),
                Ok(len) => (0..len)
                    .map(|_| self.read_reply())
                    .collect::<io::Result<Vec<_>>>()
                    .map(|items| RespReply::Array(Some(items))),
            },
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a RESP reply: {line:?}"),
            )),
        }
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn percent_encodes_userinfo() {
        assert_eq!(percent_encode("a b@c:d"), "a%20b%40c%3Ad");
        assert_eq!(percent_encode("plain-1.2_x~"), "plain-1.2_x~");
    }
}
