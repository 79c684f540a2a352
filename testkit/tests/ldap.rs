//! `Slapd`: the authstate preset (schema, `dds`), restarts on the same data directory,
//! and stop. Checked with the `ldap-utils` command-line tools, so the kit's own tests
//! need no LDAP client library.

use std::process::Command;

use authstate_testkit::{Slapd, SlapdOptions, require};

/// Runs an ldap-utils tool against `server` as the root DN; returns stdout, or the
/// tool's output on failure.
fn tool(server: &Slapd, name: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    use std::io::Write;
    let mut command = Command::new(name);
    command
        .args(["-x", "-H", &server.url(), "-D", &server.admin_dn()])
        .args(["-w", server.admin_password()])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("{name} not runnable (apt-get install -y ldap-utils): {e}"))?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(input.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn add_record(server: &Slapd) -> Result<String, String> {
    let suffix = server.suffix();
    tool(
        server,
        "ldapadd",
        &[],
        Some(&format!(
            "dn: ou=ns,{suffix}\nobjectClass: organizationalUnit\nou: ns\n\n\
             dn: authstateKey=abc,ou=ns,{suffix}\nobjectClass: authstateArtifact\n\
             objectClass: dynamicObject\nauthstateKey: abc\nauthstateExpiresAt: 42\n\
             authstateData:: AQBoaQ==\n"
        )),
    )
}

fn find_record(server: &Slapd) -> Result<String, String> {
    tool(
        server,
        "ldapsearch",
        &[
            "-LLL",
            "-b",
            &format!("ou=ns,{}", server.suffix()),
            "(authstateExpiresAt<=42)",
            "authstateKey",
            "entryTtl",
        ],
        None,
    )
}

#[test]
fn authstate_preset_loads_schema_and_dds() {
    let server = require(Slapd::start_with(SlapdOptions::authstate()));
    add_record(&server).expect("an authstate dynamic entry is accepted");
    let found = find_record(&server).expect("searchable");
    assert!(found.contains("authstateKey: abc"), "{found}");
    // A dynamicObject gets the default (maximum) TTL from the dds overlay.
    assert!(found.contains("entryTtl: 86400"), "{found}");
    let root = tool(
        &server,
        "ldapsearch",
        &["-LLL", "-b", "", "-s", "base", "+"],
        None,
    )
    .expect("root DSE");
    assert!(
        root.contains("dynamicSubtrees: dc=authstate,dc=test"),
        "{root}"
    );
}

#[test]
fn stock_server_refuses_authstate_entries() {
    let server = require(Slapd::start());
    let err = add_record(&server).expect_err("no authstate schema");
    assert!(err.contains("authstate"), "{err}");
}

#[test]
fn restart_keeps_the_data_and_moves_the_port() {
    let mut server = require(Slapd::start_with(SlapdOptions::authstate()));
    add_record(&server).expect("added");
    let data = server.data_dir().to_path_buf();
    server.restart().expect("restarts");
    assert!(server.is_running());
    assert_eq!(server.data_dir(), data);
    let found = find_record(&server).expect("searchable after restart");
    assert!(found.contains("authstateKey: abc"), "{found}");
    // Stopped, it refuses connections; started again, the data is still there.
    server.stop();
    assert!(!server.is_running());
    assert!(find_record(&server).is_err());
    server.restart().expect("starts again");
    assert!(find_record(&server).expect("again").contains("abc"));
}

#[test]
fn data_directory_is_removed_on_drop() {
    let server = require(Slapd::start_with(SlapdOptions::authstate()));
    let data = server.data_dir().to_path_buf();
    assert!(data.join("data.mdb").exists());
    drop(server);
    assert!(!data.exists());
}

#[test]
fn without_base_entry_leaves_the_suffix_empty() {
    let server = require(Slapd::start_with(SlapdOptions {
        without_base_entry: true,
        ..SlapdOptions::authstate()
    }));
    let err = tool(
        &server,
        "ldapsearch",
        &["-LLL", "-b", server.suffix(), "-s", "base"],
        None,
    )
    .expect_err("no base entry");
    assert!(err.contains("No such object"), "{err}");
}
