//! The `session` cases: one per `# Behavior` bullet of
//! [`SessionStore`](authstate_core::SessionStore).

use std::time::Duration;

use authstate_core::{ErrorKind, NewSession, SessionId, SessionRecord, Timestamp};

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
            create_then_get_returns_record,
            create_refuses_oversized_data,
            create_refuses_bad_lifetime,
            create_never_overwrites,
            get_unknown_is_none,
            get_expired_is_none,
            get_idle_expired_is_none,
            get_does_not_touch,
            touch_slides_idle_expiry,
            touch_never_extends_past_lifetime,
            touch_keeps_version,
            touch_expired_is_none,
            update_with_current_version_succeeds,
            update_with_stale_version_conflicts,
            update_unknown_is_not_found,
            update_never_resurrects,
            update_refuses_oversized_data,
            rotate_id_moves_session,
            rotate_id_old_id_stops_working,
            rotate_id_unknown_is_not_found,
            rotate_id_keeps_subject_index,
            delete_removes_session,
            delete_unknown_is_false,
            delete_removes_from_subject_index,
            list_by_subject_returns_live_sessions,
            list_by_subject_skips_expired,
            list_by_subject_isolates_subjects,
            delete_by_subject_removes_all,
            delete_by_subject_spares_other_subjects,
            delete_by_subject_unknown_is_zero,
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

/// A session for `subject` with `data`, the given lifetime and idle timeout.
pub(crate) fn session_with(
    subject: &str,
    data: &[u8],
    lifetime: Duration,
    idle_timeout: Option<Duration>,
) -> NewSession {
    NewSession {
        subject: subject.to_string(),
        data: data.to_vec(),
        lifetime,
        idle_timeout,
    }
}

