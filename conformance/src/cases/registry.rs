//! The `registry` cases: one per `# Behavior` bullet of
//! [`SessionRegistry`](authstate_core::SessionRegistry) (the concurrent `remove_all` race
//! lives in `concurrency`), plus the edges single logout depends on: every partner gets
//! exactly one logout request, and an expired entry never gets one.

use std::time::Duration;

use authstate_core::{ErrorKind, Participant, Timestamp};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_registry {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] registry:
            register_then_participants_lists_it,
            register_same_participant_replaces,
            register_refuses_bad_input,
            participants_unknown_is_empty,
            participants_skip_expired,
            participants_isolate_subjects,
            remove_deletes_participant,
            remove_unknown_is_false,
            remove_all_returns_and_clears,
            participants_returns_all_partners,
            participants_return_exact_fields,
            remove_all_unknown_is_empty,
            remove_all_skips_expired,
            remove_expired_is_false,
            register_replaces_only_same_partner,
        }
    };
}
crate::__authstate_cases_registry!(list);

/// A participant for `session_ref` at `partner`, expiring at `expires_at`.
fn participant(session_ref: &str, partner: &str, expires_at: Timestamp) -> Participant {
    Participant {
        session_ref: session_ref.to_string(),
        partner_id: partner.to_string(),
        session_index: Some(format!("_idx-{session_ref}-{partner}")),
        expires_at,
    }
}

/// `participants` in a fixed order (the contract promises none).
fn sorted(mut list: Vec<Participant>) -> Vec<Participant> {
    list.sort_by(|a, b| {
        (
            &a.session_ref,
            &a.partner_id,
            &a.session_index,
            a.expires_at,
        )
            .cmp(&(
                &b.session_ref,
                &b.partner_id,
                &b.session_index,
                b.expires_at,
            ))
    });
    list
}

fn in_an_hour(ctx: &Ctx) -> Timestamp {
    ctx.now().saturating_add(Duration::from_secs(3600))
}

/// `register_then_participants_lists_it`: a registered participant is listed.
pub async fn register_then_participants_lists_it(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = participant("sess-1", "https://sp.example.com", in_an_hour(&ctx));
    stores.registry.register("alice", p.clone()).await?;
    assert_eq!(
        stores.registry.participants("alice").await?,
        vec![p],
        "participants does not list the registered participant"
    );
    Ok(())
}

/// `register_same_participant_replaces`: the same session reference and partner again
/// leaves one entry with the new expiry and index, even when the new expiry is earlier.
pub async fn register_same_participant_replaces(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let mut p = participant(
        "sess-1",
        "sp-1",
        now.saturating_add(Duration::from_secs(3600)),
    );
    stores.registry.register("alice", p.clone()).await?;
    p.expires_at = now.saturating_add(Duration::from_secs(7200));
    p.session_index = Some("_idx-2".to_string());
    stores.registry.register("alice", p.clone()).await?;
    assert_eq!(
        stores.registry.participants("alice").await?,
        vec![p.clone()],
        "registering the same participant again did not replace it (one entry, new \
         expiry and index)"
    );
    // A shorter expiry replaces too: registration is not "keep the latest expiry".
    p.expires_at = now.saturating_add(Duration::from_secs(60));
    p.session_index = None;
    stores.registry.register("alice", p.clone()).await?;
    assert_eq!(stores.registry.participants("alice").await?, vec![p]);
    ctx.advance(Duration::from_secs(60));
    assert_eq!(
        stores.registry.participants("alice").await?,
        Vec::new(),
        "an entry outlived the expiry it was last registered with"
    );
    Ok(())
}

/// `register_refuses_bad_input`: an `expires_at` at or before now or past the TTL cap,
/// or an empty subject, session reference or partner, is `InvalidInput` and stores
/// nothing; an expiry exactly at the cap is accepted.
pub async fn register_refuses_bad_input(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let cap = now.saturating_add(ctx.config.limits.max_ttl);
    let reg = &stores.registry;
    let bad = [
        ("alice", participant("s-now", "sp", now), "expires_at now"),
        (
            "alice",
            participant("s-past", "sp", Timestamp::from_millis(now.as_millis() - 1)),
            "expires_at in the past",
        ),
        (
            "alice",
            participant("s-cap", "sp", Timestamp::from_millis(cap.as_millis() + 1)),
            "expires_at past the TTL cap",
        ),
        (
            "",
            participant("s-1", "sp", in_an_hour(&ctx)),
            "empty subject",
        ),
        (
            "alice",
            participant("", "sp", in_an_hour(&ctx)),
            "empty session reference",
        ),
        (
            "alice",
            participant("s-2", "", in_an_hour(&ctx)),
            "empty partner",
        ),
    ];
    for (subject, p, what) in bad {
        match reg.register(subject, p).await {
            Err(e) if e.kind() == ErrorKind::InvalidInput => {}
            Err(e) => return fail(format!("{what}: expected InvalidInput, got {e}")),
            Ok(()) => return fail(format!("{what}: expected InvalidInput, got Ok")),
        }
    }
    assert_eq!(
        reg.participants("alice").await?,
        Vec::new(),
        "a refused registration was stored"
    );
    let at_cap = participant("s-at-cap", "sp", cap);
    reg.register("alice", at_cap.clone()).await?;
    assert_eq!(reg.participants("alice").await?, vec![at_cap]);
    Ok(())
}

