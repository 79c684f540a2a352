//! One handle over every deployment (standalone, Sentinel, Cluster) that the stores
//! send commands and scripts through. (Being extended: TLS, Sentinel, Cluster.)

use authstate_core::{Error, Result};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::BACKEND_NAME;
use crate::config::RedisConfig;
use crate::error::map;

/// A cloneable, multiplexed connection to the Redis deployment. Clones share sockets.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Standalone(ConnectionManager),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Standalone(_) => "standalone",
        };
        f.debug_struct("RedisConnection")
            .field("kind", &kind)
            .finish()
    }
}

impl RedisConnection {
    /// Connects as `config` says, within its timeout.
    pub async fn connect(config: &RedisConfig) -> Result<Self> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| Error::config(BACKEND_NAME, format!("the Redis URL is invalid: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1);
        let manager = tokio::time::timeout(
            config.timeout,
            client.get_connection_manager_with_config(manager_config),
        )
        .await
        .map_err(|_| {
            Error::unavailable(
                BACKEND_NAME,
                format!("no answer from Redis within {:?}", config.timeout),
            )
        })?
        .map_err(map)?;
        Ok(RedisConnection {
            inner: Inner::Standalone(manager),
        })
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Standalone(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Standalone(c) => c.get_db(),
        }
    }
}