/// `t` plus `ms` milliseconds.
pub(crate) fn plus_ms(t: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_millis(t.as_millis() + ms)
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The data of every live session `subject` has, sorted.
async fn listed_data(
    stores: &authstate_core::Stores,
    subject: &str,
) -> Result<Vec<Vec<u8>>, crate::CaseError> {
    let mut data: Vec<Vec<u8>> = stores
        .sessions
        .list_by_subject(subject)
        .await?
        .into_iter()
        .map(|s| s.record.data)
        .collect();
    data.sort();
    Ok(data)
}

/// Checks that `id` is gone for every operation that must not see it.
async fn assert_session_gone(
    stores: &authstate_core::Stores,
    id: &SessionId,
    what: &str,
) -> CaseResult {
    if let Some(r) = stores.sessions.get(id).await? {
        return fail(format!("{what}: get still returns the session: {r:?}"));
    }
    if let Some(r) = stores.sessions.touch(id).await? {
        return fail(format!("{what}: touch still returns the session: {r:?}"));
    }
    Ctx::expect_kind(
        stores.sessions.update(id, 1, b"x".to_vec()).await,
        ErrorKind::NotFound,
    )
    .map_err(|e| format!("{what}: update: {e}"))?;
    if let Some(r) = stores.sessions.get(id).await? {
        return fail(format!(
            "{what}: a touch or update brought the session back: {r:?}"
        ));
    }
    Ok(())
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
    assert_eq!(
        s.record.expires_at,
        now.saturating_add(Duration::from_secs(3600))
    );
    assert_eq!(s.record.version, 1);
    assert_eq!(s.record.subject, "alice");
    Ok(())
}

/// `create_then_get_returns_record`
pub async fn create_then_get_returns_record(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let with_idle = stores.sessions.create(new_session("alice")).await?;
    let without_idle = stores
        .sessions
        .create(session_with("bob", &[0, 255, 1, 254], HOUR, None))
        .await?;
    // A second node reads what the first wrote.
    let other = ctx.open().await?;
    for s in [&with_idle, &without_idle] {
        for (node, st) in [("the creating node", &stores), ("another node", &other)] {
            match st.sessions.get(&s.id).await? {
                Some(r) if r == s.record => {}
                got => {
                    return fail(format!(
                        "get on {node} after create returned {got:?}, expected {:?}",
                        s.record
                    ));
                }
            }
        }
    }
    assert_eq!(
        without_idle.record.idle_timeout, None,
        "an absent idle timeout was invented"
    );
    assert_eq!(
        with_idle.record.idle_timeout,
        Some(Duration::from_secs(600))
    );
    Ok(())
}

/// `create_refuses_oversized_data`
pub async fn create_refuses_oversized_data(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max = ctx.config.limits.max_payload_bytes;
    let too_big = session_with("alice", &vec![b'x'; max + 1], HOUR, None);
    Ctx::expect_kind(
        stores.sessions.create(too_big).await,
        ErrorKind::InvalidInput,
    )?;
    assert!(
        stores.sessions.list_by_subject("alice").await?.is_empty(),
        "a refused create stored a session"
    );
    // Exactly at the limit is allowed, and comes back whole.
    let at_limit = stores
        .sessions
        .create(session_with("alice", &vec![b'y'; max], HOUR, None))
        .await?;
    match stores.sessions.get(&at_limit.id).await? {
        Some(r) if r.data.len() == max => Ok(()),
        other => fail(format!(
            "a session with data of exactly the limit did not come back whole: {:?}",
            other.map(|r| r.data.len())
        )),
    }
}

/// `create_refuses_bad_lifetime`
pub async fn create_refuses_bad_lifetime(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max_ttl = ctx.config.limits.max_ttl;
    let bad = [
        (
            "a zero lifetime",
            session_with("alice", b"d", Duration::ZERO, None),
        ),
        (
            "a lifetime 1 ms over the TTL cap",
            session_with("alice", b"d", max_ttl + Duration::from_millis(1), None),
        ),
        (
            "a zero idle timeout",
            session_with("alice", b"d", HOUR, Some(Duration::ZERO)),
        ),
    ];
    for (what, new) in bad {
        Ctx::expect_kind(stores.sessions.create(new).await, ErrorKind::InvalidInput)
            .map_err(|e| format!("{what}: {e}"))?;
    }
    assert!(
        stores.sessions.list_by_subject("alice").await?.is_empty(),
        "a refused create stored a session"
    );
    // The cap itself is allowed.
    let at_cap = stores
        .sessions
        .create(session_with("alice", b"d", max_ttl, None))
        .await?;
    assert_eq!(
        at_cap.record.expires_at,
        ctx.now().saturating_add(max_ttl),
        "a lifetime of exactly the cap was not kept"
    );
    Ok(())
}

/// `create_never_overwrites`
pub async fn create_never_overwrites(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    // Create from two nodes, alternating, each session with its own data; then every
    // one must still hold its own data: none replaced another.
    let mut created = Vec::new();
    for i in 0..200u32 {
        let node = if i % 2 == 0 { &stores } else { &other };
        let data = format!("session-{i}").into_bytes();
        let s = node
            .sessions
            .create(session_with("alice", &data, HOUR, None))
            .await?;
        created.push((s.id, data));
    }
    let mut ids: Vec<&str> = created.iter().map(|(id, _)| id.expose()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        created.len(),
        "create handed out the same id twice"
    );
    for (id, data) in &created {
        match stores.sessions.get(id).await? {
            Some(r) if &r.data == data => {}
            got => {
                return fail(format!(
                    "a session was overwritten by a later create: expected data {:?}, got {:?}",
                    String::from_utf8_lossy(data),
                    got.map(|r| String::from_utf8_lossy(&r.data).into_owned())
                ));
            }
        }
    }
    assert_eq!(
        stores.sessions.list_by_subject("alice").await?.len(),
        created.len(),
        "the subject index lost or duplicated sessions"
    );
    Ok(())
}

/// `get_unknown_is_none`
pub async fn get_unknown_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    // One session exists, so an empty store cannot pass by accident.
    stores.sessions.create(new_session("alice")).await?;
    let unknown = SessionId::generate()?;
    match stores.sessions.get(&unknown).await? {
        None => Ok(()),
        Some(r) => fail(format!("an id never created returned a session: {r:?}")),
    }
}

