//! The throughput benchmark of issue 4: session create / get / update and artifact
//! put+take on each database from 8 concurrent tasks, next to raw sqlx doing the
//! equivalent plain statement on a row of the same size in the same run, with the
//! statements each operation costs.
//!
//! `cargo bench -p authstate-backend-jdbc --all-features --bench throughput` (add
//! `-- --quick` for a short run that checks it works).
//!
//! Throughput: each operation runs in alternating timed rounds (raw, store, raw, store,
//! …; 8 tasks each, the backend's pool and the raw pool both 8 connections) and the
//! medians are compared, so a noisy neighbour hits both sides alike. The raw side works
//! on tables of the same shape and indexes as the backend's (`bench_raw_sessions`,
//! `bench_raw_artifacts`), with rows whose sealed-record column has the same length as
//! the store's and keys spread like keyed hashes:
//!
//! | store operation | raw sqlx baseline (one statement) |
//! |---|---|
//! | session `create` | `INSERT` of the eight columns |
//! | session `get` | `SELECT data, last_activity, version, expires_at … WHERE k = ? AND expires_at > ?` |
//! | session `update` (compare-and-set) | `UPDATE … SET data = ?, version = version + 1 WHERE k = ? AND expires_at > ?` |
//! | artifact `put` then `take` | `INSERT`, then `UPDATE … SET data = ?, taken_at = ? WHERE k = ? AND taken_at IS NULL AND expires_at > ?` |
//!
//! Statements per operation are counted in a separate, untimed pass of each operation
//! (so counting costs the timed rounds nothing), two ways:
//!
//! - in the client: every statement sqlx runs is logged once on the `sqlx::query`
//!   target; the bench installs a `log` logger that counts them, apart from transaction
//!   control (`BEGIN`, `COMMIT`, …), which not every driver logs (PostgreSQL's `BEGIN`
//!   and SQLite's `BEGIN`/`COMMIT` are not);
//! - on the server: PostgreSQL's `pg_stat_database` transactions (commits and
//!   rollbacks) of the benchmark's own database — an autocommit statement is one, a
//!   transaction of several statements is one too; MariaDB's global `Questions` (every
//!   statement the server ran, `BEGIN` and `COMMIT` included; global, so it is exact
//!   only while nobody else uses the server: the bench prints the background rate it saw
//!   before starting). SQLite has no server.
//!
//! Knobs: `AUTHSTATE_BENCH_SECS` (seconds per round, default 3, `--quick` 1),
//! `AUTHSTATE_BENCH_ROUNDS` (rounds per side, default 3, `--quick` 1),
//! `AUTHSTATE_BENCH_COUNT_OPS` (operations in the counting pass, default 2000),
//! `AUTHSTATE_BENCH_PAYLOAD` (session data and artifact payload bytes, default 256),
//! `AUTHSTATE_BENCH_DBS`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authstate_backend_jdbc::{Dialect, SqlBackend};
use authstate_core::{Namespace, NewSession, SessionId, StoreConfig, Stores, Take};
use common::{
    Bind, BoxFut, Raw, ServerCounters, StatementCounter, TASKS, Target, label, now_ms, ns_table,
    secs,
};

/// Sessions (and raw rows) per task that `get` and `update` cycle over.
const PER_TASK: usize = 64;

fn main() {
    if !common::benching() {
        eprintln!("throughput: a benchmark; run it with `cargo bench --bench throughput`");
        return;
    }
    common::runtime().block_on(run());
}

/// An operation: `op(task, i)`.
type Op = Arc<dyn Fn(usize, u64) -> BoxFut<'static, ()> + Send + Sync>;

/// Runs `op` from 8 tasks for `secs`; returns operations per second.
async fn drive(op: &Op, window: Duration) -> f64 {
    static ROUND: AtomicU64 = AtomicU64::new(1);
    // Every round numbers its iterations from a fresh range, so nothing is reused.
    let offset = ROUND.fetch_add(1, Ordering::Relaxed) * 1_000_000_000;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + window;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = offset;
                while Instant::now() < deadline {
                    op(t, i).await;
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a bench task panicked");
    }
    done.load(Ordering::Relaxed) as f64 / secs(started)
}

