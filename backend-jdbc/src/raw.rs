//! Every stored byte of a namespace, and damage to its sealed records: what the
//! conformance suite's at-rest and tamper cases look at (see
//! [`crate::SqlBackend::dump`] and [`crate::SqlBackend::tamper`]).

use authstate_core::{Contract, Namespace, Result};

use crate::connection::{Arg, Db, Row};
use crate::dialect::{Stmt, Tables};

/// One stored row, as [`crate::SqlBackend::dump`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// `table/` and the row's key (hex for a byte key, decimal for a number).
    pub key: Vec<u8>,
    /// Every other column: `name=` and the stored bytes (numbers in decimal), one per
    /// line.
    pub value: Vec<u8>,
}

/// How a column is read for a dump.
#[derive(Debug, Clone, Copy)]
enum Col {
    Bytes,
    Int,
    OptBytes,
    OptInt,
}

use Col::{Bytes, Int, OptBytes, OptInt};

/// Each table with its columns; the first is the key.
const LAYOUT: &[(&str, &[(&str, Col)])] = &[
    ("schema_version", &[("version", Int), ("applied_at", Int)]),
    (
        "sessions",
        &[
            ("k", Bytes),
            ("subject_hash", Bytes),
            ("version", Int),
            ("last_activity", Int),
            ("abs_expires_at", Int),
            ("idle_ms", OptInt),
            ("expires_at", Int),
            ("data", Bytes),
            ("meta", OptBytes),
        ],
    ),
    (
        "artifacts",
        &[
            ("k", Bytes),
            ("expires_at", Int),
            ("taken_at", OptInt),
            ("data", Bytes),
        ],
    ),
    (
        "state",
        &[("k", Bytes), ("expires_at", Int), ("data", Bytes)],
    ),
    (
        "replay",
        &[("k", Bytes), ("expires_at", Int), ("recorded_at", Int)],
    ),
    (
        "lockout",
        &[
            ("k", Bytes),
            ("failures", Int),
            ("locked_until", OptInt),
            ("expires_at", Int),
        ],
    ),
    (
        "key_sets",
        &[("k", Bytes), ("version", Int), ("data", Bytes)],
    ),
    (
        "revocations",
        &[
            ("k", Bytes),
            ("kind", Int),
            ("before_at", OptInt),
            ("expires_at", Int),
        ],
    ),
    (
        "revocation_feed",
        &[
            ("seq", Int),
            ("kind", Int),
            ("k", Bytes),
            ("before_at", OptInt),
            ("expires_at", Int),
        ],
    ),
    ("revocation_seq", &[("id", Int), ("last", Int)]),
    (
        "tokens",
        &[
            ("k", Bytes),
            ("subject_hash", Bytes),
            ("client_hash", Bytes),
            ("grant_hash", OptBytes),
            ("expires_at", Int),
            ("data", Bytes),
        ],
    ),
    (
        "registry",
        &[
            ("k", Bytes),
            ("subject_hash", Bytes),
            ("expires_at", Int),
            ("data", Bytes),
        ],
    ),
    (
        "leases",
        &[("k", Bytes), ("holder", Bytes), ("expires_at", Int)],
    ),
];

/// The bytes of one column of `row`.
fn column(row: &Row, i: usize, col: Col, hex_bytes: bool) -> Result<Vec<u8>> {
    let bytes = |b: Vec<u8>| {
        if hex_bytes {
            hex::encode(b).into_bytes()
        } else {
            b
        }
    };
    Ok(match col {
        Bytes => bytes(row.bytes(i)?),
        OptBytes => row
            .opt_bytes(i)?
            .map(bytes)
            .unwrap_or_else(|| b"NULL".to_vec()),
        Int => row.int(i)?.to_string().into_bytes(),
        OptInt => row
            .opt_int(i)?
            .map_or_else(|| b"NULL".to_vec(), |v| v.to_string().into_bytes()),
    })
}

/// Every row of every table of `namespace`.
pub(crate) async fn dump(db: &Db, namespace: &Namespace) -> Result<Vec<RawEntry>> {
    let t = Tables::new(db.dialect, namespace);
    let mut out = Vec::new();
    for (table, columns) in LAYOUT {
        let Some(name) = t.get(table) else { continue };
        let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        let stmt = Stmt::new(
            db.dialect,
            format!("SELECT {} FROM {name}", names.join(", ")),
        );
        for row in db.fetch_all(&stmt, &[]).await? {
            let mut key = format!("{table}/").into_bytes();
            let mut value = Vec::new();
            for (i, (col_name, col)) in columns.iter().enumerate() {
                if i == 0 {
                    key.extend(column(&row, i, *col, true)?);
                    continue;
                }
                value.extend_from_slice(col_name.as_bytes());
                value.push(b'=');
                value.extend(column(&row, i, *col, false)?);
                value.push(b'\n');
            }
            out.push(RawEntry { key, value });
        }
    }
    Ok(out)
}

/// The table holding `contract`'s sealed records, if its records are sealed.
fn sealed_table(contract: Contract) -> Option<&'static str> {
    match contract {
        Contract::Session => Some("sessions"),
        Contract::Artifact => Some("artifacts"),
        Contract::State => Some("state"),
        Contract::Key => Some("key_sets"),
        Contract::Token => Some("tokens"),
        Contract::Registry => Some("registry"),
        // Counters, replay entries and revocations carry no payload: nothing is sealed.
        _ => None,
    }
}

/// Flips one byte of the sealed `data` of every `contract` row; returns how many.
pub(crate) async fn tamper(db: &Db, namespace: &Namespace, contract: Contract) -> Result<usize> {
    let Some(table) = sealed_table(contract) else {
        return Ok(0);
    };
    let t = Tables::new(db.dialect, namespace);
    let Some(name) = t.get(table) else {
        return Ok(0);
    };
    let select = Stmt::new(db.dialect, format!("SELECT k, data FROM {name}"));
    let update = Stmt::new(
        db.dialect,
        format!("UPDATE {name} SET data = $2 WHERE k = $1"),
    );
    let mut altered = 0;
    for row in db.fetch_all(&select, &[]).await? {
        let key = row.bytes(0)?;
        let mut blob = row.bytes(1)?;
        // Byte 1 of an envelope is its algorithm: 0 for plaintext, which has no tag, so
        // its version byte is flipped; a sealed envelope's last byte (in the tag) is.
        let at = if blob.get(1).is_some_and(|&alg| alg != 0) {
            blob.len().saturating_sub(1)
        } else {
            0
        };
        if let Some(byte) = blob.get_mut(at) {
            *byte ^= 0x01;
            db.execute(&update, &[Arg::Bytes(&key), Arg::Bytes(&blob)])
                .await?;
            altered += 1;
        }
    }
    Ok(altered)
}
