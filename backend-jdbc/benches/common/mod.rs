//! What the SQL benchmarks share: the knobs, the three databases (fresh ones from the
//! testkit), a raw sqlx pool beside the backend's for baselines and bulk loads, a
//! statement counter fed by sqlx's own query log, server-side counters, and latency
//! percentiles.
//!
//! Knobs (environment; `--quick` on the command line is the same as
//! `AUTHSTATE_BENCH_QUICK=1`):
//!
//! - `AUTHSTATE_BENCH_DBS`: which databases, comma-separated among `postgres`, `mysql`
//!   and `sqlite` (default: every one whose feature is enabled).
//! - `AUTHSTATE_BENCH_QUICK=1`: small sizes and short rounds, to check that it runs.
//!
//! Each bench lists its own knobs in its module docs.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authstate_backend_jdbc::{Dialect, SqlConfig};
use sqlx::AssertSqlSafe;

/// Concurrent tasks, as the issue asks.
pub const TASKS: usize = 8;

/// A boxed future, for the ops the drivers run.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether the run is a quick one: `--quick` among the arguments, or
/// `AUTHSTATE_BENCH_QUICK=1`.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("AUTHSTATE_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Whether the binary was started by `cargo bench` (which passes `--bench`). Under
/// `cargo test --all-targets` it is started without it, and should do nothing.
pub fn benching() -> bool {
    std::env::args().any(|a| a == "--bench" || a == "--quick")
}

/// An environment knob parsed as `T`, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The store clock's "now", in milliseconds (the stores use the system clock).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The databases to run on, in order, as the features and `AUTHSTATE_BENCH_DBS` allow.
pub fn selected() -> Vec<Dialect> {
    let wanted = std::env::var("AUTHSTATE_BENCH_DBS").unwrap_or_default();
    let on = |name: &str| {
        wanted.trim().is_empty()
            || wanted
                .split(',')
                .any(|w| w.trim().eq_ignore_ascii_case(name))
    };
    let mut out = Vec::new();
    if cfg!(feature = "postgres") && on("postgres") {
        out.push(Dialect::Postgres);
    }
    if cfg!(feature = "mysql") && (on("mysql") || on("mariadb")) {
        out.push(Dialect::MySql);
    }
    if cfg!(feature = "sqlite") && on("sqlite") {
        out.push(Dialect::Sqlite);
    }
    out
}

/// The display name of a dialect.
pub fn label(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "PostgreSQL",
        Dialect::MySql => "MariaDB",
        Dialect::Sqlite => "SQLite (file)",
    }
}

/// A database made for this run: the backend's config, a raw pool on the same
/// database, and what must live as long as it (the SQLite file) or be dropped after it.
pub struct Target {
    pub dialect: Dialect,
    pub config: SqlConfig,
    pub raw: Raw,
    /// The PostgreSQL server's own counters, read from the `postgres` database.
    monitor: Option<Raw>,
    database: Option<authstate_testkit::SqlDatabase>,
    _file: Option<authstate_testkit::SqliteFile>,
}

impl Target {
    /// A fresh database for `dialect` with a raw pool of `pool` connections (set up as
    /// the backend sets up its own: MariaDB at `READ COMMITTED`, SQLite in WAL mode).
    pub async fn open(dialect: Dialect, pool: u32) -> Target {
        use authstate_testkit::require;
        match dialect {
            Dialect::Postgres => {
                let db = require(authstate_testkit::postgres_database());
                let url = db.url().to_owned();
                let raw = Raw::connect(dialect, &url, pool).await;
                let monitor = Raw::connect(dialect, &with_database(&url, "postgres"), 1).await;
                Target {
                    dialect,
                    config: SqlConfig::from_url(url),
                    raw,
                    monitor: Some(monitor),
                    database: Some(db),
                    _file: None,
                }
            }
            Dialect::MySql => {
                let db = require(authstate_testkit::mysql_database());
                let url = db.url().to_owned();
                let raw = Raw::connect(dialect, &url, pool).await;
                Target {
                    dialect,
                    config: SqlConfig::from_url(url),
                    raw,
                    monitor: None,
                    database: Some(db),
                    _file: None,
                }
            }
            Dialect::Sqlite => {
                let file = require(authstate_testkit::sqlite_file());
                let config = SqlConfig::sqlite_file(file.path());
                let raw = Raw::connect(dialect, &file.path().display().to_string(), pool).await;
                Target {
                    dialect,
                    config,
                    raw,
                    monitor: None,
                    database: None,
                    _file: Some(file),
                }
            }
        }
    }

