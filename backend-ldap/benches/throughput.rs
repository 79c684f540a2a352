//! Throughput of the LDAP backend against a real slapd, at 8 concurrent tasks, next to
//! raw ldap3 calls on the same server in the same run.
//!
//! `cargo bench -p authstate-backend-ldap --bench throughput`
//!
//! For every contract operation it reports operations per second, the LDAP operations
//! each one cost (counted by the backend), the raw baseline (the same LDAP operations
//! sent with plain ldap3 calls, without controls, over the same number of connections),
//! and the ratio of the two throughputs. Each pair runs in alternating rounds (raw,
//! contract, raw, contract, …) and the medians are compared, so a noisy neighbour hits
//! both sides alike.
//!
//! slapd runs with `dbnosync` by default so the numbers measure the client, the protocol
//! and the server's work rather than the disk's fsync latency (which otherwise decides
//! every write, on both sides). `AUTHSTATE_BENCH_SYNC=1` keeps fsync;
//! `AUTHSTATE_BENCH_SECS` sets the seconds per round (default 1), `AUTHSTATE_BENCH_ROUNDS`
//! the rounds (default 3).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authstate_backend_ldap::{Bind, LdapBackend, LdapConfig, ServerTtl};
use authstate_core::{
    LockoutPolicy, Namespace, NewSession, SecretString, SessionId, StoreConfig, Stores, Take,
};
use authstate_testkit::{Slapd, SlapdOptions, require};
use futures::future::BoxFuture;
use ldap3::controls::{Assertion, PostRead};
use ldap3::{Ldap, LdapConnAsync, Mod, Scope};

const TASKS: usize = 8;
const POOL: usize = 4;
/// Sessions (and raw entries) per task that get, update and modify cycle over.
const PER_TASK: usize = 16;

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(default)
}

type Op = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, ()> + Send + Sync>;

/// Runs `op(task, i)` in `TASKS` tasks for `secs`; returns ops/s.
async fn drive(op: Op, secs: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    // Every task numbers its iterations on from where the last round stopped, so
    // scenarios that create entries never reuse a name.
    static ROUND: AtomicU64 = AtomicU64::new(0);
    let offset = ROUND.fetch_add(1, Ordering::Relaxed) * 100_000_000;
    let started = Instant::now();
    let deadline = started + secs;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = offset;
            while Instant::now() < deadline {
                op(t, i).await;
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("a bench task panicked");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Raw ldap3 connections, round-robin, as the backend's pool does.
struct Raw {
    conns: Vec<Ldap>,
    next: AtomicUsize,
    base: String,
}

impl Raw {
    async fn connect(server: &Slapd) -> Raw {
        let mut conns = Vec::new();
        for _ in 0..POOL {
            let (conn, mut ldap) = LdapConnAsync::new(&server.url()).await.expect("raw");
            tokio::spawn(async move {
                let _ = conn.drive().await;
            });
            ldap.simple_bind(&server.admin_dn(), server.admin_password())
                .await
                .expect("bind")
                .success()
                .expect("bound");
            conns.push(ldap);
        }
        Raw {
            conns,
            next: AtomicUsize::new(0),
            base: format!("ou=raw,{}", server.suffix()),
        }
    }

    fn get(&self) -> Ldap {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].clone()
    }

    fn dn(&self, key: &str) -> String {
        format!("authstateKey={key},{}", self.base)
    }

    async fn add(&self, key: &str) {
        let res = self
            .get()
            .add(&self.dn(key), raw_entry(key, &[0xa5; 160]))
            .await
            .expect("raw add");
        assert_eq!(res.rc, 0, "{res:?}");
    }
}

fn set(v: &[u8]) -> HashSet<Vec<u8>> {
    HashSet::from([v.to_vec()])
}

/// A session-sized entry: the attributes the backend writes for a session.
fn raw_entry(key: &str, blob: &[u8]) -> Vec<(Vec<u8>, HashSet<Vec<u8>>)> {
    vec![
        (b"objectClass".to_vec(), set(b"authstateSession")),
        (b"authstateKey".to_vec(), set(key.as_bytes())),
        (b"authstateExpiresAt".to_vec(), set(b"9999999999999")),
        (b"authstateLastActivity".to_vec(), set(b"1")),
        (b"authstateVersion".to_vec(), set(b"1")),
        (b"authstateSubject".to_vec(), set(&[b'a'; 64])),
        (b"authstateData".to_vec(), set(blob)),
        (b"authstateMeta".to_vec(), set(blob)),
    ]
}

/// A contract operation and its raw baseline.
struct Pair {
    name: &'static str,
    raw_name: &'static str,
    backend: LdapBackend,
    contract: Op,
    raw: Op,
}

struct Row {
    name: &'static str,
    ops: f64,
    per_op: f64,
    raw_name: &'static str,
    raw: f64,
}

async fn run_pair(pair: Pair, secs: Duration, rounds: usize) -> Row {
    let (mut contract, mut raw, mut per_op) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        raw.push(drive(pair.raw.clone(), secs).await);
        let before = pair.backend.operation_count();
        let started = Instant::now();
        let rate = drive(pair.contract.clone(), secs).await;
        let count = rate * started.elapsed().as_secs_f64();
        // Background dds refreshes finish a moment later; give them time to be counted.
        tokio::time::sleep(Duration::from_millis(200)).await;
        per_op.push((pair.backend.operation_count() - before) as f64 / count.max(1.0));
        contract.push(rate);
    }
    Row {
        name: pair.name,
        ops: median(contract),
        per_op: median(per_op),
        raw_name: pair.raw_name,
        raw: median(raw),
    }
}

