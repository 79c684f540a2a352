//! SQL databases for tests: a fresh database per test run on PostgreSQL and MariaDB, and
//! temporary SQLite files.
//!
//! The server comes from, in this order:
//!
//! 1. `AUTHSTATE_TEST_POSTGRES_URL` / `AUTHSTATE_TEST_MYSQL_URL` (see [`ServerKind`]): a
//!    running server and a user that may create databases; the URL's database is where
//!    the kit connects to create them.
//! 2. The server running on this machine: PostgreSQL on `127.0.0.1:5432` as `postgres`
//!    (trust authentication), MariaDB on `127.0.0.1:3306` as `root` without a password.
//! 3. Otherwise an error that says what to install and start.
//!
//! On that server the kit creates a database `authstate_test_<hours>_<run>` with the
//! command-line client (`psql`, `mariadb`), once per test run: under `cargo nextest`
//! every test process of one run (same `NEXTEST_RUN_ID`) gets the same database, and a
//! plain `cargo test` binary gets its own. Tests keep apart inside it by namespace.
//! Databases of runs older than [`STALE_AFTER_HOURS`] are dropped when a new one is
//! created, so nothing piles up; [`SqlDatabase::drop_database`] drops one at once.
//!
//! ```no_run
//! use authstate_testkit::{postgres_database, require, sqlite_file};
//!
//! let pg = require(postgres_database());
//! let url: &str = pg.url(); // postgres://postgres@127.0.0.1:5432/authstate_test_…
//! let lite = require(sqlite_file());
//! let path = lite.path(); // /tmp/authstate-testkit-sqlite-…/authstate.db
//! # let _ = (url, path);
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use crate::error::{Result, TestkitError};
use crate::process::{NativeServer, Program};
use crate::provider::{Origin, ServerKind, env_lookup, external_url};

/// Test databases older than this many hours are dropped when a new one is created.
pub const STALE_AFTER_HOURS: u64 = 6;

/// The prefix of every database the kit creates.
pub const DATABASE_PREFIX: &str = "authstate_test_";

const PSQL: Program = Program::new("psql", "postgresql-client")
    .also_in(&["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"]);
const MARIADB: Program = Program::new("mariadb", "mariadb-client");
const MYSQL: Program = Program::new("mysql", "mariadb-client");

const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const LOCAL_MARIADB: &str = "mysql://root@127.0.0.1:3306/mysql";

/// A database created for this test run on a PostgreSQL or MariaDB server. `Debug`
/// leaves the password out.
#[derive(Clone)]
pub struct SqlDatabase {
    kind: ServerKind,
    origin: Origin,
    name: String,
    url: String,
    admin: ServerUrl,
}

impl std::fmt::Debug for SqlDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlDatabase")
            .field("kind", &self.kind)
            .field("origin", &self.origin)
            .field("name", &self.name)
            .field("server", &self.admin)
            .finish_non_exhaustive()
    }
}

impl SqlDatabase {
    /// The URL of the test database (with the server's user and password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name, `authstate_test_…`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// PostgreSQL or MariaDB.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// Where the server came from: [`Origin::External`] for a URL from the environment,
    /// [`Origin::Native`] for the server running on this machine.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// `host:port` of the server.
    pub fn server_addr(&self) -> String {
        format!("{}:{}", self.admin.host, self.admin.port)
    }

    /// The URL of the same server and database as another user (for tests of a wrong
    /// password): the server's scheme, host and port, `user:password`, this database.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        ServerUrl {
            user: user.to_owned(),
            password: Some(password.to_owned()),
            database: self.name.clone(),
            ..self.admin.clone()
        }
        .to_url()
    }

    /// Runs SQL on the server as the kit's admin user, in this database. For tests that
    /// need a user or a grant set up.
    pub fn admin_sql(&self, sql: &str) -> Result<String> {
        let mut in_db = self.admin.clone();
        in_db.database = self.name.clone();
        run_client(self.kind, &in_db, sql)
    }

    /// Drops the database now (tests that made their own).
    pub fn drop_database(&self) -> Result<()> {
        drop_database(self.kind, &self.admin, &self.name)
    }
}

/// A PostgreSQL database for this test run: `AUTHSTATE_TEST_POSTGRES_URL`, else the
/// server on `127.0.0.1:5432`.
pub fn postgres_database() -> Result<SqlDatabase> {
    database_with(ServerKind::Postgres, env_lookup)
}