/// `get_expired_is_none`
pub async fn get_expired_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores
        .sessions
        .create(session_with("alice", b"d", HOUR, None))
        .await?;
    ctx.advance(HOUR - Duration::from_millis(1));
    match stores.sessions.get(&s.id).await? {
        Some(r) if r == s.record => {}
        other => {
            return fail(format!(
                "1 ms before its expiry the session was not returned: {other:?}"
            ));
        }
    }
    ctx.advance_ms(1);
    match stores.sessions.get(&s.id).await? {
        None => Ok(()),
        Some(r) => fail(format!(
            "at its absolute expiry the session was still returned: {r:?}"
        )),
    }
}

/// `get_idle_expired_is_none`
pub async fn get_idle_expired_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores
        .sessions
        .create(session_with("alice", b"d", HOUR, Some(10 * MINUTE)))
        .await?;
    ctx.advance(10 * MINUTE - Duration::from_millis(1));
    if stores.sessions.get(&s.id).await?.is_none() {
        return fail("1 ms before its idle expiry the session was not returned");
    }
    ctx.advance_ms(1);
    match stores.sessions.get(&s.id).await? {
        None => Ok(()),
        Some(r) => fail(format!(
            "at last_activity + idle_timeout the session was still returned: {r:?}"
        )),
    }
}

/// `get_does_not_touch`
pub async fn get_does_not_touch(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let t0 = ctx.now();
    let s = stores
        .sessions
        .create(session_with("alice", b"d", HOUR, Some(10 * MINUTE)))
        .await?;
    for _ in 0..9 {
        ctx.advance(MINUTE);
        match stores.sessions.get(&s.id).await? {
            Some(r) if r.last_activity == t0 => {}
            other => return fail(format!("a get changed last_activity: {other:?}")),
        }
    }
    // Nine reads later, the session still ends 10 minutes after its creation.
    ctx.advance(MINUTE);
    match stores.sessions.get(&s.id).await? {
        None => Ok(()),
        Some(r) => fail(format!("reads slid the idle expiry: {r:?}")),
    }
}

/// `touch_slides_idle_expiry`
pub async fn touch_slides_idle_expiry(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores
        .sessions
        .create(session_with("alice", b"d", HOUR, Some(10 * MINUTE)))
        .await?;
    ctx.advance(5 * MINUTE);
    let touched_at = ctx.now();
    match stores.sessions.touch(&s.id).await? {
        Some(r) if r.last_activity == touched_at => {}
        other => return fail(format!("touch did not set last_activity to now: {other:?}")),
    }
    match stores.sessions.get(&s.id).await? {
        Some(r) if r.last_activity == touched_at => {}
        other => return fail(format!("the touch was not stored: {other:?}")),
    }
    // Past the original idle end (10 min after creation), still live.
    ctx.advance(10 * MINUTE - Duration::from_millis(1));
    if stores.sessions.get(&s.id).await?.is_none() {
        return fail("1 ms before touch time + idle timeout the session was gone");
    }
    ctx.advance_ms(1);
    match stores.sessions.get(&s.id).await? {
        None => Ok(()),
        Some(r) => fail(format!(
            "at touch time + idle timeout the session was still live: {r:?}"
        )),
    }
}