/// `participants_unknown_is_empty`: a subject never registered has no participants.
pub async fn participants_unknown_is_empty(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    assert_eq!(stores.registry.participants("alice").await?, Vec::new());
    stores
        .registry
        .register("bob", participant("s-1", "sp", in_an_hour(&ctx)))
        .await?;
    assert_eq!(
        stores.registry.participants("alice").await?,
        Vec::new(),
        "a subject never registered has participants"
    );
    Ok(())
}

/// `participants_skip_expired`: listed 1 ms before `expires_at`, not at it, even before
/// purge; live entries of the subject stay listed.
pub async fn participants_skip_expired(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let short = participant("s-1", "sp-1", now.saturating_add(Duration::from_secs(10)));
    let long = participant("s-2", "sp-2", in_an_hour(&ctx));
    stores.registry.register("alice", short.clone()).await?;
    stores.registry.register("alice", long.clone()).await?;
    ctx.advance_ms(9_999);
    assert_eq!(
        sorted(stores.registry.participants("alice").await?),
        vec![short, long.clone()],
        "an entry was dropped 1 ms before its expires_at"
    );
    ctx.advance_ms(1);
    assert_eq!(
        stores.registry.participants("alice").await?,
        vec![long],
        "an entry is still listed at its expires_at"
    );
    Ok(())
}

/// `participants_isolate_subjects`: other subjects' entries are never listed, including
/// subjects that differ only in case or by a suffix.
pub async fn participants_isolate_subjects(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let exp = in_an_hour(&ctx);
    let a = participant("s-a", "sp", exp);
    let b = participant("s-b", "sp", exp);
    stores.registry.register("alice", a.clone()).await?;
    stores.registry.register("bob", b.clone()).await?;
    assert_eq!(stores.registry.participants("alice").await?, vec![a]);
    assert_eq!(stores.registry.participants("bob").await?, vec![b]);
    for other in ["ALICE", "alice2", "alic", "alice "] {
        assert_eq!(
            stores.registry.participants(other).await?,
            Vec::new(),
            "subject {other:?} sees alice's participants"
        );
    }
    Ok(())
}

/// `remove_deletes_participant`: returns `true`, and only that (session reference,
/// partner) pair goes; the subject's other entries stay.
pub async fn remove_deletes_participant(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let exp = in_an_hour(&ctx);
    let gone = participant("s-1", "sp-1", exp);
    let same_ref = participant("s-1", "sp-2", exp);
    let same_partner = participant("s-2", "sp-1", exp);
    for p in [&gone, &same_ref, &same_partner] {
        stores.registry.register("alice", p.clone()).await?;
    }
    assert!(
        stores.registry.remove("alice", "s-1", "sp-1").await?,
        "removing a live participant returned false"
    );
    assert_eq!(
        sorted(stores.registry.participants("alice").await?),
        vec![same_ref, same_partner],
        "remove did not delete exactly one participant"
    );
    assert!(
        !stores.registry.remove("alice", "s-1", "sp-1").await?,
        "removing it again returned true"
    );
    Ok(())
}

/// `remove_unknown_is_false`: an unknown subject, session reference or partner returns
/// `false` and removes nothing, including the right pair under another subject.
pub async fn remove_unknown_is_false(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = participant("s-1", "sp-1", in_an_hour(&ctx));
    stores.registry.register("alice", p.clone()).await?;
    for (subject, session_ref, partner) in [
        ("nobody", "s-1", "sp-1"),
        ("bob", "s-1", "sp-1"),
        ("alice", "s-2", "sp-1"),
        ("alice", "s-1", "sp-2"),
        ("alice", "sp-1", "s-1"),
    ] {
        assert!(
            !stores
                .registry
                .remove(subject, session_ref, partner)
                .await?,
            "remove({subject}, {session_ref}, {partner}) returned true for an unknown \
             participant"
        );
    }
    assert_eq!(
        stores.registry.participants("alice").await?,
        vec![p],
        "removing unknown participants removed a live one"
    );
    Ok(())
}