    /// What [`Raw::connect`] takes to reach this database: its URL, or the SQLite file.
    pub fn raw_url(&self) -> String {
        match (&self.database, &self._file) {
            (Some(db), _) => db.url().to_owned(),
            (None, Some(f)) => f.path().display().to_string(),
            _ => String::new(),
        }
    }

    /// The database's name (or the SQLite file).
    pub fn where_(&self) -> String {
        match (&self.database, &self._file) {
            (Some(db), _) => db.name().to_owned(),
            (None, Some(f)) => f.path().display().to_string(),
            _ => String::new(),
        }
    }

    /// The server's counters now: PostgreSQL's `pg_stat_database` transactions of this
    /// database; MariaDB's global `Questions`, `Com_commit` (statements and commits of
    /// the whole server: quiet only if nobody else uses it); nothing for SQLite.
    pub async fn server_counters(&self) -> Option<ServerCounters> {
        match self.dialect {
            Dialect::Postgres => {
                let monitor = self.monitor.as_ref()?;
                let name = self.database.as_ref()?.name().to_owned();
                // A server process flushes its counters when its connection ends (idle
                // ones only every 10 s): callers close their pools first; this gives
                // the processes time to exit.
                tokio::time::sleep(Duration::from_millis(700)).await;
                let v = monitor
                    .query_i64s(
                        &format!(
                            "SELECT xact_commit + xact_rollback, xact_commit FROM \
                             pg_stat_database WHERE datname = '{name}'"
                        ),
                        2,
                    )
                    .await;
                Some(ServerCounters {
                    statements: None,
                    transactions: v[0],
                    commits: v[1],
                })
            }
            Dialect::MySql => {
                let rows = self
                    .raw
                    .status("SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_commit')")
                    .await;
                let get = |n: &str| {
                    rows.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(n))
                        .map(|(_, v)| *v)
                        .unwrap_or(0)
                };
                Some(ServerCounters {
                    statements: Some(get("Questions")),
                    transactions: 0,
                    commits: get("Com_commit"),
                })
            }
            Dialect::Sqlite => None,
        }
    }

    /// Drops the database (PostgreSQL, MariaDB) or leaves the file to be removed with
    /// its directory.
    pub async fn finish(&self) {
        self.raw.close().await;
        if let Some(m) = &self.monitor {
            m.close().await;
        }
        if let Some(db) = &self.database
            && let Err(e) = db.drop_database()
        {
            eprintln!("could not drop {}: {e}", db.name());
        }
    }
}

/// What the server counted between two reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerCounters {
    /// MariaDB's `Questions` (statements the server ran, `BEGIN` and `COMMIT` too).
    pub statements: Option<i64>,
    /// PostgreSQL's committed and rolled back transactions (an autocommit statement is
    /// one).
    pub transactions: i64,
    /// Commits (PostgreSQL: committed transactions; MariaDB: `COMMIT` statements).
    pub commits: i64,
}

