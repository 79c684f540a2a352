use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Purge;
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// When failures lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures at which the account locks (PingFederate's "maximum failures").
    pub max_failures: u32,
    /// The counter is forgotten this long after the latest failure.
    pub failure_window: Duration,
    /// How long the account stays locked after a failure at or over the threshold.
    pub lockout_duration: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            failure_window: Duration::from_secs(3600),
            lockout_duration: Duration::from_secs(3600),
        }
    }
}

impl LockoutPolicy {
    /// `InvalidInput` for a zero threshold, window or lockout duration.
    pub fn validate(&self) -> Result<()> {
        if self.max_failures == 0 {
            return Err(Error::invalid_input("core", "lockout max_failures is zero"));
        }
        if self.failure_window.is_zero() {
            return Err(Error::invalid_input(
                "core",
                "lockout failure_window is zero",
            ));
        }
        if self.lockout_duration.is_zero() {
            return Err(Error::invalid_input(
                "core",
                "lockout lockout_duration is zero",
            ));
        }
        Ok(())
    }
}

/// A lockout counter as stored and returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LockoutStatus {
    /// Failures counted in the current window.
    pub failures: u32,
    /// The account is locked until this time, if it is locked.
    pub locked_until: Option<Timestamp>,
}

impl LockoutStatus {
    /// Whether the account is locked at `now`.
    pub fn is_locked_at(&self, now: Timestamp) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }
}

/// Account lockout counters (PingFederate's Account Locking Service). Keys (a username,
/// a username plus client IP) are stored as keyed hashes.
///
/// The rule every backend follows, with `now` from the store's clock:
/// a failure on a live counter adds 1, on none (or an expired one) starts at 1; when the
/// count reaches `max_failures` or more, `locked_until = now + lockout_duration`; the
/// counter expires at the later of `now + failure_window` and `locked_until`.
#[async_trait]
pub trait LockoutStore: Purge {
    /// Counts one failed attempt and returns the new status.
    ///
    /// # Behavior
    /// - `record_failure_counts_from_one`: the first failure returns `failures == 1`,
    ///   unlocked (for a threshold above 1).
    /// - `record_failure_locks_at_max_failures`: the failure that reaches `max_failures`
    ///   returns `locked_until == now + lockout_duration`.
    /// - `record_failure_concurrent_counts_exactly`: N concurrent failures, from any
    ///   number of nodes, count exactly N, and each caller sees a distinct count.
    /// - `record_failure_window_expires`: at `failure_window` after the latest failure
    ///   (and with no lock left) the count starts again from 1.
    /// - `record_failure_refuses_bad_policy`: a zero threshold, window or duration is
    ///   `InvalidInput`.
    /// - `record_failure_refuses_bad_key`: an empty or oversized key is `InvalidInput`.
    async fn record_failure(&self, key: &str, policy: &LockoutPolicy) -> Result<LockoutStatus>;

    /// Reads a counter.
    ///
    /// # Behavior
    /// - `status_unknown_is_zero`: an unknown key has 0 failures and no lock.
    /// - `status_shows_lock_until_it_ends`: locked until `locked_until` (1 ms before:
    ///   locked; at it: not locked).
    /// - `status_after_expiry_is_zero`: an expired counter reads as 0 failures, even
    ///   before purge.
    async fn status(&self, key: &str) -> Result<LockoutStatus>;

    /// Clears a counter (a successful login, an administrator's unlock).
    ///
    /// # Behavior
    /// - `reset_clears_counter`: afterwards the status is 0 failures and unlocked, and
    ///   the next failure counts from 1.
    /// - `reset_unknown_is_ok`: resetting an unknown key succeeds.
    async fn reset(&self, key: &str) -> Result<()>;
}
