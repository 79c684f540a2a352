//! Identifiers made from 256 bits of operating-system randomness.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The length of a generated id in characters: 32 random bytes, base64url without padding.
pub const ID_LEN: usize = 43;

/// 32 bytes from the operating system's random source, as 43 base64url characters.
///
/// Fails with [`crate::ErrorKind::Unavailable`] only when the OS refuses randomness;
/// it never falls back to a weaker source.
pub fn random_token() -> Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::unavailable("core", format!("the OS random source failed: {e}")))?;
    let s = URL_SAFE_NO_PAD.encode(bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    Ok(SecretString::new(s))
}

/// Fills `buf` from the operating system's random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf)
        .map_err(|e| Error::unavailable("core", format!("the OS random source failed: {e}")))
}

/// A session id. Made by the store from 256 random bits; `Debug` never shows it.
///
/// The store keeps only a keyed hash of it, so an id cannot be recovered from storage.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(SecretString);

impl SessionId {
    /// A new random id.
    pub fn generate() -> Result<Self> {
        random_token().map(SessionId)
    }

    /// Accepts an id received from a client (a cookie). Anything that is not
    /// 43 base64url characters is [`crate::ErrorKind::InvalidInput`].
    pub fn parse(s: &str) -> Result<Self> {
        let ok = s.len() == ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(Error::invalid_input(
                "core",
                format!("a session id is {ID_LEN} base64url characters"),
            ));
        }
        Ok(SessionId(SecretString::new(s)))
    }

    /// The id, to send to the client. Never log it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = SessionId::generate().expect("random");
        let b = SessionId::generate().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), ID_LEN);
        assert!(SessionId::parse(a.expose()).is_ok());
        assert!(SessionId::parse("short").is_err());
        assert!(SessionId::parse(&"!".repeat(ID_LEN)).is_err());
    }
}