/// A MariaDB database for this test run: `AUTHSTATE_TEST_MYSQL_URL`, else the server on
/// `127.0.0.1:3306`.
pub fn mysql_database() -> Result<SqlDatabase> {
    database_with(ServerKind::Mysql, env_lookup)
}

/// [`postgres_database`] or [`mysql_database`] with the environment read through
/// `lookup`.
pub fn database_with(
    kind: ServerKind,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<SqlDatabase> {
    let (origin, admin) = server(kind, &lookup)?;
    let name = run_database_name(&lookup);
    create_database(kind, &admin, &name)?;
    // Best effort: a failure to clean up old runs must not fail this one.
    if let Err(e) = drop_stale(kind, &admin, &name) {
        eprintln!("authstate-testkit: could not drop stale test databases: {e}");
    }
    let mut url = admin.clone();
    url.database = name.clone();
    Ok(SqlDatabase {
        kind,
        origin,
        url: url.to_url(),
        name,
        admin,
    })
}

/// The server to use for `kind`, and where it came from.
fn server(
    kind: ServerKind,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(Origin, ServerUrl)> {
    if let Some(url) = external_url(kind, lookup)? {
        let parsed = ServerUrl::parse(&url).ok_or_else(|| TestkitError::BadExternalUrl {
            var: kind.env_var().to_owned(),
            value: url.clone(),
            expected: "scheme://user[:password]@host[:port]/database".to_owned(),
        })?;
        return Ok((Origin::External, parsed));
    }
    let (local, install, start) = match kind {
        ServerKind::Postgres => (
            LOCAL_POSTGRES,
            "apt-get install -y postgresql",
            "service postgresql start",
        ),
        ServerKind::Mysql => (
            LOCAL_MARIADB,
            "apt-get install -y mariadb-server",
            "service mariadb start",
        ),
        other => {
            return Err(TestkitError::InvalidOptions(format!(
                "{other:?} is not an SQL server kind"
            )));
        }
    };
    let admin = ServerUrl::parse(local).ok_or_else(|| {
        TestkitError::InvalidOptions(format!("the built-in URL {local} does not parse"))
    })?;
    let addr = format!("{}:{}", admin.host, admin.port);
    if let Err(e) = reachable(&addr) {
        return Err(TestkitError::io(
            format!(
                "no {} server answers on {addr} and {} is unset: install and start one \
                 (`{install} && {start}`), or point {} at a running server",
                kind_name(kind),
                kind.env_var(),
                kind.env_var()
            ),
            e,
        ));
    }
    Ok((Origin::Native, admin))
}

fn kind_name(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Postgres => "PostgreSQL",
        ServerKind::Mysql => "MariaDB",
        ServerKind::Redis => "Redis",
        ServerKind::Ldap => "LDAP",
    }
}

fn reachable(addr: &str) -> io::Result<()> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn hours_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 3600)
        .unwrap_or(0)
}

/// `authstate_test_<hours since the epoch>_<8 hex>`: the hex part comes from
/// `NEXTEST_RUN_ID` (one database per nextest run), else is random (one per process).
pub fn run_database_name(lookup: &impl Fn(&str) -> Option<String>) -> String {
    let id = match lookup("NEXTEST_RUN_ID").filter(|v| !v.trim().is_empty()) {
        Some(run) => {
            let hex: String = run.chars().filter(char::is_ascii_hexdigit).collect();
            let mut hex = hex.to_ascii_lowercase();
            hex.truncate(8);
            hex
        }
        None => {
            let mut h = RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            format!("{:08x}", h.finish() as u32)
        }
    };
    format!("{DATABASE_PREFIX}{}_{id}", hours_now())
}

/// The hour stamp of a kit-made database name.
fn stamp(name: &str) -> Option<u64> {
    name.strip_prefix(DATABASE_PREFIX)?
        .split('_')
        .next()?
        .parse()
        .ok()
}

