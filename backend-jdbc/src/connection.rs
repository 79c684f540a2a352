//! One handle over the three sqlx pools, with the few things every store does with it:
//! run a prepared statement with arguments, read columns back, and hold one connection
//! for a transaction.
//!
//! The stores never see sqlx's database types: a statement is a [`Stmt`], its arguments
//! are [`Arg`]s (integers and byte strings are all this schema stores), and a result row
//! is a [`Row`] read by column index. Each call dispatches once on the pool's variant.

use std::time::Duration;

use authstate_core::{Error, Result};
use sqlx::{AssertSqlSafe, Row as _};

use crate::dialect::{Dialect, Stmt};
use crate::error::map;

#[cfg(feature = "mysql")]
use sqlx::MySql;
#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;

/// An argument of a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// A BIGINT (milliseconds, versions, counters).
    Int(i64),
    /// A nullable BIGINT.
    OptInt(Option<i64>),
    /// A byte string (keyed hashes, sealed records, lease holders).
    Bytes(&'a [u8]),
    /// A nullable byte string.
    OptBytes(Option<&'a [u8]>),
}

/// The pool of one backend.
#[derive(Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// A row of a result, read by column index.
pub(crate) enum Row {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::postgres::PgRow),
    #[cfg(feature = "mysql")]
    MySql(sqlx::mysql::MySqlRow),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::sqlite::SqliteRow),
}

/// A connection held for several statements: in a transaction, or (for MariaDB's
/// migration lock, which is per session) just held.
pub(crate) enum Held {
    #[cfg(feature = "postgres")]
    Postgres(Conn<Postgres>),
    #[cfg(feature = "mysql")]
    MySql(Conn<MySql>),
    #[cfg(feature = "sqlite")]
    Sqlite(Conn<Sqlite>),
}