/// Runs `op` `per_task` times from each of the 8 tasks, numbering from `offset`.
async fn drive_count(op: &Op, per_task: u64, offset: u64) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in offset..offset + per_task {
                    op(t, i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a bench task panicked");
    }
}

/// 32 bytes spread like a keyed hash, from a number (splitmix64).
fn key(mut x: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out
}

/// A number unique to (task, i) within the process.
fn uid(t: usize, i: u64) -> u64 {
    (i << 4) | t as u64
}

/// The raw tables: the backend's session and artifact tables' shape and indexes.
fn raw_ddl(d: Dialect) -> String {
    let (key, blob, int, engine) = match d {
        Dialect::Postgres => ("BYTEA PRIMARY KEY", "BYTEA", "BIGINT", ""),
        Dialect::MySql => (
            "BINARY(32) NOT NULL PRIMARY KEY",
            "LONGBLOB",
            "BIGINT",
            " ENGINE=InnoDB",
        ),
        Dialect::Sqlite => ("BLOB PRIMARY KEY NOT NULL", "BLOB", "INTEGER", ""),
    };
    let hash = if d == Dialect::MySql {
        "BINARY(32)"
    } else {
        blob
    };
    format!(
        "CREATE TABLE bench_raw_sessions (k {key}, subject_hash {hash} NOT NULL, \
         version {int} NOT NULL, last_activity {int} NOT NULL, abs_expires_at {int} NOT NULL, \
         idle_ms {int}, expires_at {int} NOT NULL, data {blob} NOT NULL){engine};
         CREATE INDEX bench_raw_sessions_expires_at ON bench_raw_sessions (expires_at);
         CREATE INDEX bench_raw_sessions_last_activity ON bench_raw_sessions (last_activity);
         CREATE INDEX bench_raw_sessions_subject ON bench_raw_sessions (subject_hash);
         CREATE TABLE bench_raw_artifacts (k {key}, expires_at {int} NOT NULL, \
         taken_at {int}, data {blob} NOT NULL){engine};
         CREATE INDEX bench_raw_artifacts_expires_at ON bench_raw_artifacts (expires_at);"
    )
}

/// One operation's numbers.
struct Row {
    op: &'static str,
    store_ops: Option<f64>,
    raw_ops: Option<f64>,
    store_count: Option<Count>,
    raw_count: Option<Count>,
}

/// What the counting pass saw per operation.
#[derive(Debug, Clone, Copy)]
struct Count {
    data: f64,
    control: f64,
    server: Option<f64>,
}

async fn run() {
    let quick = common::quick();
    let selected = common::selected();
    if selected.is_empty() {
        eprintln!("throughput: no database selected (enable postgres, mysql or sqlite)");
        return;
    }
    StatementCounter::install();
    let secs = Duration::from_secs_f64(common::env_or(
        "AUTHSTATE_BENCH_SECS",
        if quick { 1.0 } else { 3.0 },
    ));
    let rounds: usize = common::env_or("AUTHSTATE_BENCH_ROUNDS", if quick { 1 } else { 3 });
    let count_ops: u64 =
        common::env_or("AUTHSTATE_BENCH_COUNT_OPS", if quick { 160 } else { 2000 });
    let payload: usize = common::env_or("AUTHSTATE_BENCH_PAYLOAD", 256);
    let mut all = Vec::new();
    for d in selected {
        let rows = one_database(d, secs, rounds.max(1), count_ops, payload).await;
        all.push((d, rows));
    }
    println!();
    println!(
        "## Throughput: 8 tasks, {rounds} × {:.0} s rounds per side, medians; statements \
         counted over {count_ops} operations",
        secs.as_secs_f64()
    );
    println!();
    println!(
        "| database | operation | store ops/s | raw sqlx ops/s | store / raw | statements/op \
         (client) | BEGIN/COMMIT logged/op | server count/op | raw: statements/op, server/op |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (d, rows) in &all {
        for r in rows {
            let f = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.0}"));
            let ratio = match (r.store_ops, r.raw_ops) {
                (Some(s), Some(w)) => format!("{:.2}", s / w),
                _ => "—".to_owned(),
            };
            let c = |c: Option<Count>, what: u8| match c {
                None => "—".to_owned(),
                Some(c) => match what {
                    0 => format!("{:.2}", c.data),
                    1 => format!("{:.2}", c.control),
                    _ => c.server.map_or("—".to_owned(), |s| format!("{s:.2}")),
                },
            };
            let raw = match r.raw_count {
                None => "—".to_owned(),
                Some(rc) => format!(
                    "{:.2}, {}",
                    rc.data + rc.control,
                    rc.server.map_or("—".to_owned(), |s| format!("{s:.2}"))
                ),
            };
            println!(
                "| {} | {} | {} | {} | {ratio} | {} | {} | {} | {raw} |",
                label(*d),
                r.op,
                f(r.store_ops),
                f(r.raw_ops),
                c(r.store_count, 0),
                c(r.store_count, 1),
                c(r.store_count, 2),
            );
        }
    }
}

