//! [`LockoutStore`] on LDAP: one entry per counter under `ou=lockout`, named by the keyed
//! hash of its key. The count is a plain INTEGER (`authstateCounter`) so the server can
//! increment it atomically; the failure window's end (`authstateExpiresAt`) and the
//! lock's end (`authstateLockedUntil`) sit beside it. A counter is live while either lies
//! after now, which is the core rule "expires at the later of now + window and the lock".
//!
//! | operation        | LDAP operations                                                     |
//! |------------------|---------------------------------------------------------------------|
//! | `record_failure` | modify asserting live: increment (RFC 4525) + new window end, with post-read of the count (1); the failure that locks adds one modify setting the lock; a first failure is an add (1); a failure on an expired counter is a modify asserting it expired that restarts it at 1 (2) |
//! | `status`         | base search                                                         |
//! | `reset`          | delete                                                              |
//!
//! Counters carry no sealed payload (nothing in them is secret, and a sealed count could
//! not be incremented by the server); the key is hashed like every other.

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    Error, LockoutPolicy, LockoutStatus, LockoutStore, Purge, PurgePolicy, PurgeReport, Result,
    Timestamp,
};
use ldap3::Mod;

use crate::BACKEND_NAME;
use crate::dir::{
    Added, Node, ReadBack, Written, after, at_or_before, clear, int, replace_int, text,
};
use crate::schema::{attr, class};

/// The hashing domain of lockout keys (the memory backend's).
const KEY_DOMAIN: &str = "lockout.key";
const CONTAINER: &str = "lockout";
const MAX_ATTEMPTS: usize = 8;

/// The LDAP [`LockoutStore`].
#[derive(Debug)]
pub(crate) struct LdapLockoutStore(pub(crate) Node);

/// Live at `now`: the window or the lock lies after it.
fn live_filter(now: Timestamp) -> String {
    format!(
        "(|{}{})",
        after(attr::EXPIRES_AT, now),
        after(attr::LOCKED_UNTIL, now)
    )
}

/// Dead at `t`: neither the window nor a lock lies after it.
fn dead_filter(t: Timestamp) -> String {
    format!(
        "(&{}(!{}))",
        at_or_before(attr::EXPIRES_AT, t),
        after(attr::LOCKED_UNTIL, t)
    )
}

impl LdapLockoutStore {
    fn key(&self, key: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("lockout key", key)?;
        Ok(self.0.config.hash(KEY_DOMAIN, key.as_bytes()))
    }

    fn status_of(entry: &crate::ber::Entry) -> Result<LockoutStatus> {
        let count = entry.required_int(attr::COUNTER)?;
        let failures = u32::try_from(count).map_err(|_| {
            Error::corrupt(
                BACKEND_NAME,
                format!("lockout counter {count} of {} is out of range", entry.dn),
            )
        })?;
        Ok(LockoutStatus {
            failures,
            locked_until: entry.int(attr::LOCKED_UNTIL)?.map(Timestamp::from_millis),
        })
    }

    /// Sets the lock to `until`, unless a later lock is already there.
    async fn lock(&self, dn: &str, until: Timestamp) -> Result<()> {
        // Only ever later: of concurrent lockers the latest end stays.
        let assertion = format!("(!{})", after(attr::LOCKED_UNTIL, until));
        let mods = vec![replace_int(attr::LOCKED_UNTIL, until.as_millis())];
        match self
            .0
            .modify(dn, mods, Some(&assertion), ReadBack::None)
            .await?
        {
            // A later lock is already set, or the counter was reset meanwhile: either
            // way the caller's failure was counted and the answer stands.
            Written::Done(_) | Written::AssertionFailed | Written::NoSuchObject => Ok(()),
        }
    }
}