/// A transaction, or a plain pooled connection.
pub(crate) enum Conn<DB: sqlx::Database> {
    Tx(sqlx::Transaction<'static, DB>),
    Plain(sqlx::pool::PoolConnection<DB>),
}

impl<DB: sqlx::Database> Conn<DB> {
    fn get(&mut self) -> &mut DB::Connection {
        match self {
            Conn::Tx(tx) => tx,
            Conn::Plain(c) => c,
        }
    }
}

/// Builds a query from a statement and binds its arguments in the dialect's order.
/// A placeholder whose argument is missing is an error, never a panic.
macro_rules! query {
    ($db:ty, $stmt:expr, $args:expr) => {{
        let stmt: &Stmt = $stmt;
        let args: &[Arg<'_>] = $args;
        let mut q = sqlx::query::<$db>(AssertSqlSafe(stmt.sql().clone()));
        let mut missing = false;
        let mut ordered: Vec<&Arg<'_>> = Vec::with_capacity(args.len());
        match stmt.order() {
            Some(order) => {
                for &i in order {
                    match args.get(i) {
                        Some(a) => ordered.push(a),
                        None => missing = true,
                    }
                }
            }
            None => ordered.extend(args.iter()),
        }
        for a in ordered {
            q = match *a {
                Arg::Int(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
                Arg::OptBytes(v) => q.bind(v),
            };
        }
        if missing {
            Err(sqlx::Error::InvalidArgument(
                "a statement placeholder has no argument".to_string(),
            ))
        } else {
            Ok(q)
        }
    }};
}

/// Runs `$body` with `$exec` bound to the executor of each variant of `$self`
/// (a [`Pool`] or the connection of a [`Held`]) and `$row` to the matching [`Row`]
/// constructor.
macro_rules! dispatch {
    ($self:expr, pool, |$db:ident, $exec:ident, $row:ident| $body:expr) => {
        match $self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                type $db = Postgres;
                let $exec = p;
                let $row = Row::Postgres;
                $body
            }
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => {
                type $db = MySql;
                let $exec = p;
                let $row = Row::MySql;
                $body
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => {
                type $db = Sqlite;
                let $exec = p;
                let $row = Row::Sqlite;
                $body
            }
        }
    };
    ($self:expr, held, |$db:ident, $exec:ident, $row:ident| $body:expr) => {
        match $self {
            #[cfg(feature = "postgres")]
            Held::Postgres(c) => {
                type $db = Postgres;
                let $exec = c.get();
                let $row = Row::Postgres;
                $body
            }
            #[cfg(feature = "mysql")]
            Held::MySql(c) => {
                type $db = MySql;
                let $exec = c.get();
                let $row = Row::MySql;
                $body
            }
            #[cfg(feature = "sqlite")]
            Held::Sqlite(c) => {
                type $db = Sqlite;
                let $exec = c.get();
                let $row = Row::Sqlite;
                $body
            }
        }
    };
}

/// The pool with its dialect: what every store holds.
#[derive(Clone)]
pub(crate) struct Db {
    pub pool: Pool,
    pub dialect: Dialect,
    /// [`crate::SqlConfig::purge_duty_cycle`], checked.
    pub purge_duty_cycle: f64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

impl Db {
    pub(crate) fn err(&self, e: sqlx::Error) -> Error {
        map(self.dialect, e)
    }

    /// Runs a statement; returns the rows it affected (MariaDB: the rows it matched).
    pub async fn execute(&self, stmt: &Stmt, args: &[Arg<'_>]) -> Result<u64> {
        self.try_execute(stmt, args).await.map_err(|e| self.err(e))
    }

    /// [`Db::execute`], keeping sqlx's error so the caller can look at it (a unique
    /// violation that means "already exists").
    pub async fn try_execute(
        &self,
        stmt: &Stmt,
        args: &[Arg<'_>],
    ) -> std::result::Result<u64, sqlx::Error> {
        dispatch!(&self.pool, pool, |D, exec, _row| {
            Ok(query!(D, stmt, args)?.execute(exec).await?.rows_affected())
        })
    }

    /// Runs a statement and returns every row.
    pub async fn fetch_all(&self, stmt: &Stmt, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let rows = dispatch!(&self.pool, pool, |D, exec, row| {
            match query!(D, stmt, args) {
                Ok(q) => q
                    .fetch_all(exec)
                    .await
                    .map(|rows| rows.into_iter().map(row).collect::<Vec<_>>()),
                Err(e) => Err(e),
            }
        });
        rows.map_err(|e| self.err(e))
    }

    /// Runs a statement and returns its first row, if any.
    pub async fn fetch_optional(&self, stmt: &Stmt, args: &[Arg<'_>]) -> Result<Option<Row>> {
        let row = dispatch!(&self.pool, pool, |D, exec, row| {
            match query!(D, stmt, args) {
                Ok(q) => q.fetch_optional(exec).await.map(|r| r.map(row)),
                Err(e) => Err(e),
            }
        });
        row.map_err(|e| self.err(e))
    }

    /// Starts a transaction on one connection. SQLite's starts with `BEGIN IMMEDIATE`,
    /// so that it holds the write lock from the start: two deferred transactions that
    /// both read and then write would otherwise deadlock on the upgrade.
    pub async fn begin(&self) -> Result<Txn> {
        let held = match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.begin().await.map(|t| Held::Postgres(Conn::Tx(t))),
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => p.begin().await.map(|t| Held::MySql(Conn::Tx(t))),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map(|t| Held::Sqlite(Conn::Tx(t))),
        };
        Ok(Txn {
            held: held.map_err(|e| self.err(e))?,
            dialect: self.dialect,
        })
    }

    /// Holds one connection without starting a transaction.
    pub async fn hold(&self) -> Result<Txn> {
        let held = match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.acquire().await.map(|c| Held::Postgres(Conn::Plain(c))),
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => p.acquire().await.map(|c| Held::MySql(Conn::Plain(c))),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.acquire().await.map(|c| Held::Sqlite(Conn::Plain(c))),
        };
        Ok(Txn {
            held: held.map_err(|e| self.err(e))?,
            dialect: self.dialect,
        })
    }

    /// Closes the pool: waits for connections in use to come back and closes them all.
    pub async fn close(&self) {
        dispatch!(&self.pool, pool, |_D, p, _row| p.close().await)
    }

    /// Whether the pool has been closed.
    pub fn is_closed(&self) -> bool {
        dispatch!(&self.pool, pool, |_D, p, _row| p.is_closed())
    }
}

/// A held connection, usually in a transaction. Dropped without [`Txn::commit`], the
/// transaction is rolled back (sqlx queues the rollback for the connection's next use,
/// before it is handed out again).
pub(crate) struct Txn {
    held: Held,
    dialect: Dialect,
}

impl Txn {
    fn err(&self, e: sqlx::Error) -> Error {
        map(self.dialect, e)
    }

    /// As [`Db::execute`], on this connection.
    pub async fn execute(&mut self, stmt: &Stmt, args: &[Arg<'_>]) -> Result<u64> {
        self.try_execute(stmt, args)
            .await
            .map_err(|e| map(self.dialect, e))
    }

    /// As [`Db::try_execute`], on this connection.
    pub async fn try_execute(
        &mut self,
        stmt: &Stmt,
        args: &[Arg<'_>],
    ) -> std::result::Result<u64, sqlx::Error> {
        dispatch!(&mut self.held, held, |D, exec, _row| {
            Ok(query!(D, stmt, args)?.execute(exec).await?.rows_affected())
        })
    }

    /// As [`Db::fetch_all`], on this connection.
    pub async fn fetch_all(&mut self, stmt: &Stmt, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let rows = dispatch!(&mut self.held, held, |D, exec, row| {
            match query!(D, stmt, args) {
                Ok(q) => q
                    .fetch_all(exec)
                    .await
                    .map(|rows| rows.into_iter().map(row).collect::<Vec<_>>()),
                Err(e) => Err(e),
            }
        });
        rows.map_err(|e| self.err(e))
    }

    /// As [`Db::fetch_optional`], on this connection.
    pub async fn fetch_optional(&mut self, stmt: &Stmt, args: &[Arg<'_>]) -> Result<Option<Row>> {
        let row = dispatch!(&mut self.held, held, |D, exec, row| {
            match query!(D, stmt, args) {
                Ok(q) => q.fetch_optional(exec).await.map(|r| r.map(row)),
                Err(e) => Err(e),
            }
        });
        row.map_err(|e| self.err(e))
    }

    /// As [`Db::run_raw`], on this connection.
    pub async fn run_raw(&mut self, sql: String) -> Result<()> {
        let r = dispatch!(&mut self.held, held, |_D, exec, _row| {
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(exec)
                .await
                .map(|_| ())
        });
        r.map_err(|e| self.err(e))
    }

    /// Commits (a no-op for a connection held without a transaction).
    pub async fn commit(self) -> Result<()> {
        let dialect = self.dialect;
        let r = match self.held {
            #[cfg(feature = "postgres")]
            Held::Postgres(Conn::Tx(t)) => t.commit().await,
            #[cfg(feature = "mysql")]
            Held::MySql(Conn::Tx(t)) => t.commit().await,
            #[cfg(feature = "sqlite")]
            Held::Sqlite(Conn::Tx(t)) => t.commit().await,
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        };
        r.map_err(|e| map(dialect, e))
    }
}

/// Reads a column, saying which one did not decode.
macro_rules! column {
    ($self:expr, $idx:expr, $ty:ty) => {{
        let r: std::result::Result<$ty, sqlx::Error> = match $self {
            #[cfg(feature = "postgres")]
            Row::Postgres(r) => r.try_get::<$ty, usize>($idx),
            #[cfg(feature = "mysql")]
            Row::MySql(r) => r.try_get::<$ty, usize>($idx),
            #[cfg(feature = "sqlite")]
            Row::Sqlite(r) => r.try_get::<$ty, usize>($idx),
        };
        r.map_err(|e| {
            Error::unexpected(
                $self.dialect().name(),
                format!("result column {} did not decode: {e}", $idx),
            )
            .with_source(e)
        })
    }};
}

impl Row {
    fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "postgres")]
            Row::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Row::MySql(_) => Dialect::MySql,
            #[cfg(feature = "sqlite")]
            Row::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// A BIGINT column.
    pub fn int(&self, idx: usize) -> Result<i64> {
        column!(self, idx, i64)
    }

    /// A nullable BIGINT column.
    pub fn opt_int(&self, idx: usize) -> Result<Option<i64>> {
        column!(self, idx, Option<i64>)
    }

    /// A byte-string column.
    pub fn bytes(&self, idx: usize) -> Result<Vec<u8>> {
        column!(self, idx, Vec<u8>)
    }

    /// A nullable byte-string column.
    pub fn opt_bytes(&self, idx: usize) -> Result<Option<Vec<u8>>> {
        column!(self, idx, Option<Vec<u8>>)
    }

    /// A 32-byte keyed hash column.
    pub fn hash(&self, idx: usize) -> Result<[u8; 32]> {
        let bytes = self.bytes(idx)?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            crate::error::corrupt(
                self.dialect(),
                format!(
                    "a stored key is {} bytes, not the 32 of a keyed hash",
                    bytes.len()
                ),
            )
        })
    }
}

/// How often an operation that a deadlock or serialization failure rolled back is run
/// again before the error is returned.
pub(crate) const TRANSIENT_ATTEMPTS: u32 = 8;

/// The pause before attempt `n` (1-based) of a rolled-back operation: a few milliseconds,
/// growing, with the attempt number spreading racing callers apart.
pub(crate) fn transient_backoff(attempt: u32) -> Duration {
    Duration::from_millis(u64::from(attempt) * 3 + (u64::from(attempt) * 7) % 5)
}

/// Runs an async block again when the database rolled it back because of a deadlock,
/// a serialization failure or a lock wait timeout. Only those are retried: they
/// guarantee the whole statement or transaction had no effect, so running it again
/// cannot apply anything twice. Connection errors are not retried (a lost commit
/// acknowledgement could hide an effect).
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $body {
                Err(e)
                    if crate::error::is_transient(&e)
                        && attempt + 1 < crate::connection::TRANSIENT_ATTEMPTS =>
                {
                    attempt += 1;
                    tokio::time::sleep(crate::connection::transient_backoff(attempt)).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use retrying;

/// What [`connect`] opened.
pub(crate) struct Connected {
    pub db: Db,
    /// An SQLite database that lives only in this pool (`:memory:`).
    pub in_memory: bool,
}

/// An error while opening the first connection, saying where to.
fn connect_error(dialect: Dialect, target: &str, e: sqlx::Error) -> Error {
    let mapped = map(dialect, e);
    Error::new(
        mapped.kind(),
        dialect.name(),
        format!("cannot connect to {target}: {}", mapped.message()),
    )
    .with_source(mapped)
}

/// Opens one connection within the acquire timeout, so that a wrong password or an
/// unreachable server is reported as what it is (the pool would only time out).
macro_rules! probe {
    ($conn:ty, $opts:expr, $config:expr, $dialect:expr, $target:expr) => {{
        use sqlx::Connection as _;
        let timeout = $config.acquire_timeout;
        match tokio::time::timeout(timeout, <$conn>::connect_with($opts)).await {
            Err(_) => {
                return Err(Error::unavailable(
                    $dialect.name(),
                    format!(
                        "cannot connect to {}: no answer within {timeout:?}",
                        $target
                    ),
                ));
            }
            Ok(Err(e)) => return Err(connect_error($dialect, &$target, e)),
            Ok(Ok(conn)) => conn,
        }
    }};
}

fn config_error(dialect: Dialect, what: &str, e: sqlx::Error) -> Error {
    Error::config(dialect.name(), format!("{what}: {e}")).with_source(e)
}

/// Connects as `config` says.
pub(crate) async fn connect(config: &crate::config::SqlConfig) -> Result<Connected> {
    let dialect = config.resolve_dialect()?;
    if config.max_connections == 0 {
        return Err(Error::config(
            dialect.name(),
            "max_connections is 0: the pool could never hand out a connection",
        ));
    }
    let duty = config.purge_duty_cycle;
    if !(duty > 0.0 && duty <= 1.0) {
        return Err(Error::config(
            dialect.name(),
            format!(
                "purge_duty_cycle is {duty}: it is the share of a purge's time spent \
                 deleting, above 0 and at most 1 (1: no pauses)"
            ),
        ));
    }
    match dialect {
        #[cfg(feature = "postgres")]
        Dialect::Postgres => connect_postgres(config).await,
        #[cfg(feature = "mysql")]
        Dialect::MySql => connect_mysql(config).await,
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => connect_sqlite(config).await,
        #[allow(unreachable_patterns)]
        other => Err(Error::config(
            other.name(),
            format!("this build of authstate has no {other} support: enable the `{other}` feature"),
        )),
    }
}

#[cfg(feature = "postgres")]
async fn connect_postgres(config: &crate::config::SqlConfig) -> Result<Connected> {
    use std::str::FromStr as _;

    use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgSslMode};

    use crate::config::TlsMode;

    let d = Dialect::Postgres;
    let mut opts = match config.url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => PgConnectOptions::from_str(url)
            .map_err(|e| config_error(d, "the PostgreSQL URL is invalid", e))?,
        None => PgConnectOptions::new_without_pgpass(),
    };
    if let Some(host) = &config.host {
        opts = opts.host(host);
    }
    if let Some(port) = config.port {
        opts = opts.port(port);
    }
    if let Some(db) = &config.database {
        opts = opts.database(db);
    }
    if let Some(user) = &config.username {
        opts = opts.username(user);
    }
    if let Some(password) = config.resolve_password(d)? {
        opts = opts.password(password.expose());
    }
    if let Some(mode) = config.tls.mode {
        opts = opts.ssl_mode(match mode {
            TlsMode::Disable => PgSslMode::Disable,
            TlsMode::Prefer => PgSslMode::Prefer,
            TlsMode::Require => PgSslMode::Require,
            TlsMode::VerifyCa => PgSslMode::VerifyCa,
            TlsMode::VerifyFull => PgSslMode::VerifyFull,
        });
    }
    if let Some(ca) = &config.tls.ca_file {
        opts = opts.ssl_root_cert(ca);
    }
    opts = opts.application_name("authstate");
    let target = format!(
        "the PostgreSQL server at {}:{} as user {:?}",
        opts.get_host(),
        opts.get_port(),
        opts.get_username()
    );
    let first = probe!(PgConnection, &opts, config, d, target);
    let _ = sqlx::Connection::close(first).await;
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_lazy_with(opts);
    Ok(Connected {
        db: Db {
            pool: Pool::Postgres(pool),
            dialect: d,
            purge_duty_cycle: config.purge_duty_cycle,
        },
        in_memory: false,
    })
}

#[cfg(feature = "mysql")]
async fn connect_mysql(config: &crate::config::SqlConfig) -> Result<Connected> {
    use std::str::FromStr as _;

    use sqlx::Executor as _;
    use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions, MySqlSslMode};

    use crate::config::TlsMode;

    let d = Dialect::MySql;
    let mut opts = match config.url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            // sqlx knows the `mysql` scheme only; MariaDB speaks the same protocol.
            let url = match url.strip_prefix("mariadb:") {
                Some(rest) => format!("mysql:{rest}"),
                None => url.to_string(),
            };
            MySqlConnectOptions::from_str(&url)
                .map_err(|e| config_error(d, "the MariaDB URL is invalid", e))?
        }
        None => MySqlConnectOptions::new(),
    };
    if let Some(host) = &config.host {
        opts = opts.host(host);
    }
    if let Some(port) = config.port {
        opts = opts.port(port);
    }
    if let Some(db) = &config.database {
        opts = opts.database(db);
    }
    if let Some(user) = &config.username {
        opts = opts.username(user);
    }
    if let Some(password) = config.resolve_password(d)? {
        opts = opts.password(password.expose());
    }
    if let Some(mode) = config.tls.mode {
        opts = opts.ssl_mode(match mode {
            TlsMode::Disable => MySqlSslMode::Disabled,
            TlsMode::Prefer => MySqlSslMode::Preferred,
            TlsMode::Require => MySqlSslMode::Required,
            TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
            TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
        });
    }
    if let Some(ca) = &config.tls.ca_file {
        opts = opts.ssl_ca(ca);
    }
    let target = format!(
        "the MariaDB server at {}:{} as user {:?}",
        opts.get_host(),
        opts.get_port(),
        opts.get_username()
    );
    let mut first = probe!(MySqlConnection, &opts, config, d, target);
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut first)
        .await
        .map_err(|e| map(d, e))?;
    let _ = sqlx::Connection::close(first).await;
    check_mariadb(&version)?;
    let pool = MySqlPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // READ COMMITTED: no gap locks, so a locking read of a missing key
                // (a first take, a purge batch) never blocks unrelated inserts, and a
                // locking read sees the latest committed row.
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .await?;
                Ok(())
            })
        })
        .connect_lazy_with(opts);
    Ok(Connected {
        db: Db {
            pool: Pool::MySql(pool),
            dialect: d,
            purge_duty_cycle: config.purge_duty_cycle,
        },
        in_memory: false,
    })
}