/// The stores and a raw pool, each with its own connections, and what the operations
/// need to know.
struct Bench {
    backend: SqlBackend,
    stores: Stores,
    raw: Raw,
    payload: usize,
    /// The store's sealed-record lengths: session, artifact, artifact tombstone.
    session_len: usize,
    artifact_len: usize,
    tombstone_len: usize,
}

/// What a [`Bench`] is made from.
#[derive(Clone)]
struct Setup {
    dialect: Dialect,
    namespace: Namespace,
    payload: usize,
    session_len: usize,
    artifact_len: usize,
    tombstone_len: usize,
}

impl Bench {
    /// A new backend pool and a new raw pool, `TASKS` connections each.
    async fn open(target: &Target, setup: &Setup) -> Arc<Bench> {
        let backend =
            SqlBackend::connect(&target.config.clone().with_max_connections(TASKS as u32))
                .await
                .expect("connects");
        let stores = backend
            .open(StoreConfig::new(setup.namespace.clone()))
            .await
            .expect("opens");
        let raw = Raw::connect(setup.dialect, &target.raw_url(), TASKS as u32).await;
        Arc::new(Bench {
            backend,
            stores,
            raw,
            payload: setup.payload,
            session_len: setup.session_len,
            artifact_len: setup.artifact_len,
            tombstone_len: setup.tombstone_len,
        })
    }

    /// Closes both pools: their connections end, and PostgreSQL's server processes
    /// flush their statistics as they exit.
    async fn close(&self) {
        self.backend.close().await;
        self.raw.close().await;
    }
}

/// Which side of a comparison an operation is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Store,
    Raw,
}

/// The operations compared, by name.
const OPS: [&str; 4] = [
    "session create",
    "session get",
    "session update (CAS)",
    "artifact put+take",
];

/// Builds operation `name` for `side` on `bench`.
fn build(bench: &Arc<Bench>, ws: &WorkingSet, name: &str, side: Side) -> Op {
    match (name, side) {
        ("session create", Side::Store) => store_create(bench),
        ("session create", Side::Raw) => raw_create(bench),
        ("session get", Side::Store) => store_get(bench, &ws.ids),
        ("session get", Side::Raw) => raw_get(bench, &ws.keys),
        ("session update (CAS)", Side::Store) => store_update(bench, &ws.ids, &ws.versions),
        ("session update (CAS)", Side::Raw) => raw_update(bench, &ws.keys),
        ("artifact put+take", Side::Store) => store_put_take(bench),
        ("artifact put+take", Side::Raw) => raw_put_take(bench),
        ("artifact put (alone)", Side::Store) => store_put_then_take(bench, ALONE_SALT).0,
        ("artifact put (alone)", Side::Raw) => raw_put_then_take(bench, ALONE_SALT).0,
        ("artifact take (alone)", Side::Store) => store_put_then_take(bench, ALONE_SALT).1,
        ("artifact take (alone)", Side::Raw) => raw_put_then_take(bench, ALONE_SALT).1,
        _ => panic!("no operation {name:?}"),
    }
}

/// The handles (and raw keys) that the put-alone pass puts and the take-alone pass
/// takes.
const ALONE_SALT: u64 = 7_000_000_000;

/// The sessions (and raw rows) `get` and `update` cycle over, with the versions the
/// updates move them to.
struct WorkingSet {
    ids: Arc<Vec<Vec<SessionId>>>,
    keys: Arc<Vec<Vec<[u8; 32]>>>,
    versions: Arc<Vec<Vec<AtomicU64>>>,
}

