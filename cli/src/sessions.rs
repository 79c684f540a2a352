//! `authstate sessions list|revoke --subject S`: a user's sessions, and ending them all.

use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use authstate::{SessionStore, Timestamp};
use serde::Serialize;

use crate::backend::{Schema, open_backend};
use crate::cli::{SessionsListArgs, SubjectArgs};
use crate::config::Config;
use crate::error::CliError;
use crate::services::Service;

/// A session as listed: never its id (the store has only the id's keyed hash) and never
/// its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    /// The keyed hash of the session id, hex.
    pub id_hash: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// RFC 3339, UTC.
    pub last_activity: String,
    /// When it ends (the idle timeout counts), RFC 3339, UTC.
    pub expires: String,
    /// The idle timeout in seconds, if any.
    pub idle_timeout_secs: Option<u64>,
    /// Starts at 1; every update adds 1.
    pub version: u64,
}

/// The live sessions of `subject`, oldest first.
pub async fn list(store: &dyn SessionStore, subject: &str) -> authstate::Result<Vec<SessionRow>> {
    let mut sessions = store.list_by_subject(subject).await?;
    sessions.sort_by_key(|s| (s.record.created_at, s.id_hash));
    Ok(sessions
        .into_iter()
        .map(|s| SessionRow {
            id_hash: s.id_hash.to_hex(),
            created: rfc3339(s.record.created_at),
            last_activity: rfc3339(s.record.last_activity),
            expires: rfc3339(s.record.effective_expiry()),
            idle_timeout_secs: s.record.idle_timeout.map(|d| d.as_secs()),
            version: s.record.version,
        })
        .collect())
}

/// Ends every session of `subject`; returns how many there were.
pub async fn revoke(store: &dyn SessionStore, subject: &str) -> authstate::Result<u64> {
    store.delete_by_subject(subject).await
}

/// The first second of the year 10000, which RFC 3339 cannot write (and `humantime`
/// refuses to format).
const YEAR_10000: u64 = 253_402_300_800;

fn rfc3339(t: Timestamp) -> String {
    let ms = u64::try_from(t.as_millis()).unwrap_or(0);
    if ms / 1000 >= YEAR_10000 {
        return "never".into();
    }
    match UNIX_EPOCH.checked_add(Duration::from_millis(ms)) {
        Some(time) => humantime::format_rfc3339_seconds(time).to_string(),
        None => "never".into(),
    }
}

/// Opens only the backend that holds sessions.
async fn open_sessions(config: &Config) -> Result<std::sync::Arc<dyn SessionStore>, CliError> {
    let spec = config.backend_of(Service::Sessions).ok_or_else(|| {
        CliError::Failed("internal error: the sessions backend is not defined".into())
    })?;
    let store_config = config.store_config(config.namespace.clone());
    Ok(open_backend(spec, store_config, Schema::Require)
        .await?
        .stores
        .sessions)
}

/// `authstate sessions list`
pub fn run_list(config: &Config, args: &SessionsListArgs) -> Result<(), CliError> {
    let runtime = crate::runtime()?;
    let rows = runtime.block_on(async {
        let store = open_sessions(config).await?;
        Ok::<_, CliError>(list(store.as_ref(), &args.subject.subject).await?)
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({
            "subject": args.subject.subject,
            "namespace": config.namespace.as_str(),
            "sessions": rows,
        });
        serde_json::to_writer_pretty(&mut out, &doc)
            .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &rows)?;
    }
    out.flush()?;
    Ok(())
}

/// `authstate sessions revoke`
pub fn run_revoke(config: &Config, args: &SubjectArgs) -> Result<(), CliError> {
    let runtime = crate::runtime()?;
    let count = runtime.block_on(async {
        let store = open_sessions(config).await?;
        Ok::<_, CliError>(revoke(store.as_ref(), &args.subject).await?)
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "revoked {count} session{} of subject {:?} in namespace {}",
        if count == 1 { "" } else { "s" },
        args.subject,
        config.namespace
    )?;
    out.flush()?;
    Ok(())
}

fn write_table(out: &mut impl std::io::Write, rows: &[SessionRow]) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no live sessions");
    }
    writeln!(
        out,
        "{:<64}  {:<20}  {:<20}  {:<20}  VERSION",
        "ID HASH", "CREATED", "LAST ACTIVITY", "EXPIRES"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<64}  {:<20}  {:<20}  {:<20}  {}",
            r.id_hash, r.created, r.last_activity, r.expires, r.version
        )?;
    }
    writeln!(
        out,
        "{} live session{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use authstate::{MemoryBackend, Namespace, NewSession, StoreConfig};

    use super::*;

    #[tokio::test]
    async fn list_then_revoke_a_subjects_sessions() {
        let stores = MemoryBackend::new()
            .open(StoreConfig::new(
                Namespace::new("sessions-test").expect("valid"),
            ))
            .expect("opens");
        let new = |subject: &str| NewSession {
            subject: subject.into(),
            data: b"secret-session-data".to_vec(),
            lifetime: Duration::from_secs(3600),
            idle_timeout: Some(Duration::from_secs(600)),
        };
        let a = stores.sessions.create(new("alice")).await.expect("created");
        stores.sessions.create(new("alice")).await.expect("created");
        stores.sessions.create(new("bob")).await.expect("created");

        let rows = list(stores.sessions.as_ref(), "alice")
            .await
            .expect("lists");
        assert_eq!(rows.len(), 2);
        for r in &rows {
            assert_eq!(r.id_hash.len(), 64);
            assert_eq!(r.version, 1);
            assert_eq!(r.idle_timeout_secs, Some(600));
            assert!(r.created.ends_with('Z'), "{}", r.created);
            assert!(r.expires > r.created);
        }
        // Neither the id nor the data is shown.
        let mut out = Vec::new();
        write_table(&mut out, &rows).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(!text.contains(a.id.expose()), "{text}");
        assert!(!text.contains("secret-session-data"), "{text}");
        assert!(text.contains("2 live sessions"), "{text}");

        assert_eq!(
            revoke(stores.sessions.as_ref(), "alice")
                .await
                .expect("revokes"),
            2
        );
        assert!(
            list(stores.sessions.as_ref(), "alice")
                .await
                .expect("lists")
                .is_empty()
        );
        assert_eq!(
            list(stores.sessions.as_ref(), "bob")
                .await
                .expect("lists")
                .len(),
            1
        );
        assert_eq!(
            revoke(stores.sessions.as_ref(), "alice")
                .await
                .expect("revokes"),
            0
        );
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(Timestamp::from_millis(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(rfc3339(Timestamp::MAX), "never");
    }
}