#[async_trait]
impl LockoutStore for LdapLockoutStore {
    async fn record_failure(&self, key: &str, policy: &LockoutPolicy) -> Result<LockoutStatus> {
        policy.validate()?;
        let key = self.key(key)?;
        let now = self.0.now();
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        let window_end = now.saturating_add(policy.failure_window);
        let new_lock = now.saturating_add(policy.lockout_duration);
        for _ in 0..MAX_ATTEMPTS {
            // A live counter: the server adds 1 and hands back the new count, so N
            // concurrent failures on any number of nodes count exactly N, each caller
            // seeing its own count.
            let mods = vec![
                Mod::Increment(attr::COUNTER.as_bytes().to_vec(), b"1".to_vec()),
                replace_int(attr::EXPIRES_AT, window_end.as_millis()),
            ];
            let read = [attr::COUNTER, attr::LOCKED_UNTIL];
            match self
                .0
                .modify(&dn, mods, Some(&live_filter(now)), ReadBack::Post(&read))
                .await?
            {
                Written::Done(Some(after)) => {
                    let mut status = Self::status_of(&after)?;
                    if status.failures >= policy.max_failures {
                        self.lock(&dn, new_lock).await?;
                        status.locked_until = Some(new_lock);
                    }
                    // Below the threshold (possible only if the policy's threshold was
                    // raised) a lock already running is kept: a policy change never
                    // unlocks.
                    return Ok(status);
                }
                Written::Done(None) => {
                    return Err(Error::unexpected(
                        BACKEND_NAME,
                        "the counter was incremented but not read back",
                    ));
                }
                Written::AssertionFailed => {
                    // The counter has expired: start again at 1, if it is still expired
                    // when the server looks (another failure may have restarted it).
                    let locked = policy.max_failures <= 1;
                    let mut mods = vec![
                        replace_int(attr::COUNTER, 1),
                        replace_int(attr::EXPIRES_AT, window_end.as_millis()),
                    ];
                    mods.push(if locked {
                        replace_int(attr::LOCKED_UNTIL, new_lock.as_millis())
                    } else {
                        clear(attr::LOCKED_UNTIL)
                    });
                    match self
                        .0
                        .modify(&dn, mods, Some(&dead_filter(now)), ReadBack::None)
                        .await?
                    {
                        Written::Done(_) => {
                            return Ok(LockoutStatus {
                                failures: 1,
                                locked_until: locked.then_some(new_lock),
                            });
                        }
                        Written::AssertionFailed | Written::NoSuchObject => continue,
                    }
                }
                Written::NoSuchObject => {
                    let locked = policy.max_failures <= 1;
                    let mut attrs = vec![
                        ("objectClass", self.0.classes(class::LOCKOUT, None)),
                        (attr::KEY, text(&key.to_hex())),
                        (attr::COUNTER, int(1)),
                        (attr::EXPIRES_AT, int(window_end.as_millis())),
                    ];
                    if locked {
                        attrs.push((attr::LOCKED_UNTIL, int(new_lock.as_millis())));
                    }
                    match self.0.add(&dn, attrs).await? {
                        Added::Yes => {
                            return Ok(LockoutStatus {
                                failures: 1,
                                locked_until: locked.then_some(new_lock),
                            });
                        }
                        // Created by a concurrent failure: count on it.
                        Added::Exists => continue,
                    }
                }
            }
        }
        Err(Error::conflict(
            BACKEND_NAME,
            "the counter kept being reset and recreated concurrently; try again",
        ))
    }

    async fn status(&self, key: &str) -> Result<LockoutStatus> {
        let key = self.key(key)?;
        let now = self.0.now();
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        match self
            .0
            .read(&dn, &live_filter(now), &[attr::COUNTER, attr::LOCKED_UNTIL])
            .await?
        {
            Some(entry) => Self::status_of(&entry),
            None => Ok(LockoutStatus::default()),
        }
    }

    async fn reset(&self, key: &str) -> Result<()> {
        let key = self.key(key)?;
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        self.0.delete(&dn, None, &[]).await?;
        Ok(())
    }
}

#[async_trait]
impl Purge for LdapLockoutStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        self.0
            .purge(CONTAINER, policy, |cutoff| dead_filter(cutoff.expiry))
            .await
    }
}
