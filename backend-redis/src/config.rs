//! How to reach Redis. (Being extended: TLS, ACL password files, Sentinel, Cluster.)

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Connection settings for the Redis backend.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// A `redis://` or `rediss://` URL.
    pub url: String,
    /// How long to wait for a connection and for each command.
    #[serde(default = "default_timeout", with = "humantime_ms")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

mod humantime_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl RedisConfig {
    /// Settings for `url` with default timeouts.
    pub fn from_url(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            timeout: default_timeout(),
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: show only its scheme and host part.
        let shown = match self.url.split_once('@') {
            Some((scheme_and_user, host)) => {
                let scheme = scheme_and_user.split("://").next().unwrap_or("redis");
                format!("{scheme}://[redacted]@{host}")
            }
            None => self.url.clone(),
        };
        f.debug_struct("RedisConfig")
            .field("url", &shown)
            .field("timeout", &self.timeout)
            .finish()
    }
}