/// `touch_never_extends_past_lifetime`
pub async fn touch_never_extends_past_lifetime(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let t0 = ctx.now();
    let end = t0.saturating_add(30 * MINUTE);
    let s = stores
        .sessions
        .create(session_with("alice", b"d", 30 * MINUTE, Some(10 * MINUTE)))
        .await?;
    // Touch every 4 minutes, then at 1 ms before the end.
    for _ in 0..7 {
        ctx.advance(4 * MINUTE);
        match stores.sessions.touch(&s.id).await? {
            Some(r) if r.expires_at == end => {}
            other => {
                return fail(format!(
                    "a touch moved or lost the absolute expiry: {other:?}"
                ));
            }
        }
    }
    ctx.clock.set(plus_ms(end, -1));
    match stores.sessions.touch(&s.id).await? {
        Some(r) if r.effective_expiry() == end => {}
        other => {
            return fail(format!(
                "1 ms before the end, touch must return the session ending at {end}: {other:?}"
            ));
        }
    }
    ctx.advance_ms(1);
    if let Some(r) = stores.sessions.get(&s.id).await? {
        return fail(format!("touches kept the session past its lifetime: {r:?}"));
    }
    if let Some(r) = stores.sessions.touch(&s.id).await? {
        return fail(format!(
            "a touch at the absolute expiry returned the session: {r:?}"
        ));
    }
    Ok(())
}

/// `touch_keeps_version`
pub async fn touch_keeps_version(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores.sessions.create(new_session("alice")).await?;
    let v2 = stores.sessions.update(&s.id, 1, b"v2".to_vec()).await?;
    assert_eq!(v2.version, 2, "an update must add exactly 1 to the version");
    ctx.advance(MINUTE);
    match stores.sessions.touch(&s.id).await? {
        Some(r) if r.version == 2 && r.data == b"v2" => {}
        other => return fail(format!("a touch changed the version or data: {other:?}")),
    }
    let v3 = stores.sessions.update(&s.id, 2, b"v3".to_vec()).await?;
    assert_eq!(
        v3.version, 3,
        "an update with the version read before a touch must succeed"
    );
    Ok(())
}

/// `touch_expired_is_none`
pub async fn touch_expired_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let unknown = SessionId::generate()?;
    if let Some(r) = stores.sessions.touch(&unknown).await? {
        return fail(format!("touching an unknown id returned a session: {r:?}"));
    }
    if let Some(r) = stores.sessions.get(&unknown).await? {
        return fail(format!("touching an unknown id created a session: {r:?}"));
    }
    let idle = stores
        .sessions
        .create(session_with("alice", b"idle", HOUR, Some(10 * MINUTE)))
        .await?;
    let short = stores
        .sessions
        .create(session_with("alice", b"short", 10 * MINUTE, None))
        .await?;
    ctx.advance(10 * MINUTE);
    for (what, s) in [
        ("an idle-expired session", &idle),
        ("an expired session", &short),
    ] {
        if let Some(r) = stores.sessions.touch(&s.id).await? {
            return fail(format!("touching {what} returned it: {r:?}"));
        }
        if let Some(r) = stores.sessions.get(&s.id).await? {
            return fail(format!("touching {what} brought it back: {r:?}"));
        }
    }
    let listed = stores.sessions.list_by_subject("alice").await?;
    assert!(
        listed.is_empty(),
        "touching expired sessions brought them back into the index: {listed:?}"
    );
    Ok(())
}

/// `update_with_current_version_succeeds`
pub async fn update_with_current_version_succeeds(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores.sessions.create(new_session("alice")).await?;
    ctx.advance(MINUTE);
    let updated = stores
        .sessions
        .update(&s.id, 1, b"new claims".to_vec())
        .await?;
    let expected = SessionRecord {
        data: b"new claims".to_vec(),
        version: 2,
        ..s.record.clone()
    };
    assert_eq!(
        updated, expected,
        "update must replace the data, add 1 to the version and keep every other field"
    );
    match stores.sessions.get(&s.id).await? {
        Some(r) if r == expected => {}
        other => return fail(format!("the update was not stored as returned: {other:?}")),
    }
    let again = stores.sessions.update(&s.id, 2, b"third".to_vec()).await?;
    assert_eq!(
        again.version, 3,
        "a second update must bring the version to 3"
    );
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
        other => fail(format!(
            "a conflicting update changed the record: {other:?}"
        )),
    }
}