async fn open(server: &Slapd, ttl: ServerTtl) -> (LdapBackend, Stores) {
    let config = LdapConfig {
        bind: Bind::Simple {
            dn: server.admin_dn(),
            password: SecretString::new(server.admin_password()),
        },
        pool_size: POOL,
        server_ttl: ttl,
        ..LdapConfig::new(server.url(), server.suffix())
    };
    let backend = LdapBackend::connect(config).await.expect("connects");
    let namespace = Namespace::random().expect("namespace");
    backend.migrate(&namespace).await.expect("migrates");
    let stores = backend
        .open(StoreConfig::new(namespace))
        .await
        .expect("opens");
    (backend, stores)
}

fn new_session(t: usize) -> NewSession {
    NewSession {
        subject: format!("user-{t}"),
        data: vec![0x5a; 120],
        lifetime: Duration::from_secs(3600),
        idle_timeout: Some(Duration::from_secs(600)),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let secs = Duration::from_secs_f64(env_f64("AUTHSTATE_BENCH_SECS", 1.0));
    let rounds = env_f64("AUTHSTATE_BENCH_ROUNDS", 3.0).max(1.0) as usize;
    let sync = std::env::var("AUTHSTATE_BENCH_SYNC").is_ok_and(|v| v == "1");
    let mut options = SlapdOptions::authstate();
    if !sync {
        options.database_config.push_str("dbnosync\n");
    }
    let server = require(Slapd::start_with(options));
    let (backend, stores) = open(&server, ServerTtl::None).await;
    let (dds_backend, dds_stores) =
        open(&server, ServerTtl::dds(Duration::from_secs(86_400))).await;
    let raw = Arc::new(Raw::connect(&server).await);
    raw.get()
        .add(
            &raw.base,
            vec![
                (b"objectClass".to_vec(), set(b"organizationalUnit")),
                (b"ou".to_vec(), set(b"raw")),
            ],
        )
        .await
        .expect("raw container");

    // Fixtures: sessions, raw entries and live lockout counters each task cycles over.
    let mut ids: Vec<Vec<SessionId>> = Vec::new();
    let policy = LockoutPolicy {
        max_failures: u32::MAX,
        ..LockoutPolicy::default()
    };
    for t in 0..TASKS {
        let mut mine = Vec::new();
        for n in 0..PER_TASK {
            mine.push(
                stores
                    .sessions
                    .create(new_session(t))
                    .await
                    .expect("create")
                    .id,
            );
            raw.add(&format!("fixture-{t}-{n}")).await;
            stores
                .lockout
                .record_failure(&format!("user-{t}-{n}"), &policy)
                .await
                .expect("first failure");
        }
        ids.push(mine);
    }
    let ids = Arc::new(ids);
    let versions = Arc::new(Mutex::new(vec![vec![1u64; PER_TASK]; TASKS]));

    // Warm-up: page allocation and index growth, so the first scenario is not penalised.
    let r = raw.clone();
    drive(
        Arc::new(move |t, i| {
            let r = r.clone();
            Box::pin(async move { r.add(&format!("warm-{t}-{i}")).await })
        }),
        secs,
    )
    .await;

    let raw_add: Op = {
        let r = raw.clone();
        Arc::new(move |t, i| {
            let r = r.clone();
            Box::pin(async move { r.add(&format!("add-{t}-{i}")).await })
        })
    };
    let raw_search: Op = {
        let r = raw.clone();
        Arc::new(move |t, i| {
            let r = r.clone();
            Box::pin(async move {
                let dn = r.dn(&format!("fixture-{t}-{}", i as usize % PER_TASK));
                let res = r
                    .get()
                    .search(
                        &dn,
                        Scope::Base,
                        "(authstateExpiresAt>=1)",
                        vec![
                            "authstateData",
                            "authstateMeta",
                            "authstateLastActivity",
                            "authstateVersion",
                        ],
                    )
                    .await
                    .expect("raw search");
                assert_eq!(res.1.rc, 0);
                assert_eq!(res.0.len(), 1);
            })
        })
    };
    let raw_modify: Op = {
        let r = raw.clone();
        Arc::new(move |t, i| {
            let r = r.clone();
            Box::pin(async move {
                let dn = r.dn(&format!("fixture-{t}-{}", i as usize % PER_TASK));
                let mods = vec![
                    Mod::Replace(b"authstateData".to_vec(), set(&[0x5b; 160])),
                    Mod::Replace(b"authstateVersion".to_vec(), set(i.to_string().as_bytes())),
                ];
                let res = r.get().modify(&dn, mods).await.expect("raw modify");
                assert_eq!(res.rc, 0);
            })
        })
    };
    // One raw add and one raw modify per iteration: the LDAP work of a put and a take.
    let raw_add_modify: Op = {
        let r = raw.clone();
        Arc::new(move |t, i| {
            let r = r.clone();
            Box::pin(async move {
                let key = format!("pair-{t}-{i}");
                r.add(&key).await;
                let mods = vec![Mod::Replace(b"authstateData".to_vec(), set(b"taken"))];
                let res = r.get().modify(&r.dn(&key), mods).await.expect("modify");
                assert_eq!(res.rc, 0);
            })
        })
    };

    let put_take = |st: Stores| -> Op {
        Arc::new(move |t, i| {
            let st = st.clone();
            Box::pin(async move {
                let handle = format!("code-{t}-{i}");
                st.artifacts
                    .put(&handle, vec![0x42; 120], Duration::from_secs(60))
                    .await
                    .expect("put");
                assert!(matches!(
                    st.artifacts.take(&handle).await.expect("take"),
                    Take::Fresh(_)
                ));
            })
        })
    };

    // The same raw modify carrying the controls the stores send (a critical assertion
    // and a critical post-read): how much of a gap is the server's work for them.
    let raw_modify_controls: Op = {
        let r = raw.clone();
        Arc::new(move |t, i| {
            let r = r.clone();
            Box::pin(async move {
                let dn = r.dn(&format!("fixture-{t}-{}", i as usize % PER_TASK));
                let mods = vec![
                    Mod::Replace(b"authstateData".to_vec(), set(&[0x5b; 160])),
                    Mod::Replace(b"authstateVersion".to_vec(), set(i.to_string().as_bytes())),
                ];
                let mut assertion = Assertion::new("(authstateExpiresAt>=1)");
                assertion.crit = true;
                let mut post_read = PostRead::new(vec!["authstateMeta", "authstateLastActivity"]);
                post_read.crit = true;
                let res = r
                    .get()
                    .with_controls(vec![assertion, post_read])
                    .modify(&dn, mods)
                    .await
                    .expect("raw modify");
                assert_eq!(res.rc, 0);
            })
        })
    };

    let pairs = vec![
        Pair {
            name: "session create",
            raw_name: "add",
            backend: backend.clone(),
            contract: {
                let st = stores.clone();
                Arc::new(move |t, _| {
                    let st = st.clone();
                    Box::pin(async move {
                        st.sessions.create(new_session(t)).await.expect("create");
                    })
                })
            },
            raw: raw_add.clone(),
        },
        Pair {
            name: "session get",
            raw_name: "search",
            backend: backend.clone(),
            contract: {
                let (st, ids) = (stores.clone(), ids.clone());
                Arc::new(move |t, i| {
                    let (st, ids) = (st.clone(), ids.clone());
                    Box::pin(async move {
                        let id = &ids[t][i as usize % PER_TASK];
                        assert!(st.sessions.get(id).await.expect("get").is_some());
                    })
                })
            },
            raw: raw_search,
        },
        Pair {
            name: "session update",
            raw_name: "modify",
            backend: backend.clone(),
            contract: {
                let (st, ids, versions) = (stores.clone(), ids.clone(), versions.clone());
                Arc::new(move |t, i| {
                    let (st, ids, versions) = (st.clone(), ids.clone(), versions.clone());
                    Box::pin(async move {
                        let n = i as usize % PER_TASK;
                        let v = versions.lock().expect("lock")[t][n];
                        let r = st
                            .sessions
                            .update(&ids[t][n], v, vec![0x5b; 120])
                            .await
                            .expect("update");
                        versions.lock().expect("lock")[t][n] = r.version;
                    })
                })
            },
            raw: raw_modify.clone(),
        },
        Pair {
            name: "artifact put+take",
            raw_name: "add+modify",
            backend: backend.clone(),
            contract: put_take(stores.clone()),
            raw: raw_add_modify.clone(),
        },
        Pair {
            name: "lockout failure",
            raw_name: "modify",
            backend: backend.clone(),
            contract: {
                let st = stores.clone();
                Arc::new(move |t, i| {
                    let st = st.clone();
                    Box::pin(async move {
                        st.lockout
                            .record_failure(&format!("user-{t}-{}", i as usize % PER_TASK), &policy)
                            .await
                            .expect("failure");
                    })
                })
            },
            raw: raw_modify.clone(),
        },
        Pair {
            name: "(raw modify + controls)",
            raw_name: "modify",
            backend: backend.clone(),
            contract: raw_modify_controls,
            raw: raw_modify.clone(),
        },
        Pair {
            name: "artifact put+take (dds)",
            raw_name: "add+modify",
            backend: dds_backend.clone(),
            contract: put_take(dds_stores.clone()),
            raw: raw_add_modify,
        },
    ];

    let mut rows = Vec::new();
    for pair in pairs {
        rows.push(run_pair(pair, secs, rounds).await);
    }

    println!(
        "\nauthstate-backend-ldap against slapd 2.5 (back_mdb{}), {TASKS} tasks, {POOL} connections, \
         median of {rounds} alternating rounds of {:.1} s\n",
        if sync { "" } else { ", dbnosync" },
        secs.as_secs_f64()
    );
    println!(
        "{:<26} {:>10} {:>12}   {:<11} {:>10} {:>7}",
        "operation", "ops/s", "LDAP ops/op", "raw ldap3", "ops/s", "ratio"
    );
    for row in &rows {
        println!(
            "{:<26} {:>10.0} {:>12.2}   {:<11} {:>10.0} {:>7.2}",
            row.name,
            row.ops,
            row.per_op,
            row.raw_name,
            row.raw,
            row.ops / row.raw
        );
    }
    drop(server);
}
