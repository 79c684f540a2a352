//! The core of [authstate](https://docs.rs/authstate): the nine contracts an identity
//! provider's shared state is kept behind, the types they share, the record codec, the
//! memory backend and the sweeper.
//!
//! Most users depend on the `authstate` facade crate, which re-exports this one and,
//! behind features, the Redis, SQL and LDAP backends.
//!
//! # The rules every store keeps
//!
//! - **Namespace.** A store reads and writes nothing outside its [`Namespace`].
//! - **One clock.** Expiry is decided on every read with the store's [`Clock`]; an
//!   expired record is never returned, whether or not it has been purged.
//! - **No raw secrets at rest.** Session ids, codes, handles, tokens, replay ids and
//!   subjects used as index keys are stored as keyed hashes ([`codec::RecordCodec::hash`]).
//! - **Records are sealed** by one [`codec::RecordCodec`]: a tampered record is
//!   [`ErrorKind::Corrupt`], never a panic and never "absent".
//! - **Fail closed.** A backend that cannot answer returns [`ErrorKind::Unavailable`],
//!   never "not found", "fresh" or "not revoked".
#![deny(missing_docs)]

pub mod capabilities;
pub mod codec;
pub mod config;
pub mod contract;
pub mod contracts;
pub mod domains;
pub mod error;
pub mod id;
pub mod limits;
pub mod memory;
pub mod namespace;
pub mod secret;
pub mod sweeper;
pub mod time;

pub use capabilities::Capabilities;
pub use config::StoreConfig;
pub use contract::Contract;
pub use contracts::*;
pub use error::{BoxError, Error, ErrorKind, Result};
pub use id::SessionId;
pub use limits::Limits;
pub use memory::MemoryBackend;
pub use namespace::Namespace;
pub use secret::{SecretBytes, SecretString};
pub use time::{Clock, ManualClock, SharedClock, SystemClock, Timestamp};