/// `update_unknown_is_not_found`
pub async fn update_unknown_is_not_found(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let unknown = SessionId::generate()?;
    Ctx::expect_kind(
        stores.sessions.update(&unknown, 1, b"d".to_vec()).await,
        ErrorKind::NotFound,
    )?;
    if let Some(r) = stores.sessions.get(&unknown).await? {
        return fail(format!(
            "an update of an unknown id created a session: {r:?}"
        ));
    }
    Ok(())
}

/// `update_never_resurrects`
pub async fn update_never_resurrects(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let deleted = stores.sessions.create(new_session("alice")).await?;
    assert!(
        stores.sessions.delete(&deleted.id).await?,
        "delete of a live session returned false"
    );
    Ctx::expect_kind(
        stores
            .sessions
            .update(&deleted.id, 1, b"back".to_vec())
            .await,
        ErrorKind::NotFound,
    )
    .map_err(|e| format!("update of a deleted session: {e}"))?;

    let expired = stores
        .sessions
        .create(session_with("alice", b"d", 10 * MINUTE, None))
        .await?;
    ctx.advance(10 * MINUTE);
    Ctx::expect_kind(
        stores
            .sessions
            .update(&expired.id, 1, b"back".to_vec())
            .await,
        ErrorKind::NotFound,
    )
    .map_err(|e| format!("update of an expired session: {e}"))?;

    for (what, id) in [("deleted", &deleted.id), ("expired", &expired.id)] {
        if let Some(r) = stores.sessions.get(id).await? {
            return fail(format!("an update resurrected a {what} session: {r:?}"));
        }
    }
    let listed = stores.sessions.list_by_subject("alice").await?;
    assert!(
        listed.is_empty(),
        "an update put a dead session back in the index: {listed:?}"
    );
    Ok(())
}

/// `update_refuses_oversized_data`
pub async fn update_refuses_oversized_data(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max = ctx.config.limits.max_payload_bytes;
    let s = stores.sessions.create(new_session("alice")).await?;
    Ctx::expect_kind(
        stores.sessions.update(&s.id, 1, vec![b'x'; max + 1]).await,
        ErrorKind::InvalidInput,
    )?;
    match stores.sessions.get(&s.id).await? {
        Some(r) if r == s.record => {}
        other => return fail(format!("a refused update changed the record: {other:?}")),
    }
    let at_limit = stores.sessions.update(&s.id, 1, vec![b'y'; max]).await?;
    assert_eq!(
        at_limit.data.len(),
        max,
        "data of exactly the limit was not kept whole"
    );
    assert_eq!(at_limit.version, 2);
    Ok(())
}

/// `rotate_id_moves_session`
pub async fn rotate_id_moves_session(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores.sessions.create(new_session("alice")).await?;
    stores.sessions.update(&s.id, 1, b"v2".to_vec()).await?;
    ctx.advance(MINUTE);
    stores.sessions.touch(&s.id).await?;
    ctx.advance(MINUTE);
    let before = match stores.sessions.get(&s.id).await? {
        Some(r) => r,
        None => return fail("the session vanished before rotation"),
    };
    let rotated = stores.sessions.rotate_id(&s.id).await?;
    assert_ne!(rotated.id, s.id, "rotate_id kept the old id");
    SessionId::parse(rotated.id.expose())?;
    assert_eq!(
        rotated.record, before,
        "rotate_id must keep subject, data, times and version"
    );
    let other = ctx.open().await?;
    match other.sessions.get(&rotated.id).await? {
        Some(r) if r == before => Ok(()),
        got => fail(format!(
            "the new id does not return the same record: {got:?}"
        )),
    }
}