async fn one_database(
    d: Dialect,
    secs: Duration,
    rounds: usize,
    count_ops: u64,
    payload: usize,
) -> Vec<Row> {
    let target = Target::open(d, 2).await;
    eprintln!("\n[{}] database {}", label(d), target.where_());
    let namespace = Namespace::random().expect("namespace");
    let mut setup = Setup {
        dialect: d,
        namespace: namespace.clone(),
        payload,
        session_len: 0,
        artifact_len: 0,
        tombstone_len: 0,
    };
    // Migrate, and learn the lengths of what the store writes, for the raw rows.
    {
        let backend = SqlBackend::connect(&target.config).await.expect("connects");
        backend.migrate(&namespace).await.expect("migrates");
        target.raw.batch(&raw_ddl(d)).await;
        let stores = backend
            .open(StoreConfig::new(namespace.clone()))
            .await
            .expect("opens");
        let raw = &target.raw;
        let sessions_t = ns_table(d, namespace.as_str(), "sessions");
        let artifacts_t = ns_table(d, namespace.as_str(), "artifacts");
        stores
            .sessions
            .create(new_session(0, 0, payload))
            .await
            .expect("creates");
        // The store keeps a session's sealed record in two parts (data and meta): the
        // raw row's one column is as long as both.
        setup.session_len = raw
            .bytes(&format!("SELECT data FROM {sessions_t} LIMIT 1"), &[])
            .await
            .len()
            + raw
                .bytes(&format!("SELECT meta FROM {sessions_t} LIMIT 1"), &[])
                .await
                .len();
        stores
            .artifacts
            .put("probe", vec![1; payload], Duration::from_secs(60))
            .await
            .expect("puts");
        setup.artifact_len = raw
            .bytes(&format!("SELECT data FROM {artifacts_t} LIMIT 1"), &[])
            .await
            .len();
        stores.artifacts.take("probe").await.expect("takes");
        setup.tombstone_len = raw
            .bytes(&format!("SELECT data FROM {artifacts_t} LIMIT 1"), &[])
            .await
            .len();
        backend.close().await;
    }
    eprintln!(
        "[{}] sealed lengths: session {} B, artifact {} B, tombstone {} B (payload {payload} B)",
        label(d),
        setup.session_len,
        setup.artifact_len,
        setup.tombstone_len
    );
    if d == Dialect::MySql {
        // MariaDB's counters are the whole server's: show what others add.
        let before = target.server_counters().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = target.server_counters().await;
        if let (Some(b), Some(a)) = (before, after) {
            eprintln!(
                "[{}] background on the server while idle: {} statements in 2 s",
                label(d),
                b.delta(&a).statements.unwrap_or(0)
            );
        }
    }

    // The timed rounds, on one pair of pools.
    let bench = Bench::open(&target, &setup).await;
    let ws = working_set(&bench).await;
    let mut rows = Vec::new();
    for name in OPS {
        let store = build(&bench, &ws, name, Side::Store);
        let raw_op = build(&bench, &ws, name, Side::Raw);
        let (mut s, mut r) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            r.push(drive(&raw_op, secs).await);
            s.push(drive(&store, secs).await);
        }
        let (s, r) = (common::median(s), common::median(r));
        eprintln!(
            "[{}] {name}: store {s:.0} ops/s, raw {r:.0} ops/s ({:.2})",
            label(d),
            s / r
        );
        rows.push(Row {
            op: name,
            store_ops: Some(s),
            raw_ops: Some(r),
            store_count: None,
            raw_count: None,
        });
    }
    bench.close().await;
    drop(bench);

    // The counting passes, each on fresh pools closed before the server is read.
    for name in OPS
        .into_iter()
        .chain(["artifact put (alone)", "artifact take (alone)"])
    {
        let alone = name.ends_with("(alone)");
        let offset = alone.then_some(0);
        let store_count = count(&target, &setup, &ws, name, Side::Store, count_ops, offset).await;
        let raw_count = count(&target, &setup, &ws, name, Side::Raw, count_ops, offset).await;
        eprintln!(
            "[{}] {name}: store {store_count:?}, raw {raw_count:?}",
            label(d)
        );
        match rows.iter_mut().find(|r| r.op == name) {
            Some(row) => {
                row.store_count = Some(store_count);
                row.raw_count = Some(raw_count);
            }
            None => rows.push(Row {
                op: name,
                store_ops: None,
                raw_ops: None,
                store_count: Some(store_count),
                raw_count: Some(raw_count),
            }),
        }
    }
    target.finish().await;
    rows
}

