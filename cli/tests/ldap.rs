//! The LDAP backend through the binary: a slapd with the authstate schema started by the
//! testkit for each test. Bind DN and password come from a config file, the base DN from
//! the URL's path.

use std::path::Path;

use assert_cmd::Command;
use authstate_testkit::{Slapd, SlapdOptions, require};

/// The binary, with the environment's backend and config settings removed.
fn authstate() -> Command {
    let mut cmd = Command::cargo_bin("authstate").expect("the authstate binary is built");
    cmd.env_remove("AUTHSTATE_BACKEND")
        .env_remove("AUTHSTATE_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

/// `authstate ARGS` in `dir`: exit status, stdout, stderr.
fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = authstate()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `authstate ARGS` in `dir`, which must succeed; its stdout.
fn ok_in(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run_in(dir, args);
    // The failed conformance cases first: a long run's output gets cut in the middle.
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAILED")).collect();
    assert_eq!(
        code,
        0,
        "authstate {args:?}\nfailed:\n{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        failed.join("\n")
    );
    stdout
}

/// A config file for `server` in `dir`: the base DN in the URL, the bind in options.
fn write_config(dir: &Path, server: &Slapd) {
    std::fs::write(
        dir.join("ldap-password"),
        format!("{}\n", server.admin_password()),
    )
    .expect("written");
    std::fs::write(
        dir.join("authstate.toml"),
        format!(
            "[backends.dir]\nurl = \"{}/{}\"\n[backends.dir.options]\nbind_dn = \"{}\"\n\
             password_file = \"ldap-password\"\npool_size = 4\n",
            server.url(),
            server.suffix(),
            server.admin_dn()
        ),
    )
    .expect("written");
}

#[test]
fn migrate_then_bench_and_check_on_slapd() {
    let server = require(Slapd::start_with(SlapdOptions::authstate()));
    let dir = tempfile::tempdir().expect("a temporary folder");
    write_config(dir.path(), &server);
    let config = ["--config", "authstate.toml"];

    // Before `authstate migrate`, the namespace's subtree is missing: said, not created.
    let (code, _, stderr) = run_in(
        dir.path(),
        &[&["bench", "--ops", "10"][..], &config].concat(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("run `authstate migrate`"), "{stderr}");
    assert!(!stderr.contains(server.admin_password()), "{stderr}");

    let stdout = ok_in(dir.path(), &[&["migrate"][..], &config].concat());
    assert!(
        stdout.contains("backend dir (ldap), namespace authstate: the subtree ou=authstate,"),
        "{stdout}"
    );
    assert!(stdout.contains("namespace bench"), "{stdout}");

    let stdout = ok_in(
        dir.path(),
        &[&["bench", "--ops", "200"][..], &config].concat(),
    );
    assert!(
        stdout.starts_with("backend ldap, workload login: 200 iterations"),
        "{stdout}"
    );
    let total = stdout
        .lines()
        .find(|l| l.starts_with("total"))
        .expect("a total row");
    assert!(total.trim_end().ends_with(" 0"), "errors in: {total}");

    let stdout = ok_in(dir.path(), &[&["check"][..], &config].concat());
    assert!(stdout.contains("simple bind"), "{stdout}");
    assert!(stdout.contains("none failed"), "{stdout}");
    assert!(!stdout.contains(server.admin_password()), "{stdout}");
}

#[test]
fn conformance_on_slapd_migrates_and_drops_each_namespace() {
    let server = require(Slapd::start_with(SlapdOptions::authstate()));
    let dir = tempfile::tempdir().expect("a temporary folder");
    write_config(dir.path(), &server);
    let (code, stdout, stderr) = run_in(
        dir.path(),
        &[
            "conformance",
            "--filter",
            "artifact::",
            "--config",
            "authstate.toml",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("passed, 0 failed") && !last.starts_with("0 passed"),
        "{stdout}"
    );
    // Every case passed, so the run dropped every namespace it opened.
    assert!(!stderr.contains("stay in backend"), "{stderr}");
    assert_eq!(namespaces_under_the_base(&server), Vec::<String>::new());
    // The listing sees namespaces where there are some.
    ok_in(dir.path(), &["migrate", "--config", "authstate.toml"]);
    assert!(!namespaces_under_the_base(&server).is_empty());
}

/// The DNs of the `ou=` entries right under the base DN: one per namespace.
fn namespaces_under_the_base(server: &Slapd) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&server.url())
            .await
            .expect("connects");
        ldap3::drive!(conn);
        ldap.simple_bind(&server.admin_dn(), server.admin_password())
            .await
            .and_then(|r| r.success())
            .expect("binds");
        let ldap3::SearchResult(entries, res) = ldap
            .search(
                server.suffix(),
                ldap3::Scope::OneLevel,
                "(objectClass=organizationalUnit)",
                vec!["1.1"],
            )
            .await
            .expect("searches");
        assert_eq!(res.rc, 0, "{res:?}");
        entries
            .into_iter()
            .map(|e| ldap3::SearchEntry::construct(e).dn)
            .collect()
    })
}