/// `rotate_id_old_id_stops_working`
pub async fn rotate_id_old_id_stops_working(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    let s = stores.sessions.create(new_session("alice")).await?;
    let rotated = stores.sessions.rotate_id(&s.id).await?;
    // Checked on another node too: "at once" means for every reader.
    for (node, st) in [("the rotating node", &stores), ("another node", &other)] {
        if let Some(r) = st.sessions.get(&s.id).await? {
            return fail(format!(
                "on {node}, the old id still returns the session: {r:?}"
            ));
        }
        Ctx::expect_kind(
            st.sessions.update(&s.id, 1, b"x".to_vec()).await,
            ErrorKind::NotFound,
        )
        .map_err(|e| format!("on {node}, update with the old id: {e}"))?;
        if let Some(r) = st.sessions.touch(&s.id).await? {
            return fail(format!(
                "on {node}, touch with the old id returned the session: {r:?}"
            ));
        }
        if st.sessions.delete(&s.id).await? {
            return fail(format!("on {node}, delete with the old id returned true"));
        }
    }
    // None of that harmed the session under its new id.
    match stores.sessions.get(&rotated.id).await? {
        Some(r) if r == s.record => Ok(()),
        got => fail(format!(
            "using the old id changed the rotated session: {got:?}"
        )),
    }
}

/// `rotate_id_unknown_is_not_found`
pub async fn rotate_id_unknown_is_not_found(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    Ctx::expect_kind(
        stores.sessions.rotate_id(&SessionId::generate()?).await,
        ErrorKind::NotFound,
    )
    .map_err(|e| format!("rotating an unknown id: {e}"))?;

    let deleted = stores.sessions.create(new_session("alice")).await?;
    stores.sessions.delete(&deleted.id).await?;
    Ctx::expect_kind(
        stores.sessions.rotate_id(&deleted.id).await,
        ErrorKind::NotFound,
    )
    .map_err(|e| format!("rotating a deleted id: {e}"))?;

    let expired = stores
        .sessions
        .create(session_with("alice", b"d", 10 * MINUTE, None))
        .await?;
    ctx.advance(10 * MINUTE);
    Ctx::expect_kind(
        stores.sessions.rotate_id(&expired.id).await,
        ErrorKind::NotFound,
    )
    .map_err(|e| format!("rotating an expired id: {e}"))?;

    let listed = stores.sessions.list_by_subject("alice").await?;
    assert!(
        listed.is_empty(),
        "a refused rotation left a session behind: {listed:?}"
    );
    Ok(())
}

/// `rotate_id_keeps_subject_index`
pub async fn rotate_id_keeps_subject_index(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let s = stores.sessions.create(new_session("alice")).await?;
    let before = stores.sessions.list_by_subject("alice").await?;
    assert_eq!(before.len(), 1, "one session, one index entry");
    let mut seen = vec![before[0].id_hash];
    let mut id = s.id;
    for round in 1..=2 {
        let rotated = stores.sessions.rotate_id(&id).await?;
        let listed = stores.sessions.list_by_subject("alice").await?;
        if listed.len() != 1 {
            return fail(format!(
                "after rotation {round}, list_by_subject shows {} entries, expected exactly 1",
                listed.len()
            ));
        }
        if seen.contains(&listed[0].id_hash) {
            return fail(format!(
                "after rotation {round}, the index still lists the session under an old id's hash"
            ));
        }
        assert_eq!(
            listed[0].record, s.record,
            "the index lists a different record"
        );
        seen.push(listed[0].id_hash);
        id = rotated.id;
    }
    Ok(())
}

/// `delete_removes_session`
pub async fn delete_removes_session(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    let s = stores.sessions.create(new_session("alice")).await?;
    let keep = stores.sessions.create(new_session("alice")).await?;
    assert!(
        other.sessions.get(&s.id).await?.is_some(),
        "the other node cannot see the session"
    );
    assert!(
        stores.sessions.delete(&s.id).await?,
        "deleting a live session returned false"
    );
    assert_session_gone(&stores, &s.id, "on the deleting node").await?;
    assert_session_gone(&other, &s.id, "on another node").await?;
    match stores.sessions.get(&keep.id).await? {
        Some(r) if r == keep.record => Ok(()),
        got => fail(format!("deleting one session harmed another: {got:?}")),
    }
}