/// Runs `count_ops` operations `name` (from 8 tasks) on fresh pools with the statement
/// counter on, and the server's counters read before the pools open and after they
/// close; returns the counts per operation. `offset` numbers the operations (`None`: a
/// fresh range).
async fn count(
    target: &Target,
    setup: &Setup,
    ws: &WorkingSet,
    name: &str,
    side: Side,
    count_ops: u64,
    offset: Option<u64>,
) -> Count {
    static NEXT: AtomicU64 = AtomicU64::new(500);
    let per_task = (count_ops / TASKS as u64).max(1);
    let total = (per_task * TASKS as u64) as f64;
    let offset = offset.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed) * 1_000_000_000);
    let bench = Bench::open(target, setup).await;
    let before = target.server_counters().await;
    let op = build(&bench, ws, name, side);
    StatementCounter::start();
    drive_count(&op, per_task, offset).await;
    let counted = StatementCounter::stop();
    drop(op);
    bench.close().await;
    let after = target.server_counters().await;
    let server = match (before, after) {
        (Some(b), Some(a)) => {
            let d: ServerCounters = b.delta(&a);
            // MariaDB counts the `SET`s of each new connection too: leave them out.
            let n = match d.statements {
                Some(s) => s - i64::try_from(counted.setup).unwrap_or(0),
                None => d.transactions,
            };
            Some(n as f64 / total)
        }
        _ => None,
    };
    Count {
        data: counted.data as f64 / total,
        control: counted.control as f64 / total,
        server,
    }
}

fn new_session(t: usize, i: u64, payload: usize) -> NewSession {
    NewSession {
        subject: format!("user-{t}-{}", i % 50),
        data: vec![0x5a; payload],
        lifetime: Duration::from_secs(3600),
        idle_timeout: None,
    }
}

/// `PER_TASK` sessions per task through the store, and as many raw rows.
async fn working_set(bench: &Arc<Bench>) -> WorkingSet {
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    let insert = raw_insert_sql(&bench.raw);
    for t in 0..TASKS {
        let mut mine = Vec::new();
        let mut raw_mine = Vec::new();
        for j in 0..PER_TASK as u64 {
            let s = bench
                .stores
                .sessions
                .create(new_session(t, j, bench.payload))
                .await
                .expect("creates");
            mine.push(s.id);
            let k = key(uid(t, j) ^ 0x5555_0000_0000_0000);
            raw_session_insert(bench, &insert, &k, t, j).await;
            raw_mine.push(k);
        }
        ids.push(mine);
        keys.push(raw_mine);
    }
    WorkingSet {
        ids: Arc::new(ids),
        keys: Arc::new(keys),
        versions: Arc::new(
            (0..TASKS)
                .map(|_| (0..PER_TASK).map(|_| AtomicU64::new(1)).collect())
                .collect(),
        ),
    }
}

fn raw_insert_sql(raw: &Raw) -> String {
    let p: Vec<String> = (1..=8).map(|i| raw.p(i)).collect();
    format!(
        "INSERT INTO bench_raw_sessions (k, subject_hash, version, last_activity, \
         abs_expires_at, idle_ms, expires_at, data) VALUES ({})",
        p.join(", ")
    )
}

async fn raw_session_insert(bench: &Bench, sql: &str, k: &[u8; 32], t: usize, i: u64) {
    let now = now_ms();
    let subject = key(((t as u64) << 32) | (i % 50));
    let data = vec![0x5a; bench.session_len];
    let n = bench
        .raw
        .execute(
            sql,
            &[
                Bind::Bytes(k),
                Bind::Bytes(&subject),
                Bind::Int(1),
                Bind::Int(now),
                Bind::Int(now + 3_600_000),
                Bind::Null,
                Bind::Int(now + 3_600_000),
                Bind::Bytes(&data),
            ],
        )
        .await;
    assert_eq!(n, 1, "raw insert");
}

