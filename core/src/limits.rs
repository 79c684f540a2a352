//! Limits that bound what one caller can make a store hold.

use std::time::Duration;

use crate::error::{Error, Result};

/// Bounds checked before any backend is asked, on reads as on writes. Exceeding one is
/// [`crate::ErrorKind::InvalidInput`] with a message naming the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest payload (session data, artifact, state value, token data), in bytes.
    pub max_payload_bytes: usize,
    /// The longest handle, key, id, subject or client id, in bytes.
    pub max_key_bytes: usize,
    /// The longest a replay-cache entry may be kept: a `not_after` further than this in
    /// the future is refused, so the cache stays bounded without evicting live entries.
    pub max_replay_retention: Duration,
    /// The longest TTL or lifetime any record may be given.
    pub max_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 64 * 1024,
            max_key_bytes: 1024,
            max_replay_retention: Duration::from_secs(24 * 3600),
            max_ttl: Duration::from_secs(400 * 24 * 3600),
        }
    }
}

impl Limits {
    /// Refuses a payload larger than [`Limits::max_payload_bytes`].
    pub fn check_payload(&self, what: &str, len: usize) -> Result<()> {
        if len > self.max_payload_bytes {
            return Err(Error::invalid_input(
                "core",
                format!(
                    "{what} is {len} bytes, over the maximum payload size of {} bytes",
                    self.max_payload_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Refuses an empty key or one longer than [`Limits::max_key_bytes`].
    pub fn check_key(&self, what: &str, key: &str) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid_input("core", format!("{what} is empty")));
        }
        if key.len() > self.max_key_bytes {
            return Err(Error::invalid_input(
                "core",
                format!(
                    "{what} is {} bytes, over the maximum of {} bytes",
                    key.len(),
                    self.max_key_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a zero TTL or one longer than [`Limits::max_ttl`].
    pub fn check_ttl(&self, what: &str, ttl: Duration) -> Result<()> {
        if ttl.is_zero() {
            return Err(Error::invalid_input("core", format!("{what} is zero")));
        }
        if ttl > self.max_ttl {
            return Err(Error::invalid_input(
                "core",
                format!(
                    "{what} of {}s is over the maximum of {}s",
                    ttl.as_secs(),
                    self.max_ttl.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_what_is_wrong() {
        let l = Limits::default();
        let e = l
            .check_payload("session data", 70_000)
            .expect_err("too big");
        assert!(e.to_string().contains("session data is 70000 bytes"));
        assert!(l.check_key("artifact handle", "").is_err());
        assert!(l.check_ttl("lifetime", Duration::ZERO).is_err());
        assert!(l.check_ttl("lifetime", Duration::from_secs(60)).is_ok());
    }
}