/// `delete_unknown_is_false`
pub async fn delete_unknown_is_false(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let keep = stores.sessions.create(new_session("alice")).await?;
    if stores.sessions.delete(&SessionId::generate()?).await? {
        return fail("deleting an unknown id returned true");
    }
    let s = stores.sessions.create(new_session("alice")).await?;
    assert!(
        stores.sessions.delete(&s.id).await?,
        "the first delete returned false"
    );
    if stores.sessions.delete(&s.id).await? {
        return fail("deleting an already deleted id returned true");
    }
    assert!(
        stores.sessions.get(&keep.id).await?.is_some(),
        "deleting unknown ids removed another session"
    );
    Ok(())
}

/// `delete_removes_from_subject_index`
pub async fn delete_removes_from_subject_index(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let gone = stores
        .sessions
        .create(session_with("alice", b"gone", HOUR, None))
        .await?;
    stores
        .sessions
        .create(session_with("alice", b"kept", HOUR, None))
        .await?;
    assert_eq!(listed_data(&stores, "alice").await?.len(), 2);
    stores.sessions.delete(&gone.id).await?;
    let listed = listed_data(&stores, "alice").await?;
    assert_eq!(
        listed,
        vec![b"kept".to_vec()],
        "after delete, list_by_subject must show only the other session"
    );
    Ok(())
}

/// `list_by_subject_returns_live_sessions`
pub async fn list_by_subject_returns_live_sessions(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let mut created = Vec::new();
    for i in 0..3 {
        let s = stores
            .sessions
            .create(session_with(
                "alice",
                format!("s{i}").as_bytes(),
                HOUR,
                Some(10 * MINUTE),
            ))
            .await?;
        created.push(s);
        ctx.advance_ms(7);
    }
    let listed = stores.sessions.list_by_subject("alice").await?;
    assert_eq!(
        listed.len(),
        3,
        "every live session of the subject, each once"
    );
    let mut hashes: Vec<_> = listed.iter().map(|s| s.id_hash).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 3, "two listed sessions share an id hash");
    let mut got: Vec<SessionRecord> = listed.into_iter().map(|s| s.record).collect();
    let mut want: Vec<SessionRecord> = created.into_iter().map(|s| s.record).collect();
    got.sort_by(|a, b| a.data.cmp(&b.data));
    want.sort_by(|a, b| a.data.cmp(&b.data));
    assert_eq!(
        got, want,
        "list_by_subject returned other records than were created"
    );
    Ok(())
}

/// `list_by_subject_skips_expired`
pub async fn list_by_subject_skips_expired(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .sessions
        .create(session_with("alice", b"short", 10 * MINUTE, None))
        .await?;
    stores
        .sessions
        .create(session_with("alice", b"idle", HOUR, Some(10 * MINUTE)))
        .await?;
    stores
        .sessions
        .create(session_with("alice", b"long", HOUR, None))
        .await?;
    ctx.advance(10 * MINUTE - Duration::from_millis(1));
    assert_eq!(
        listed_data(&stores, "alice").await?.len(),
        3,
        "1 ms before the first expiry every session must be listed"
    );
    ctx.advance_ms(1);
    let listed = listed_data(&stores, "alice").await?;
    assert_eq!(
        listed,
        vec![b"long".to_vec()],
        "at their expiry (absolute or idle) sessions must not be listed"
    );
    ctx.advance(50 * MINUTE);
    let listed = listed_data(&stores, "alice").await?;
    assert!(
        listed.is_empty(),
        "an expired session was listed: {listed:?}"
    );
    Ok(())
}

