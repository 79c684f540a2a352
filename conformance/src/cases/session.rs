//! The `session` cases: one per `# Behavior` bullet of
//! [`SessionStore`](authstate_core::SessionStore).

use std::time::Duration;

use authstate_core::{ErrorKind, NewSession, SessionId};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_session {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] session:
            create_returns_new_random_id,
            create_sets_times_and_version,
            update_with_stale_version_conflicts,
        }
    };
}
crate::__authstate_cases_session!(list);

/// A session for `subject` living an hour, with a 10-minute idle timeout.
pub(crate) fn new_session(subject: &str) -> NewSession {
    NewSession {
        subject: subject.to_string(),
        data: b"claims".to_vec(),
        lifetime: Duration::from_secs(3600),
        idle_timeout: Some(Duration::from_secs(600)),
    }
}

/// `create_returns_new_random_id`
pub async fn create_returns_new_random_id(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let a = stores.sessions.create(new_session("alice")).await?;
    let b = stores.sessions.create(new_session("alice")).await?;
    assert_eq!(a.id.expose().len(), 43, "an id is 43 base64url characters");
    SessionId::parse(a.id.expose())?;
    assert_ne!(a.id, b.id, "two sessions got the same id");
    Ok(())
}

/// `create_sets_times_and_version`
pub async fn create_sets_times_and_version(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let s = stores.sessions.create(new_session("alice")).await?;
    assert_eq!(s.record.created_at, now);
    assert_eq!(s.record.last_activity, now);
    assert_eq!(s.record.expires_at, now.saturating_add(Duration::from_secs(3600)));
    assert_eq!(s.record.version, 1);
    assert_eq!(s.record.subject, "alice");
    Ok(())
}

/// `update_with_stale_version_conflicts`
pub async fn update_with_stale_version_conflicts(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores.sessions.create(new_session("alice")).await?;
    stores.sessions.update(&s.id, 1, b"v2".to_vec()).await?;
    Ctx::expect_kind(
        stores.sessions.update(&s.id, 1, b"stale".to_vec()).await,
        ErrorKind::Conflict,
    )?;
    let stored = stores.sessions.get(&s.id).await?;
    match stored {
        Some(r) if r.data == b"v2" && r.version == 2 => Ok(()),
        other => fail(format!("a conflicting update changed the record: {other:?}")),
    }
}