/// Refuses MySQL proper and MariaDB before 10.6 (no `RETURNING`, no `SKIP LOCKED`).
#[cfg(feature = "mysql")]
fn check_mariadb(version: &str) -> Result<()> {
    let d = Dialect::MySql;
    if !version.contains("MariaDB") {
        return Err(Error::config(
            d.name(),
            format!(
                "the server is MySQL {version}, not MariaDB: this backend needs MariaDB 10.6 \
                 or later (INSERT/DELETE … RETURNING and FOR UPDATE SKIP LOCKED)"
            ),
        ));
    }
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) < (10, 6) {
        return Err(Error::config(
            d.name(),
            format!(
                "MariaDB {version} is too old: this backend needs 10.6 or later (FOR UPDATE \
                 SKIP LOCKED)"
            ),
        ));
    }
    Ok(())
}

#[cfg(feature = "sqlite")]
async fn connect_sqlite(config: &crate::config::SqlConfig) -> Result<Connected> {
    use std::str::FromStr as _;

    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    };

    let d = Dialect::Sqlite;
    let url = config.url.as_deref().filter(|u| !u.is_empty());
    let path_memory = config
        .path
        .as_ref()
        .is_some_and(|p| p.as_os_str() == ":memory:");
    let in_memory =
        path_memory || url.is_some_and(|u| u.contains(":memory:") || u.contains("mode=memory"));
    let mut opts = if path_memory {
        SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| config_error(d, "the SQLite URL is invalid", e))?
    } else if let Some(path) = &config.path {
        SqliteConnectOptions::new().filename(path)
    } else if let Some(url) = url {
        SqliteConnectOptions::from_str(url)
            .map_err(|e| config_error(d, "the SQLite URL is invalid", e))?
    } else {
        return Err(Error::config(
            d.name(),
            "no SQLite database given: set url (sqlite:…) or path",
        ));
    };
    opts = opts
        .create_if_missing(true)
        .busy_timeout(config.acquire_timeout);
    if !in_memory {
        // WAL: readers never block the one writer, and commits stay durable.
        opts = opts.journal_mode(SqliteJournalMode::Wal);
    }
    let target = if in_memory {
        "an in-memory SQLite database".to_string()
    } else {
        format!("the SQLite database {}", opts.get_filename().display())
    };
    let first = probe!(SqliteConnection, &opts, config, d, target);
    let mut pool = SqlitePoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout);
    if in_memory {
        // The database lives as long as one connection to it: keep one open for good.
        pool = pool
            .min_connections(config.min_connections.max(1))
            .idle_timeout(None)
            .max_lifetime(None);
    }
    let pool = pool.connect_lazy_with(opts);
    if in_memory {
        // Open the pool's first connection while the probe's still holds the database.
        drop(pool.acquire().await.map_err(|e| map(d, e))?);
    }
    let _ = sqlx::Connection::close(first).await;
    Ok(Connected {
        db: Db {
            pool: Pool::Sqlite(pool),
            dialect: d,
            purge_duty_cycle: config.purge_duty_cycle,
        },
        in_memory,
    })
}
