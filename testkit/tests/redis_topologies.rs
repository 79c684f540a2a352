//! The Redis topologies of the kit, checked with raw RESP and `redis-cli`: TLS (with and
//! without client certificates), a primary + replica + three sentinels that fail over,
//! and a three-primary cluster.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use authstate_testkit::{
    AclUser, RedisCluster, RedisSentinelSet, RespConn, RespReply, SentinelOptions, TlsMaterial,
    TlsRedisOptions, TlsRedisServer, require,
};

fn command(addr: SocketAddr, args: &[&str]) -> RespReply {
    RespConn::connect(addr)
        .and_then(|mut conn| conn.command(args))
        .unwrap_or_else(|e| panic!("{} on {addr}: {e}", args.join(" ")))
}

fn bulk_text(reply: &RespReply) -> String {
    match reply {
        RespReply::Bulk(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

#[test]
fn generated_certificates_are_pem_and_distinct() {
    let a = require(TlsMaterial::generate());
    let b = require(TlsMaterial::generate());
    for pem in [&a.ca_pem, &a.server_cert_pem, &a.client_cert_pem] {
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    }
    for pem in [&a.server_key_pem, &a.client_key_pem] {
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    assert_ne!(a.ca_pem, b.ca_pem, "every server gets its own CA");
    assert!(!format!("{a:?}").contains("PRIVATE KEY"));
}

#[test]
fn tls_server_speaks_only_tls() {
    let server = require(TlsRedisServer::start());
    assert_eq!(
        server.url(),
        format!("rediss://127.0.0.1:{}", server.port())
    );
    assert!(
        server.log().contains("Ready to accept connections"),
        "{}",
        server.log()
    );
    // No client certificate asked for.
    let out = require(server.redis_cli(false, &["PING"]));
    assert!(out.contains("PONG"), "{out}");
    // Plain RESP on the TLS port gets no PONG.
    let plain = RespConn::connect(server.addr()).and_then(|mut c| c.command(&["PING"]));
    assert!(
        !matches!(plain, Ok(RespReply::Simple(ref s)) if s == "PONG"),
        "{plain:?}"
    );
    for file in [
        &server.files().ca,
        &server.files().client_cert,
        &server.files().client_key,
    ] {
        assert!(Path::new(file).is_file(), "{}", file.display());
    }
}

#[test]
fn tls_server_can_require_client_certificates() {
    let server = require(TlsRedisServer::start_with(TlsRedisOptions {
        require_client_cert: true,
        user: Some(AclUser::new("app", "tls-pw")),
        default_user_off: true,
        ..TlsRedisOptions::default()
    }));
    let out = require(server.redis_cli(true, &["--user", "app", "--pass", "tls-pw", "PING"]));
    assert!(out.contains("PONG"), "{out}");
    let out = require(server.redis_cli(false, &["--user", "app", "--pass", "tls-pw", "PING"]));
    assert!(
        !out.contains("PONG"),
        "a client without a certificate got in: {out}"
    );
}

#[test]
fn sentinels_monitor_the_primary_and_fail_over_when_it_dies() {
    let mut set = require(RedisSentinelSet::start());
    let primary = set.initial_primary_addr();
    assert_eq!(require(set.master_addr()), primary);
    let sentinels = set.sentinel_addrs();
    assert_eq!(sentinels.len(), 3);
    assert_eq!(
        set.url(),
        format!(
            "redis+sentinel://{},{},{}/authstate",
            sentinels[0], sentinels[1], sentinels[2]
        )
    );
    // Written on the primary, seen on the replica.
    assert_eq!(
        command(primary, &["SET", "k", "v"]),
        RespReply::Simple("OK".into())
    );
    let replica = set.replica_addr();
    let mut seen = RespReply::Bulk(None);
    for _ in 0..50 {
        seen = command(replica, &["GET", "k"]);
        if seen == RespReply::Bulk(Some(b"v".to_vec())) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(seen, RespReply::Bulk(Some(b"v".to_vec())));

    let killed = set.kill_primary().expect("the primary was running");
    assert_eq!(killed, primary);
    assert!(set.kill_primary().is_none());
    let started = std::time::Instant::now();
    let promoted = set
        .wait_for_failover(killed, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", set.logs()));
    eprintln!("failover took {:?}", started.elapsed());
    assert_eq!(promoted, replica);
    let role = bulk_text(&command(promoted, &["INFO", "replication"]));
    assert!(role.contains("role:master"), "{role}");
}

#[test]
fn sentinels_switch_over_on_request() {
    let set = require(RedisSentinelSet::start());
    let old = require(set.request_failover());
    assert_eq!(old, set.initial_primary_addr());
    let promoted = set
        .wait_for_failover(old, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", set.logs()));
    assert_eq!(promoted, set.replica_addr());
}

#[test]
fn sentinels_with_a_password_and_an_acl_user_on_the_data_nodes() {
    let set = require(RedisSentinelSet::start_with(SentinelOptions {
        master_name: "guarded".into(),
        sentinel_password: Some("sentinel-pw".into()),
        data_user: Some(AclUser::new("app", "data-pw")),
        ..SentinelOptions::default()
    }));
    assert_eq!(require(set.master_addr()), set.initial_primary_addr());
    let reply = command(set.sentinel_addrs()[0], &["SENTINEL", "MASTERS"]);
    assert!(
        matches!(&reply, RespReply::Error(e) if e.starts_with("NOAUTH")),
        "{reply:?}"
    );
    let reply = command(set.initial_primary_addr(), &["PING"]);
    assert!(
        matches!(&reply, RespReply::Error(e) if e.starts_with("NOAUTH")),
        "{reply:?}"
    );
}

#[test]
fn three_primaries_serve_every_slot() {
    let cluster = require(RedisCluster::start());
    let addrs = cluster.addrs();
    assert_eq!(addrs.len(), 3);
    assert!(cluster.url().starts_with("redis+cluster://127.0.0.1:"));
    for node in cluster.nodes() {
        assert_ne!(node.bus_port(), node.addr().port());
        let info = bulk_text(&command(node.addr(), &["CLUSTER", "INFO"]));
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");
    }
    // A key lives on exactly one node; the others redirect.
    let mut owners = 0;
    for addr in &addrs {
        match command(*addr, &["SET", "{user1}:k", "v"]) {
            RespReply::Simple(ok) if ok == "OK" => owners += 1,
            RespReply::Error(e) if e.starts_with("MOVED") => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(owners, 1);
}