/// `remove_all_returns_and_clears`: every live participant is returned once, the subject
/// has none afterwards, and other subjects keep theirs.
pub async fn remove_all_returns_and_clears(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let exp = in_an_hour(&ctx);
    let mine = vec![
        participant("s-1", "sp-1", exp),
        participant("s-1", "sp-2", exp),
        participant("s-2", "sp-1", exp),
    ];
    for p in &mine {
        stores.registry.register("alice", p.clone()).await?;
    }
    let bobs = participant("s-9", "sp-1", exp);
    stores.registry.register("bob", bobs.clone()).await?;
    assert_eq!(
        sorted(stores.registry.remove_all("alice").await?),
        sorted(mine),
        "remove_all did not return every participant exactly once"
    );
    assert_eq!(
        stores.registry.participants("alice").await?,
        Vec::new(),
        "participants remain after remove_all"
    );
    assert_eq!(
        stores.registry.remove_all("alice").await?,
        Vec::new(),
        "a second remove_all returned participants again (a second logout request)"
    );
    assert_eq!(
        stores.registry.participants("bob").await?,
        vec![bobs],
        "remove_all touched another subject"
    );
    Ok(())
}

/// `participants_returns_all_partners`: a subject with many partners and sessions gets
/// every one listed, each once.
pub async fn participants_returns_all_partners(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let exp = in_an_hour(&ctx);
    let mut all = Vec::new();
    for s in 0..4 {
        for sp in 0..10 {
            all.push(participant(&format!("s-{s}"), &format!("sp-{sp}"), exp));
        }
    }
    for p in &all {
        stores.registry.register("alice", p.clone()).await?;
    }
    assert_eq!(
        sorted(stores.registry.participants("alice").await?),
        sorted(all),
        "participants does not list all 40 entries exactly once"
    );
    Ok(())
}

/// `participants_return_exact_fields`: session references, partners and indexes come
/// back exactly (non-ASCII, URLs, an absent index), with their expiry.
pub async fn participants_return_exact_fields(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let with_index = Participant {
        session_ref: "sess/ü+=?&".to_string(),
        partner_id: "https://sp.example.com/metadata?x=1#y".to_string(),
        session_index: Some("_a8f0e1c2 d3".to_string()),
        expires_at: now.saturating_add(Duration::from_millis(123_457)),
    };
    let without_index = Participant {
        partner_id: "rp-client-42".to_string(),
        session_index: None,
        ..with_index.clone()
    };
    let subject = "uid=jürgen,ou=people,dc=example";
    stores
        .registry
        .register(subject, with_index.clone())
        .await?;
    stores
        .registry
        .register(subject, without_index.clone())
        .await?;
    assert_eq!(
        sorted(stores.registry.participants(subject).await?),
        sorted(vec![with_index, without_index]),
        "participants do not come back exactly as registered"
    );
    Ok(())
}

/// `remove_all_unknown_is_empty`: a subject with no participants gets none, and
/// nothing else is removed.
pub async fn remove_all_unknown_is_empty(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = participant("s-1", "sp-1", in_an_hour(&ctx));
    stores.registry.register("bob", p.clone()).await?;
    assert_eq!(stores.registry.remove_all("alice").await?, Vec::new());
    assert_eq!(
        stores.registry.participants("bob").await?,
        vec![p],
        "remove_all of an unknown subject removed another subject's entries"
    );
    Ok(())
}

/// `remove_all_skips_expired`: only live participants are returned: an expired entry
/// never gets a logout request.
pub async fn remove_all_skips_expired(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let short = participant("s-1", "sp-1", now.saturating_add(Duration::from_secs(10)));
    let long = participant("s-2", "sp-2", in_an_hour(&ctx));
    stores.registry.register("alice", short).await?;
    stores.registry.register("alice", long.clone()).await?;
    ctx.advance_ms(10_000);
    assert_eq!(
        stores.registry.remove_all("alice").await?,
        vec![long],
        "remove_all returned an expired participant"
    );
    assert_eq!(stores.registry.participants("alice").await?, Vec::new());
    Ok(())
}

/// `remove_expired_is_false`: removing an entry at its expiry returns `false` (no live
/// one was there).
pub async fn remove_expired_is_false(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = participant(
        "s-1",
        "sp-1",
        ctx.now().saturating_add(Duration::from_secs(10)),
    );
    stores.registry.register("alice", p).await?;
    ctx.advance_ms(10_000);
    assert!(
        !stores.registry.remove("alice", "s-1", "sp-1").await?,
        "removing an expired participant returned true"
    );
    Ok(())
}

/// `register_replaces_only_same_partner`: re-registering one (session reference,
/// partner) pair leaves the entries with the same reference at other partners, and the
/// same partner under other references, unchanged.
pub async fn register_replaces_only_same_partner(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let exp = in_an_hour(&ctx);
    let a = participant("s-1", "sp-a", exp);
    let b = participant("s-1", "sp-b", exp);
    let c = participant("s-2", "sp-a", exp);
    for p in [&a, &b, &c] {
        stores.registry.register("alice", p.clone()).await?;
    }
    let a2 = Participant {
        session_index: Some("_idx-new".to_string()),
        expires_at: exp.saturating_add(Duration::from_secs(60)),
        ..a
    };
    stores.registry.register("alice", a2.clone()).await?;
    assert_eq!(
        sorted(stores.registry.participants("alice").await?),
        sorted(vec![a2, b, c]),
        "re-registering one participant changed or dropped another"
    );
    Ok(())
}
