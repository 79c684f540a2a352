//! A native redis-server through the kit: it answers, it is gone after drop, ACLs hold.

use std::net::{TcpListener, TcpStream};
use std::path::Path;

use authstate_testkit::{AclUser, RedisOptions, RedisServer, RespConn, RespReply, require};

fn simple(s: &str) -> RespReply {
    RespReply::Simple(s.to_owned())
}

fn is_error_starting(reply: &RespReply, prefix: &str) -> bool {
    matches!(reply, RespReply::Error(e) if e.starts_with(prefix))
}

#[test]
fn answers_ping_over_raw_tcp() {
    let server = require(RedisServer::start());
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));

    let mut conn = RespConn::connect(server.addr()).expect("connect to redis-server");
    assert_eq!(conn.command(&["PING"]).expect("PING"), simple("PONG"));
    assert_eq!(conn.command(&["SET", "k", "v"]).expect("SET"), simple("OK"));
    assert_eq!(
        conn.command(&["GET", "k"]).expect("GET"),
        RespReply::Bulk(Some(b"v".to_vec()))
    );
    // Persistence is off, so tests never leave dump files behind or wait on fsync.
    assert_eq!(
        conn.command(&["CONFIG", "GET", "save"])
            .expect("CONFIG GET save"),
        RespReply::Array(Some(vec![
            RespReply::Bulk(Some(b"save".to_vec())),
            RespReply::Bulk(Some(Vec::new())),
        ]))
    );
    assert!(
        server.log().contains("Ready to accept connections"),
        "{}",
        server.log()
    );
}

#[test]
fn drop_kills_the_process_and_frees_the_port() {
    let server = require(RedisServer::start());
    let addr = server.addr();
    let pid = server.native().pid();
    let dir = server.native().dir().to_path_buf();
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    drop(server);

    // Reaped, not a zombie: the /proc entry disappears only after wait().
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "{addr} still accepts connections"
    );
    TcpListener::bind(addr).expect("the port is free again");
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

#[test]
fn acl_user_needs_the_right_password() {
    let server = require(RedisServer::start_with(RedisOptions {
        user: Some(AclUser::new("app", "right-pw").keys("ns:*")),
        default_user_off: true,
        ..RedisOptions::default()
    }));
    assert_eq!(
        server.user_url().as_deref(),
        Some(format!("redis://app:right-pw@127.0.0.1:{}", server.port()).as_str())
    );

    let mut conn = RespConn::connect(server.addr()).expect("connect");
    let reply = conn.command(&["PING"]).expect("PING");
    assert!(is_error_starting(&reply, "NOAUTH"), "{reply:?}");
    let reply = conn.command(&["AUTH", "app", "wrong-pw"]).expect("AUTH");
    assert!(is_error_starting(&reply, "WRONGPASS"), "{reply:?}");
    let reply = conn
        .command(&["AUTH", "default", ""])
        .expect("AUTH default");
    assert!(is_error_starting(&reply, "WRONGPASS"), "{reply:?}");

    assert_eq!(
        conn.command(&["AUTH", "app", "right-pw"]).expect("AUTH"),
        simple("OK")
    );
    assert_eq!(
        conn.command(&["SET", "ns:1", "v"]).expect("SET"),
        simple("OK")
    );
    let reply = conn.command(&["SET", "other:1", "v"]).expect("SET");
    assert!(is_error_starting(&reply, "NOPERM"), "{reply:?}");
}