impl ServerCounters {
    /// `later - self`, less what the reads themselves added (one `SHOW STATUS` on
    /// MariaDB; PostgreSQL's are in another database).
    pub fn delta(&self, later: &ServerCounters) -> ServerCounters {
        ServerCounters {
            statements: match (self.statements, later.statements) {
                (Some(a), Some(b)) => Some(b - a - 1),
                _ => None,
            },
            transactions: later.transactions - self.transactions,
            commits: later.commits - self.commits,
        }
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A bind value for raw statements.
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    Int(i64),
    Null,
    Bytes(&'a [u8]),
}

/// A plain sqlx pool on the benchmark's database, for loads, baselines and counters.
#[derive(Clone)]
pub enum Raw {
    #[cfg(feature = "postgres")]
    Pg(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    My(sqlx::MySqlPool),
    #[cfg(feature = "sqlite")]
    Lite(sqlx::SqlitePool),
}

/// Runs `$body` with `$p` bound to the pool of each variant and `$db` to its database.
macro_rules! with_pool {
    ($raw:expr, |$p:ident, $db:ident| $body:expr) => {
        match $raw {
            #[cfg(feature = "postgres")]
            Raw::Pg($p) => {
                type $db = sqlx::Postgres;
                $body
            }
            #[cfg(feature = "mysql")]
            Raw::My($p) => {
                type $db = sqlx::MySql;
                $body
            }
            #[cfg(feature = "sqlite")]
            Raw::Lite($p) => {
                type $db = sqlx::Sqlite;
                $body
            }
        }
    };
}

/// A query of `$db` over `$sql` with `$binds` bound in order.
macro_rules! bound {
    ($db:ty, $sql:expr, $binds:expr) => {{
        let mut q = sqlx::query::<$db>(AssertSqlSafe($sql.to_owned()));
        for b in $binds {
            q = match *b {
                Bind::Int(v) => q.bind(v),
                Bind::Null => q.bind(None::<i64>),
                Bind::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

impl Raw {
    /// Connects a pool of `size` to `url` (a path for SQLite).
    pub async fn connect(dialect: Dialect, url: &str, size: u32) -> Raw {
        match dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => Raw::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(size)
                    .connect(url)
                    .await
                    .expect("raw PostgreSQL pool"),
            ),
            #[cfg(feature = "mysql")]
            Dialect::MySql => Raw::My(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(size)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            use sqlx::Executor as _;
                            conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
                    .expect("raw MariaDB pool"),
            ),
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(url)
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(10))
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
                Raw::Lite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(size)
                        .connect_with(opts)
                        .await
                        .expect("raw SQLite pool"),
                )
            }
            #[allow(unreachable_patterns)]
            other => panic!("{other} is not enabled in this build"),
        }
    }

    /// The placeholder for the `i`th (1-based) bind in this dialect.
    pub fn p(&self, i: usize) -> String {
        match self {
            #[cfg(feature = "postgres")]
            Raw::Pg(_) => format!("${i}"),
            #[cfg(feature = "mysql")]
            Raw::My(_) => "?".to_owned(),
            #[cfg(feature = "sqlite")]
            Raw::Lite(_) => format!("?{i}"),
        }
    }

    /// Runs one or more statements without binds.
    pub async fn batch(&self, sql: &str) {
        with_pool!(self, |p, _Db| {
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    }

    /// Runs one statement with binds; returns the rows it affected.
    pub async fn execute(&self, sql: &str, binds: &[Bind<'_>]) -> u64 {
        with_pool!(self, |p, Db| {
            bound!(Db, sql, binds)
                .execute(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .rows_affected()
        })
    }

    /// Runs a query and returns whether it found a row, decoding a byte string and
    /// three integers from it (as a session read does).
    pub async fn fetch_session(&self, sql: &str, binds: &[Bind<'_>]) -> bool {
        use sqlx::Row as _;
        with_pool!(self, |p, Db| {
            let row = bound!(Db, sql, binds)
                .fetch_optional(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            match row {
                Some(r) => {
                    let data: Vec<u8> = r.try_get(0).expect("data column");
                    let a: i64 = r.try_get(1).expect("int column");
                    let b: i64 = r.try_get(2).expect("int column");
                    let c: i64 = r.try_get(3).expect("int column");
                    std::hint::black_box((data, a, b, c));
                    true
                }
                None => false,
            }
        })
    }

    /// The first row's first `n` columns as integers.
    pub async fn query_i64s(&self, sql: &str, n: usize) -> Vec<i64> {
        use sqlx::Row as _;
        with_pool!(self, |p, Db| {
            let row = bound!(Db, sql, &[] as &[Bind<'_>])
                .fetch_one(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            (0..n)
                .map(|i| row.try_get::<i64, usize>(i).expect("an integer column"))
                .collect()
        })
    }

    /// One integer.
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.query_i64s(sql, 1).await[0]
    }

    /// The first row's columns as text, integers and byte lengths (for showing a row).
    pub async fn show_row(&self, sql: &str, binds: &[Bind<'_>]) -> Vec<String> {
        use sqlx::{Column as _, Row as _};
        with_pool!(self, |p, Db| {
            let row = bound!(Db, sql, binds)
                .fetch_one(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            row.columns()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let value = if let Ok(v) = row.try_get::<Option<i64>, usize>(i) {
                        v.map_or("NULL".to_owned(), |v| v.to_string())
                    } else if let Ok(v) = row.try_get::<Vec<u8>, usize>(i) {
                        format!("<{} bytes>", v.len())
                    } else {
                        "?".to_owned()
                    };
                    format!("{}={value}", c.name())
                })
                .collect()
        })
    }

    /// One byte-string column of the first row.
    pub async fn bytes(&self, sql: &str, binds: &[Bind<'_>]) -> Vec<u8> {
        use sqlx::Row as _;
        with_pool!(self, |p, Db| {
            let row = bound!(Db, sql, binds)
                .fetch_one(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            row.try_get::<Vec<u8>, usize>(0).expect("a byte column")
        })
    }

    /// MariaDB's `SHOW STATUS` rows as (name, value).
    async fn status(&self, sql: &str) -> Vec<(String, i64)> {
        use sqlx::Row as _;
        with_pool!(self, |p, Db| {
            bound!(Db, sql, &[] as &[Bind<'_>])
                .fetch_all(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| {
                    let name: String = r.try_get(0).unwrap_or_default();
                    let value: String = r.try_get(1).unwrap_or_default();
                    (name, value.parse().unwrap_or(0))
                })
                .collect()
        })
    }

    pub async fn close(&self) {
        with_pool!(self, |p, _Db| p.close().await)
    }
}

/// A table name of `namespace` as the backend names it (see the crate docs, Schema).
pub fn ns_table(d: Dialect, namespace: &str, table: &str) -> String {
    match d {
        Dialect::Postgres => format!("\"authstate_{namespace}\".\"{table}\""),
        Dialect::MySql => format!("`authstate_{namespace}_{table}`"),
        Dialect::Sqlite => format!("\"authstate_{namespace}_{table}\""),
    }
}

/// Counts the statements sqlx runs, from its query log (target `sqlx::query`; every
/// statement sent through a connection is logged once when it finishes). Off unless
/// [`StatementCounter::start`] is called, so timed rounds pay nothing for it.
///
/// `BEGIN` is not logged by every driver (PostgreSQL queues it, SQLite's worker runs it
/// directly) and `COMMIT` is not logged by SQLite's, so they are counted apart and the
/// data statements are what this reports as "statements".
pub struct StatementCounter;

static DATA: AtomicU64 = AtomicU64::new(0);
static TXN: AtomicU64 = AtomicU64::new(0);
static SETUP: AtomicU64 = AtomicU64::new(0);
static COUNTER: StatementCounter = StatementCounter;

/// Statements logged, by kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counted {
    /// Everything else: the statements that do the work.
    pub data: u64,
    /// Transaction control: `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints.
    pub control: u64,
    /// Connection setup (`SET …`, `PRAGMA …`, run once per new connection).
    pub setup: u64,
}

impl StatementCounter {
    /// Installs the counter as the `log` logger (once), switched off.
    pub fn install() {
        let _ = log::set_logger(&COUNTER);
        log::set_max_level(log::LevelFilter::Off);
    }

    /// Zeroes the counts and starts counting.
    pub fn start() {
        DATA.store(0, Ordering::SeqCst);
        TXN.store(0, Ordering::SeqCst);
        SETUP.store(0, Ordering::SeqCst);
        log::set_max_level(log::LevelFilter::Trace);
    }

    /// Stops counting and returns what was counted since [`StatementCounter::start`].
    pub fn stop() -> Counted {
        log::set_max_level(log::LevelFilter::Off);
        Counted {
            data: DATA.load(Ordering::SeqCst),
            control: TXN.load(Ordering::SeqCst),
            setup: SETUP.load(Ordering::SeqCst),
        }
    }
}

impl log::Log for StatementCounter {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target() != "sqlx::query" {
            return;
        }
        let text = record.args().to_string();
        if std::env::var_os("AUTHSTATE_BENCH_SHOW_SQL").is_some() {
            eprintln!(
                "sqlx::query: {}",
                text.chars().take(160).collect::<String>()
            );
        }
        // The record reads `summary="SELECT data, … " db.statement=… rows_affected=…`.
        let summary = text
            .trim_start()
            .strip_prefix("summary=")
            .unwrap_or(&text)
            .trim_start_matches('"');
        let first = summary
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let counter = match first.as_str() {
            "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => &TXN,
            "SET" | "PRAGMA" => &SETUP,
            _ => &DATA,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn flush(&self) {}
}

/// Latencies in microseconds, with percentiles.
#[derive(Debug, Default, Clone)]
pub struct Latencies(pub Vec<u64>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `q` quantile (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1] as f64 / 1000.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Median of a non-empty list (0 when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds since `t`, at least a microsecond.
pub fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64().max(1e-6)
}

/// A multi-thread runtime on the machine's cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