/// `list_by_subject_isolates_subjects`
pub async fn list_by_subject_isolates_subjects(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    // Subjects that share prefixes, so a prefix match or a truncated hash shows.
    for (subject, data) in [
        ("alice", "a1"),
        ("alice", "a2"),
        ("alic", "x1"),
        ("alice2", "x2"),
        ("bob", "x3"),
    ] {
        stores
            .sessions
            .create(session_with(subject, data.as_bytes(), HOUR, None))
            .await?;
    }
    let listed = stores.sessions.list_by_subject("alice").await?;
    if listed.iter().any(|s| s.record.subject != "alice") {
        return fail(format!("another subject's session was listed: {listed:?}"));
    }
    assert_eq!(
        listed_data(&stores, "alice").await?,
        vec![b"a1".to_vec(), b"a2".to_vec()],
        "list_by_subject must return exactly the subject's own sessions"
    );
    assert_eq!(listed_data(&stores, "alic").await?, vec![b"x1".to_vec()]);
    assert!(listed_data(&stores, "carol").await?.is_empty());
    Ok(())
}

/// `delete_by_subject_removes_all`
pub async fn delete_by_subject_removes_all(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    // An expired session is not live and must not be counted.
    stores
        .sessions
        .create(session_with("alice", b"expired", MINUTE, None))
        .await?;
    ctx.advance(MINUTE);
    let mut live = Vec::new();
    for i in 0..3 {
        let s = stores
            .sessions
            .create(session_with(
                "alice",
                format!("s{i}").as_bytes(),
                HOUR,
                Some(10 * MINUTE),
            ))
            .await?;
        live.push(s);
    }
    let ended = stores.sessions.delete_by_subject("alice").await?;
    assert_eq!(
        ended, 3,
        "delete_by_subject must return how many live sessions it ended"
    );
    for s in &live {
        assert_session_gone(&stores, &s.id, "after delete_by_subject").await?;
        assert_session_gone(&other, &s.id, "after delete_by_subject, on another node").await?;
    }
    let listed = stores.sessions.list_by_subject("alice").await?;
    assert!(
        listed.is_empty(),
        "sessions remain listed after delete_by_subject: {listed:?}"
    );
    Ok(())
}

/// `delete_by_subject_spares_other_subjects`
pub async fn delete_by_subject_spares_other_subjects(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores.sessions.create(new_session("alice")).await?;
    let mut spared = Vec::new();
    for subject in ["bob", "alic", "alice2"] {
        spared.push(stores.sessions.create(new_session(subject)).await?);
    }
    assert_eq!(stores.sessions.delete_by_subject("alice").await?, 1);
    for s in &spared {
        match stores.sessions.get(&s.id).await? {
            Some(r) if r == s.record => {}
            got => {
                return fail(format!(
                    "delete_by_subject(\"alice\") touched {}'s session: {got:?}",
                    s.record.subject
                ));
            }
        }
        assert_eq!(
            stores
                .sessions
                .list_by_subject(&s.record.subject)
                .await?
                .len(),
            1,
            "{}'s index entry was removed",
            s.record.subject
        );
    }
    Ok(())
}

/// `delete_by_subject_unknown_is_zero`
pub async fn delete_by_subject_unknown_is_zero(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let bob = stores.sessions.create(new_session("bob")).await?;
    assert_eq!(
        stores.sessions.delete_by_subject("alice").await?,
        0,
        "a subject with no sessions must return 0"
    );
    let a = stores.sessions.create(new_session("alice")).await?;
    stores.sessions.delete(&a.id).await?;
    assert_eq!(
        stores.sessions.delete_by_subject("alice").await?,
        0,
        "a subject whose sessions are all deleted must return 0"
    );
    assert!(
        stores.sessions.get(&bob.id).await?.is_some(),
        "another subject's session was removed"
    );
    Ok(())
}
