//! The `lease` cases: one per `# Behavior` bullet of
//! [`SweepLease`](authstate_core::SweepLease). Holders sit on separately opened stores,
//! as two nodes of a cluster would.

use std::time::Duration;

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_lease {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] lease:
            lease_has_one_holder,
            lease_renews_for_its_holder,
            lease_expires_after_ttl,
            lease_release_frees_it,
            lease_release_by_other_is_ignored,
        }
    };
}
crate::__authstate_cases_lease!(list);

const LEASE: &str = "sweeper";
const TTL: Duration = Duration::from_secs(30);

/// `lease_has_one_holder`
pub async fn lease_has_one_holder(ctx: Ctx) -> CaseResult {
    let a = ctx.open().await?;
    let b = ctx.open().await?;
    assert!(
        a.lease.try_acquire(LEASE, "node-a", TTL).await?,
        "a free lease was refused"
    );
    if b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("a second holder took a live lease");
    }
    if a.lease.try_acquire(LEASE, "node-c", TTL).await? {
        return fail("a second holder on the holder's own node took a live lease");
    }
    ctx.advance(TTL - Duration::from_millis(1));
    if b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("1 ms before the lease ends another holder took it");
    }
    // Another lease name is another lease.
    assert!(
        b.lease.try_acquire("other-lease", "node-b", TTL).await?,
        "a lease of another name was refused"
    );
    Ok(())
}

/// `lease_renews_for_its_holder`
pub async fn lease_renews_for_its_holder(ctx: Ctx) -> CaseResult {
    let a = ctx.open().await?;
    let b = ctx.open().await?;
    assert!(
        a.lease.try_acquire(LEASE, "node-a", TTL).await?,
        "a free lease was refused"
    );
    ctx.advance(Duration::from_secs(20));
    if !a.lease.try_acquire(LEASE, "node-a", TTL).await? {
        return fail("the holder could not renew its own live lease");
    }
    // The renewal runs 30 s from now, past the first grant's end.
    ctx.advance(TTL - Duration::from_millis(1));
    if b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("the renewal did not extend the lease: another holder took it");
    }
    ctx.advance_ms(1);
    if !b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("at the end of the renewed lease another holder could not take it");
    }
    Ok(())
}

/// `lease_expires_after_ttl`
pub async fn lease_expires_after_ttl(ctx: Ctx) -> CaseResult {
    let a = ctx.open().await?;
    let b = ctx.open().await?;
    assert!(
        a.lease.try_acquire(LEASE, "node-a", TTL).await?,
        "a free lease was refused"
    );
    ctx.advance(TTL - Duration::from_millis(1));
    if b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("1 ms before the TTL passed another holder took the lease");
    }
    ctx.advance_ms(1);
    if !b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("once the TTL passed another holder could not take the lease");
    }
    if a.lease.try_acquire(LEASE, "node-a", TTL).await? {
        return fail("the former holder took the lease back from its new holder");
    }
    Ok(())
}

/// `lease_release_frees_it`
pub async fn lease_release_frees_it(ctx: Ctx) -> CaseResult {
    let a = ctx.open().await?;
    let b = ctx.open().await?;
    assert!(
        a.lease.try_acquire(LEASE, "node-a", TTL).await?,
        "a free lease was refused"
    );
    a.lease.release(LEASE, "node-a").await?;
    if !b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("right after release another holder could not take the lease");
    }
    if a.lease.try_acquire(LEASE, "node-a", TTL).await? {
        return fail("after releasing, the former holder took the lease back from its new holder");
    }
    // Releasing twice, or a lease nobody holds, is harmless.
    a.lease.release(LEASE, "node-a").await?;
    a.lease.release("never-taken", "node-a").await?;
    Ok(())
}

/// `lease_release_by_other_is_ignored`
pub async fn lease_release_by_other_is_ignored(ctx: Ctx) -> CaseResult {
    let a = ctx.open().await?;
    let b = ctx.open().await?;
    assert!(
        a.lease.try_acquire(LEASE, "node-a", TTL).await?,
        "a free lease was refused"
    );
    b.lease.release(LEASE, "node-b").await?;
    if b.lease.try_acquire(LEASE, "node-b", TTL).await? {
        return fail("a release by a non-holder freed the lease");
    }
    let c = ctx.open().await?;
    if c.lease.try_acquire(LEASE, "node-c", TTL).await? {
        return fail("a release by a non-holder freed the lease for a third holder");
    }
    if !a.lease.try_acquire(LEASE, "node-a", TTL).await? {
        return fail("a release by a non-holder took the lease from its holder");
    }
    Ok(())
}