/// A name the kit made (so it is safe to put in SQL unquoted inside quotes).
fn is_kit_name(name: &str) -> bool {
    name.starts_with(DATABASE_PREFIX)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn create_database(kind: ServerKind, admin: &ServerUrl, name: &str) -> Result<()> {
    if !is_kit_name(name) {
        return Err(TestkitError::InvalidOptions(format!(
            "{name:?} is not a test database name"
        )));
    }
    match kind {
        ServerKind::Mysql => {
            run_client(
                kind,
                admin,
                &format!("CREATE DATABASE IF NOT EXISTS `{name}`"),
            )?;
            Ok(())
        }
        _ => {
            // PostgreSQL has no CREATE DATABASE IF NOT EXISTS; test processes of one
            // run race to create it, and the loser's error is fine once it exists.
            if postgres_has(admin, name)? {
                return Ok(());
            }
            match run_client(kind, admin, &format!("CREATE DATABASE \"{name}\"")) {
                Ok(_) => Ok(()),
                Err(e) => {
                    if postgres_has(admin, name)? {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
            }
        }
    }
}

fn postgres_has(admin: &ServerUrl, name: &str) -> Result<bool> {
    let out = run_client(
        ServerKind::Postgres,
        admin,
        &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
    )?;
    Ok(out.trim() == "1")
}

fn drop_database(kind: ServerKind, admin: &ServerUrl, name: &str) -> Result<()> {
    if !is_kit_name(name) {
        return Err(TestkitError::InvalidOptions(format!(
            "{name:?} is not a test database name"
        )));
    }
    let sql = match kind {
        ServerKind::Mysql => format!("DROP DATABASE IF EXISTS `{name}`"),
        _ => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    };
    run_client(kind, admin, &sql).map(drop)
}

/// Drops kit-made databases older than [`STALE_AFTER_HOURS`], except `keep`.
fn drop_stale(kind: ServerKind, admin: &ServerUrl, keep: &str) -> Result<()> {
    let list = match kind {
        ServerKind::Mysql => run_client(kind, admin, "SHOW DATABASES LIKE 'authstate\\_test\\_%'")?,
        _ => run_client(
            kind,
            admin,
            "SELECT datname FROM pg_database WHERE datname LIKE 'authstate\\_test\\_%'",
        )?,
    };
    let now = hours_now();
    for name in list.lines().map(str::trim) {
        if name == keep || !is_kit_name(name) {
            continue;
        }
        if stamp(name).is_some_and(|h| h + STALE_AFTER_HOURS < now) {
            drop_database(kind, admin, name)?;
        }
    }
    Ok(())
}

/// Runs one SQL statement with the command-line client; returns its unaligned output.
fn run_client(kind: ServerKind, server: &ServerUrl, sql: &str) -> Result<String> {
    let mut command;
    let shown;
    match kind {
        ServerKind::Mysql => {
            let exe = MARIADB.locate().or_else(|_| MYSQL.locate())?;
            command = Command::new(&exe);
            command
                .arg("--batch")
                .arg("--skip-column-names")
                .arg("--connect-timeout=5")
                .arg(format!("--host={}", server.host))
                .arg(format!("--port={}", server.port))
                .arg(format!("--user={}", server.user));
            if !server.database.is_empty() {
                command.arg(format!("--database={}", server.database));
            }
            // The password goes through the environment, never the command line.
            command.env("MYSQL_PWD", server.password.as_deref().unwrap_or(""));
            command.arg("--execute").arg(sql);
            shown = format!("{} --execute {sql:?}", exe.display());
        }
        _ => {
            let exe = PSQL.locate()?;
            command = Command::new(&exe);
            let mut no_password = server.clone();
            no_password.password = None;
            command
                .arg("--no-psqlrc")
                .arg("--tuples-only")
                .arg("--no-align")
                .arg("--set=ON_ERROR_STOP=1")
                .arg("--dbname")
                .arg(no_password.to_url())
                .arg("--command")
                .arg(sql)
                .env("PGCONNECT_TIMEOUT", "5");
            if let Some(pw) = &server.password {
                command.env("PGPASSWORD", pw);
            }
            shown = format!("{} --command {sql:?}", exe.display());
        }
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestkitError::io(format!("running `{shown}`"), e))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(TestkitError::ToolFailed {
        command: shown,
        status: output.status.to_string(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// A server URL taken apart: `scheme://user[:password]@host[:port]/database`.
#[derive(Clone, PartialEq, Eq)]
struct ServerUrl {
    scheme: String,
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    database: String,
    query: String,
}

impl std::fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerUrl")
            .field("scheme", &self.scheme)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .finish()
    }
}

impl ServerUrl {
    fn parse(url: &str) -> Option<ServerUrl> {
        let (scheme, rest) = url.split_once("://")?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, q.to_owned()),
            None => (rest, String::new()),
        };
        let (authority, database) = match rest.split_once('/') {
            Some((a, d)) => (a, decode(d)),
            None => (rest, String::new()),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (decode(user), Some(decode(pw))),
                None => (decode(u), None),
            },
            None => (String::new(), None),
        };
        let default_port = if scheme.starts_with("postgres") {
            5432
        } else {
            3306
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h.to_owned(), p.parse().ok()?)
            }
            _ => (hostport.to_owned(), default_port),
        };
        if host.is_empty() {
            return None;
        }
        Some(ServerUrl {
            scheme: scheme.to_owned(),
            user,
            password,
            host,
            port,
            database,
            query,
        })
    }

    fn to_url(&self) -> String {
        let auth = match (&self.password, self.user.is_empty()) {
            (Some(pw), _) => format!("{}:{}@", encode(&self.user), encode(pw)),
            (None, false) => format!("{}@", encode(&self.user)),
            (None, true) => String::new(),
        };
        let query = if self.query.is_empty() {
            String::new()
        } else {
            format!("?{}", self.query)
        };
        format!(
            "{}://{auth}{}:{}/{}{query}",
            self.scheme,
            self.host,
            self.port,
            encode(&self.database)
        )
    }
}

