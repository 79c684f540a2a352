//! The whole conformance suite as an ACL user confined to the suite's namespaces, with
//! the least privilege the backend needs, on a server whose `default` user is off.
//!
//! The suite opens a fresh random namespace (`t` and 16 hex digits) per case, so the user
//! may touch `~as:t*`: every key of a namespace `t…` starts with `as:t…:` (see the crate's
//! `keys` module). It may run only the commands the backend sends ([`CLIENT_COMMANDS`])
//! and those its scripts call ([`SCRIPT_COMMANDS`]), and no pub/sub channel. `dump` and
//! `tamper` (which `SCAN`, `TYPE` and rewrite keys) connect as a second, unrestricted
//! user.
//!
//! Run: `cargo nextest run -p authstate-backend-redis --test conformance_acl`.

mod common;

use std::sync::{Arc, Mutex, Weak};

use authstate_backend_redis::{RedisConfig, RedisConnection};
use authstate_conformance::conformance_tests;
use authstate_core::{ErrorKind, SecretString};
use authstate_testkit::{RedisOptions, RedisServer, require};

use common::{ConfiguredHarness, shared, suite_options};

const USER: &str = "authstate";
const PASSWORD: &str = "acl-suite-pw";
const ADMIN: &str = "suite-admin";
const ADMIN_PASSWORD: &str = "acl-admin-pw";

/// The key pattern: the suite's namespaces (`Namespace::random` starts them with `t`).
const KEY_PATTERN: &str = "as:t*";

/// What the backend sends itself: scripts (and their reload), the reads that are plain
/// commands, replay's `SET … NX GET`, purge's `SCAN`, `PING` when connecting. (`AUTH` is always allowed; `SELECT` is sent only
/// for a database other than 0; `ROLE` only with Sentinel, `WAIT` only in the
/// durable-write mode.)
const CLIENT_COMMANDS: &[&str] = &[
    "evalsha",
    "script|load",
    "get",
    "set",
    "scan",
    "mget",
    "hmget",
    "hgetall",
    "zrange",
    "del",
    "ping",
];

/// What the scripts call (`redis.call`): an ACL user needs these too.
const SCRIPT_COMMANDS: &[&str] = &[
    "set",
    "get",
    "type",
    "del",
    "exists",
    "incr",
    "pexpire",
    "pttl",
    "hset",
    "hget",
    "hmget",
    "hdel",
    "hgetall",
    "zadd",
    "zrem",
    "zrange",
    "zremrangebyscore",
];

/// The server the tests of this binary share while any of them runs.
static SERVER: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

fn user_rules() -> Vec<String> {
    let mut rules = vec![
        "--user".to_owned(),
        USER.to_owned(),
        "reset".to_owned(),
        "on".to_owned(),
        format!(">{PASSWORD}"),
        format!("~{KEY_PATTERN}"),
        "resetchannels".to_owned(),
        "-@all".to_owned(),
    ];
    let mut commands: Vec<&str> = CLIENT_COMMANDS
        .iter()
        .chain(SCRIPT_COMMANDS)
        .copied()
        .collect();
    commands.sort_unstable();
    commands.dedup();
    rules.extend(commands.into_iter().map(|c| format!("+{c}")));
    rules
}

fn server() -> Arc<RedisServer> {
    shared(&SERVER, || {
        let mut extra_args = user_rules();
        extra_args.extend(
            [
                "--user",
                ADMIN,
                "reset",
                "on",
                &format!(">{ADMIN_PASSWORD}"),
                "~*",
                "&*",
                "+@all",
            ]
            .map(str::to_owned),
        );
        require(RedisServer::start_with(RedisOptions {
            user: None,
            default_user_off: true,
            extra_args,
        }))
    })
}

fn config(server: &RedisServer, user: &str, password: &str) -> RedisConfig {
    RedisConfig {
        username: Some(user.to_owned()),
        password: Some(SecretString::new(password)),
        ..RedisConfig::from_host(server.host(), server.port())
    }
}

/// The factory the conformance macro calls in every test.
async fn harness() -> ConfiguredHarness {
    let server = server();
    let user = config(&server, USER, PASSWORD);
    let admin = config(&server, ADMIN, ADMIN_PASSWORD);
    ConfiguredHarness::new(server, user, admin, suite_options())
}

conformance_tests!(harness);

/// The suite above proves nothing about the restriction unless it holds: the user cannot
/// read or write a key outside its pattern, nor run a command it was not given, and
/// nobody gets in without a password.
#[tokio::test]
async fn the_user_is_confined() {
    let server = server();
    let conn = RedisConnection::connect(&config(&server, USER, PASSWORD))
        .await
        .expect("connect as the restricted user");
    for cmd in [
        redis::cmd("GET").arg("other:key").clone(),
        redis::cmd("SET").arg("as:other:x").arg("v").clone(),
        redis::cmd("KEYS").arg("*").clone(),
        redis::cmd("FLUSHALL").clone(),
        redis::cmd("CONFIG").arg("GET").arg("*").clone(),
    ] {
        let err = conn
            .query::<redis::Value>(&cmd)
            .await
            .expect_err("a command the user may not run");
        // A refusal for lack of permission is a setting to fix, not an outage.
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
        assert!(err.to_string().contains("NoPerm"), "{err}");
    }
    let mine: Option<String> = conn
        .query(redis::cmd("GET").arg("as:t0:x"))
        .await
        .expect("a key of the pattern");
    assert_eq!(mine, None);

    let err = RedisConnection::connect(&RedisConfig::from_host(server.host(), server.port()))
        .await
        .expect_err("the default user is off");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
}
