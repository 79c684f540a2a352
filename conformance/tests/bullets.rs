//! Every promise in the contracts has its case: each `# Behavior` bullet of
//! `core/src/contracts/*.rs` names a conformance case that must exist, in its contract's
//! group (or in `concurrency` for the races), under exactly that name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The group a contract file's bullets belong to; `mod.rs` splits by prefix.
fn group_of(file_stem: &str, bullet: &str) -> Option<&'static str> {
    Some(match file_stem {
        "session" => "session",
        "artifact" => "artifact",
        "state" => "state",
        "replay" => "replay",
        "lockout" => "lockout",
        "keys" => "keys",
        "revocation" => "revocation",
        "token" => "token",
        "registry" => "registry",
        "mod" if bullet.starts_with("purge_") => "purge",
        "mod" if bullet.starts_with("lease_") => "lease",
        _ => return None,
    })
}

/// The bullet names of one file: doc-comment lines of the form ``/// - `name`: …``.
fn bullet_names(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("/// - `")?;
            let (name, after) = rest.split_once('`')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            (is_name && after.starts_with(':')).then(|| name.to_string())
        })
        .collect()
}

/// Every (group, bullet) pair of the contracts, with the file it came from.
fn bullets() -> Vec<(&'static str, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src/contracts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the nine contract files and mod.rs in {}",
        dir.display()
    );
    let mut out = Vec::new();
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 file name")
            .to_string();
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let names = bullet_names(&source);
        assert!(
            !names.is_empty(),
            "no `# Behavior` bullets found in {} (did the bullet format change?)",
            path.display()
        );
        for name in names {
            let group = group_of(&stem, &name).unwrap_or_else(|| {
                panic!("bullet `{name}` in {stem}.rs maps to no conformance group")
            });
            out.push((group, name, format!("{stem}.rs")));
        }
    }
    out
}

#[test]
fn every_behavior_bullet_has_a_case_of_that_name() {
    let cases: BTreeSet<(String, String)> = authstate_conformance::all_cases()
        .iter()
        .map(|c| (c.group.to_string(), c.name.to_string()))
        .collect();
    let has = |group: &str, name: &str| cases.contains(&(group.to_string(), name.to_string()));
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let all = bullets();
    for (group, name, file) in &all {
        if !has(group, name) && !has("concurrency", name) {
            missing
                .entry(group)
                .or_default()
                .push(format!("{name} (from {file})"));
        }
    }
    let total: usize = missing.values().map(Vec::len).sum();
    assert!(
        missing.is_empty(),
        "{total} of {} behaviour bullets have no conformance case of that name in their \
         group (or in `concurrency`):\n{}",
        all.len(),
        missing
            .iter()
            .map(|(group, names)| format!("  {group}:\n    {}", names.join("\n    ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_suite_is_large_and_names_are_unique() {
    let cases = authstate_conformance::all_cases();
    let mut seen = BTreeSet::new();
    let duplicates: Vec<String> = cases
        .iter()
        .map(|c| c.full_name())
        .filter(|name| !seen.insert(name.clone()))
        .collect();
    assert!(
        duplicates.is_empty(),
        "cases listed more than once: {duplicates:?}"
    );
    assert!(
        cases.len() >= 150,
        "the suite has only {} cases; every bullet, expiry edge, race, at-rest and \
         durability check should give at least 150",
        cases.len()
    );
}

#[test]
fn bullet_parser_reads_the_documented_format() {
    let source = "    /// # Behavior\n    /// - `take_is_fresh_once`: the first take.\n    \
                  ///   continued `not_a_bullet`: text\n    /// - `Not a name`: x\n    \
                  // - `plain_comment`: ignored\n    /// - `lease_has_one_holder`: one.\n";
    assert_eq!(
        bullet_names(source),
        vec!["take_is_fresh_once", "lease_has_one_holder"]
    );
    assert_eq!(group_of("mod", "purge_runs_in_batches"), Some("purge"));
    assert_eq!(group_of("mod", "lease_release_frees_it"), Some("lease"));
    assert_eq!(group_of("mod", "something_else"), None);
    assert_eq!(group_of("keys", "load_unknown_is_none"), Some("keys"));
}