/// Percent-decodes a URL part (invalid escapes are kept as they are).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A private PostgreSQL server on a free `127.0.0.1` port with password (SCRAM)
/// authentication, stopped on drop: for tests that need what the shared server (trust
/// authentication) cannot show, such as a wrong password being refused.
///
/// PostgreSQL refuses to run as root: when the tests run as root, `initdb` and `postgres`
/// run as the `postgres` user through `setpriv` (which `exec`s, so the server is the
/// process the kit stops). `Debug` leaves the password out.
pub struct PostgresServer {
    server: NativeServer,
    user: String,
    password: String,
}

const POSTGRES: Program = Program::new("postgres", "postgresql").also_in(POSTGRES_DIRS);
const INITDB: Program = Program::new("initdb", "postgresql").also_in(POSTGRES_DIRS);
const PG_ISREADY: Program = Program::new("pg_isready", "postgresql-client").also_in(POSTGRES_DIRS);
const SETPRIV: Program = Program::new("setpriv", "util-linux");
const POSTGRES_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("port", &self.server.port())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl PostgresServer {
    /// Starts a server whose superuser `user` logs in with `password`.
    pub fn start(user: &str, password: &str) -> Result<Self> {
        let postgres = POSTGRES.locate()?;
        let initdb = INITDB.locate()?;
        let probe_exe = PG_ISREADY.locate()?;
        let as_root = running_as_root()?;
        let ids = if as_root { Some(postgres_ids()?) } else { None };
        let program = if as_root { SETPRIV } else { POSTGRES };
        let server = NativeServer::launch(program)
            .ready_timeout(Duration::from_secs(30))
            .start(
                |dir| {
                    let data = dir.path().join("data");
                    let pwfile = dir.write("pwfile", format!("{password}\n"))?;
                    std::fs::create_dir(&data)
                        .map_err(|e| TestkitError::io(format!("creating {}", data.display()), e))?;
                    let mut prefix: Vec<std::ffi::OsString> = Vec::new();
                    if let Some((uid, gid)) = ids {
                        use std::os::unix::fs::PermissionsExt as _;
                        std::fs::set_permissions(
                            dir.path(),
                            std::fs::Permissions::from_mode(0o755),
                        )
                        .map_err(|e| TestkitError::io("opening the server directory", e))?;
                        for path in [&data, &pwfile] {
                            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
                                TestkitError::io(format!("chown {}", path.display()), e)
                            })?;
                        }
                        prefix = vec![
                            format!("--reuid={uid}").into(),
                            format!("--regid={gid}").into(),
                            "--clear-groups".into(),
                            "--".into(),
                        ];
                    }
                    let mut init = prefix.clone();
                    init.push(initdb.clone().into());
                    for a in [
                        "--no-sync",
                        "--encoding=UTF8",
                        "--auth=scram-sha-256",
                        "--username",
                        user,
                        "--pgdata",
                    ] {
                        init.push(a.into());
                    }
                    init.push(data.clone().into());
                    init.push(format!("--pwfile={}", pwfile.display()).into());
                    if as_root {
                        dir.run_tool(&SETPRIV, &init)?;
                    } else {
                        dir.run_tool(&INITDB, &init)?;
                    }
                    let mut args = prefix;
                    if as_root {
                        args.push(postgres.clone().into());
                    }
                    args.push("-D".into());
                    args.push(data.into());
                    args.push("-p".into());
                    args.push(dir.port().to_string().into());
                    for setting in [
                        "listen_addresses=127.0.0.1",
                        "unix_socket_directories=",
                        "fsync=off",
                        "max_connections=50",
                    ] {
                        args.push("-c".into());
                        args.push(setting.into());
                    }
                    Ok(args)
                },
                |addr| {
                    let status = Command::new(&probe_exe)
                        .arg("--quiet")
                        .arg(format!("--host={}", addr.ip()))
                        .arg(format!("--port={}", addr.port()))
                        .stdin(Stdio::null())
                        .status()?;
                    if status.success() {
                        Ok(())
                    } else {
                        Err(io::Error::other(format!("pg_isready: {status}")))
                    }
                },
            )?;
        Ok(PostgresServer {
            server,
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    /// `postgres://user:password@127.0.0.1:port/postgres`.
    pub fn url(&self) -> String {
        self.url_with_password(&self.password)
    }

    /// The URL with another password (a wrong one, for tests).
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/postgres",
            encode(&self.user),
            encode(password),
            self.server.port()
        )
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The process (for its log).
    pub fn native(&self) -> &NativeServer {
        &self.server
    }
}