fn store_create(bench: &Arc<Bench>) -> Op {
    let bench = bench.clone();
    Arc::new(move |t, i| {
        let bench = bench.clone();
        Box::pin(async move {
            bench
                .stores
                .sessions
                .create(new_session(t, i, bench.payload))
                .await
                .expect("creates");
        })
    })
}

fn raw_create(bench: &Arc<Bench>) -> Op {
    let bench = bench.clone();
    let sql: Arc<str> = raw_insert_sql(&bench.raw).into();
    Arc::new(move |t, i| {
        let (bench, sql) = (bench.clone(), sql.clone());
        Box::pin(async move {
            let k = key(uid(t, i));
            raw_session_insert(&bench, &sql, &k, t, i).await;
        })
    })
}

fn store_get(bench: &Arc<Bench>, ids: &Arc<Vec<Vec<SessionId>>>) -> Op {
    let (bench, ids) = (bench.clone(), ids.clone());
    Arc::new(move |t, i| {
        let (bench, ids) = (bench.clone(), ids.clone());
        Box::pin(async move {
            let id = &ids[t][i as usize % PER_TASK];
            let got = bench.stores.sessions.get(id).await.expect("gets");
            assert!(got.is_some(), "a working-set session is gone");
        })
    })
}

fn raw_get(bench: &Arc<Bench>, keys: &Arc<Vec<Vec<[u8; 32]>>>) -> Op {
    let (bench, keys) = (bench.clone(), keys.clone());
    let raw = &bench.raw;
    let sql: Arc<str> = format!(
        "SELECT data, last_activity, version, expires_at FROM bench_raw_sessions \
         WHERE k = {} AND expires_at > {}",
        raw.p(1),
        raw.p(2)
    )
    .into();
    Arc::new(move |t, i| {
        let (bench, keys, sql) = (bench.clone(), keys.clone(), sql.clone());
        Box::pin(async move {
            let k = &keys[t][i as usize % PER_TASK];
            let found = bench
                .raw
                .fetch_session(&sql, &[Bind::Bytes(k), Bind::Int(now_ms())])
                .await;
            assert!(found, "a raw working-set row is gone");
        })
    })
}

fn store_update(
    bench: &Arc<Bench>,
    ids: &Arc<Vec<Vec<SessionId>>>,
    versions: &Arc<Vec<Vec<AtomicU64>>>,
) -> Op {
    let (bench, ids, versions) = (bench.clone(), ids.clone(), versions.clone());
    Arc::new(move |t, i| {
        let (bench, ids, versions) = (bench.clone(), ids.clone(), versions.clone());
        Box::pin(async move {
            let j = i as usize % PER_TASK;
            let version = versions[t][j].load(Ordering::Relaxed);
            let data = vec![(i % 251) as u8; bench.payload];
            let record = bench
                .stores
                .sessions
                .update(&ids[t][j], version, data)
                .await
                .expect("updates");
            versions[t][j].store(record.version, Ordering::Relaxed);
        })
    })
}

fn raw_update(bench: &Arc<Bench>, keys: &Arc<Vec<Vec<[u8; 32]>>>) -> Op {
    let (bench, keys) = (bench.clone(), keys.clone());
    let raw = &bench.raw;
    let sql: Arc<str> = format!(
        "UPDATE bench_raw_sessions SET data = {}, version = version + 1 WHERE k = {} AND \
         expires_at > {}",
        raw.p(1),
        raw.p(2),
        raw.p(3)
    )
    .into();
    Arc::new(move |t, i| {
        let (bench, keys, sql) = (bench.clone(), keys.clone(), sql.clone());
        Box::pin(async move {
            let k = &keys[t][i as usize % PER_TASK];
            let data = vec![(i % 251) as u8; bench.session_len];
            let n = bench
                .raw
                .execute(
                    &sql,
                    &[Bind::Bytes(&data), Bind::Bytes(k), Bind::Int(now_ms())],
                )
                .await;
            assert_eq!(n, 1, "raw update");
        })
    })
}

fn handle(salt: u64, t: usize, i: u64) -> String {
    format!("code-{salt}-{}", uid(t, i))
}

