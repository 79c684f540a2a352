//! The generic native-process provider: missing binaries, early exits, timeouts.

use std::io;
use std::time::Duration;

use authstate_testkit::redis::{REDIS_SERVER, ping_probe};
use authstate_testkit::{NativeServer, Program, RedisOptions, RedisServer, TestkitError, require};

const MISSING: Program = Program::new("authstate-no-such-server", "authstate-no-such-package");

#[test]
fn missing_binary_is_an_error_naming_the_package() {
    let err = NativeServer::launch(MISSING)
        .start(|_| Ok(Vec::new()), |_| Ok(()))
        .expect_err("the binary does not exist");
    assert!(matches!(err, TestkitError::NotInstalled { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "authstate-no-such-server not found on PATH: install it with \
         `apt-get install -y authstate-no-such-package` (Debian package authstate-no-such-package)"
    );
}

#[test]
fn redis_server_hint_has_the_documented_wording() {
    let err = TestkitError::NotInstalled {
        program: REDIS_SERVER.name().to_owned(),
        packages: REDIS_SERVER.packages().to_owned(),
        also_searched: String::new(),
    };
    assert_eq!(
        err.to_string(),
        "redis-server not found on PATH: install it with `apt-get install -y redis-server` \
         (Debian package redis-server)"
    );
}

#[test]
fn require_turns_the_error_into_a_failing_test_with_the_message() {
    let panic = std::panic::catch_unwind(|| {
        require(NativeServer::launch(MISSING).start(|_| Ok(Vec::new()), |_| Ok(())))
    })
    .expect_err("require must panic");
    let message = panic
        .downcast_ref::<String>()
        .expect("panic message is a String");
    assert!(
        message.contains("apt-get install -y authstate-no-such-package"),
        "{message}"
    );
}

#[test]
fn a_server_that_exits_early_reports_its_log() {
    let err = RedisServer::start_with(RedisOptions {
        extra_args: vec!["--no-such-directive".to_owned(), "1".to_owned()],
        ..RedisOptions::default()
    })
    .expect_err("redis-server rejects the directive");
    match &err {
        TestkitError::Exited { log_tail, .. } => {
            assert!(log_tail.contains("no-such-directive"), "{log_tail}");
        }
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[test]
fn a_server_that_never_answers_times_out_and_is_stopped() {
    let mut port = 0;
    let err = NativeServer::launch(REDIS_SERVER)
        .ready_timeout(Duration::from_millis(300))
        .start(
            |dir| {
                port = dir.port();
                Ok(vec![
                    "--port".into(),
                    dir.port().to_string().into(),
                    "--save".into(),
                    "".into(),
                ])
            },
            |_| Err(io::Error::other("probe says no")),
        )
        .expect_err("the probe never succeeds");
    match &err {
        TestkitError::NotReady { last_error, .. } => assert_eq!(last_error, "probe says no"),
        other => panic!("expected NotReady, got {other:?}"),
    }
    assert!(
        ping_probe(([127, 0, 0, 1], port).into()).is_err(),
        "server left running"
    );
}