/// Whether this process runs as root: the owner of a directory it creates says so.
fn running_as_root() -> Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let probe = tempfile::Builder::new()
        .prefix("authstate-testkit-whoami-")
        .tempdir()
        .map_err(|e| TestkitError::io("creating a temporary directory", e))?;
    let meta = std::fs::metadata(probe.path())
        .map_err(|e| TestkitError::io("reading a temporary directory", e))?;
    Ok(meta.uid() == 0)
}

/// The `postgres` user's uid and gid, from `/etc/passwd`.
fn postgres_ids() -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| TestkitError::io("reading /etc/passwd", e))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .ok_or_else(|| TestkitError::NotInstalled {
            program: "the postgres user".to_owned(),
            packages: "postgresql".to_owned(),
            also_searched: " (PostgreSQL refuses to run as root; the kit runs it as \
                            `postgres`)"
                .to_owned(),
        })
}

/// A temporary SQLite database file, removed with its directory on drop.
#[derive(Debug)]
pub struct SqliteFile {
    dir: TempDir,
    path: PathBuf,
}

impl SqliteFile {
    /// The database file (it does not exist until a client creates it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `sqlite://<path>`.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// The temporary directory holding the file and its WAL.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A fresh temporary SQLite file path.
pub fn sqlite_file() -> Result<SqliteFile> {
    let dir = tempfile::Builder::new()
        .prefix("authstate-testkit-sqlite-")
        .tempdir()
        .map_err(|e| TestkitError::io("creating a temporary directory for SQLite", e))?;
    let path = dir.path().join("authstate.db");
    Ok(SqliteFile { dir, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_print() {
        let u = ServerUrl::parse("postgres://idp:p%40ss@db.example:6432/admin?sslmode=require")
            .expect("parses");
        assert_eq!(u.user, "idp");
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!((u.host.as_str(), u.port), ("db.example", 6432));
        assert_eq!(u.database, "admin");
        assert_eq!(
            u.to_url(),
            "postgres://idp:p%40ss@db.example:6432/admin?sslmode=require"
        );
        assert!(!format!("{u:?}").contains("p@ss"));
        let m = ServerUrl::parse("mysql://root@127.0.0.1/").expect("parses");
        assert_eq!((m.port, m.database.as_str()), (3306, ""));
        assert!(ServerUrl::parse("not a url").is_none());
    }

    #[test]
    fn names_carry_the_run_and_the_hour() {
        let lookup = |v: &str| {
            (v == "NEXTEST_RUN_ID").then(|| "9F3A1B2C-0000-4000-8000-000000000000".to_owned())
        };
        let name = run_database_name(&lookup);
        assert!(name.ends_with("_9f3a1b2c"), "{name}");
        assert!(is_kit_name(&name), "{name}");
        assert_eq!(stamp(&name), Some(hours_now()));
        let a = run_database_name(&|_: &str| None);
        assert!(is_kit_name(&a), "{a}");
        assert!(!is_kit_name("authstate_test_1; DROP"));
    }
}