async fn store_put(bench: &Bench, h: &str) {
    bench
        .stores
        .artifacts
        .put(h, vec![0xa5; bench.payload], Duration::from_secs(600))
        .await
        .expect("puts");
}

async fn store_take(bench: &Bench, h: &str) {
    match bench.stores.artifacts.take(h).await.expect("takes") {
        Take::Fresh(_) => {}
        other => panic!("a fresh artifact took as {other:?}"),
    }
}

fn store_put_take(bench: &Arc<Bench>) -> Op {
    let bench = bench.clone();
    Arc::new(move |t, i| {
        let bench = bench.clone();
        Box::pin(async move {
            let h = handle(1, t, i);
            store_put(&bench, &h).await;
            store_take(&bench, &h).await;
        })
    })
}

fn store_put_then_take(bench: &Arc<Bench>, salt: u64) -> (Op, Op) {
    let b = bench.clone();
    let put: Op = Arc::new(move |t, i| {
        let bench = b.clone();
        Box::pin(async move { store_put(&bench, &handle(salt, t, i)).await })
    });
    let b = bench.clone();
    let take: Op = Arc::new(move |t, i| {
        let bench = b.clone();
        Box::pin(async move { store_take(&bench, &handle(salt, t, i)).await })
    });
    (put, take)
}

/// The raw artifact statements: insert, and the plain tombstone update.
struct RawArtifactSql {
    insert: Arc<str>,
    take: Arc<str>,
}

fn raw_artifact_sql(raw: &Raw) -> RawArtifactSql {
    RawArtifactSql {
        insert: format!(
            "INSERT INTO bench_raw_artifacts (k, expires_at, taken_at, data) VALUES ({}, {}, \
             NULL, {})",
            raw.p(1),
            raw.p(2),
            raw.p(3)
        )
        .into(),
        take: format!(
            "UPDATE bench_raw_artifacts SET data = {}, taken_at = {} WHERE k = {} AND \
             taken_at IS NULL AND expires_at > {}",
            raw.p(1),
            raw.p(2),
            raw.p(3),
            raw.p(4)
        )
        .into(),
    }
}

async fn raw_put(bench: &Bench, sql: &str, k: &[u8; 32]) {
    let data = vec![0xa5; bench.artifact_len];
    let n = bench
        .raw
        .execute(
            sql,
            &[
                Bind::Bytes(k),
                Bind::Int(now_ms() + 600_000),
                Bind::Bytes(&data),
            ],
        )
        .await;
    assert_eq!(n, 1, "raw put");
}

async fn raw_take(bench: &Bench, sql: &str, k: &[u8; 32]) {
    let tomb = vec![0x00; bench.tombstone_len];
    let now = now_ms();
    let n = bench
        .raw
        .execute(
            sql,
            &[
                Bind::Bytes(&tomb),
                Bind::Int(now),
                Bind::Bytes(k),
                Bind::Int(now),
            ],
        )
        .await;
    assert_eq!(n, 1, "raw take");
}

fn raw_put_take(bench: &Arc<Bench>) -> Op {
    let bench = bench.clone();
    let sql = Arc::new(raw_artifact_sql(&bench.raw));
    Arc::new(move |t, i| {
        let (bench, sql) = (bench.clone(), sql.clone());
        Box::pin(async move {
            let k = key(uid(t, i) ^ 0x0a0a_0000_0000_0000);
            raw_put(&bench, &sql.insert, &k).await;
            raw_take(&bench, &sql.take, &k).await;
        })
    })
}

fn raw_put_then_take(bench: &Arc<Bench>, salt: u64) -> (Op, Op) {
    let sql = Arc::new(raw_artifact_sql(&bench.raw));
    let (b, s) = (bench.clone(), sql.clone());
    let put: Op = Arc::new(move |t, i| {
        let (bench, sql) = (b.clone(), s.clone());
        Box::pin(async move {
            raw_put(&bench, &sql.insert, &key(uid(t, i) ^ salt)).await;
        })
    });
    let (b, s) = (bench.clone(), sql);
    let take: Op = Arc::new(move |t, i| {
        let (bench, sql) = (b.clone(), s.clone());
        Box::pin(async move {
            raw_take(&bench, &sql.take, &key(uid(t, i) ^ salt)).await;
        })
    });
    (put, take)
}
