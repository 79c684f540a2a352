//! Namespaces: every store is opened in one, and nothing outside it is read or written.

use std::fmt;

use crate::error::{Error, Result};

/// The longest namespace, in bytes. Short enough to prefix SQL table names and LDAP RDNs.
pub const MAX_NAMESPACE_LEN: usize = 32;

/// A validated namespace name such as `idp-prod`: 1 to 32 characters of lowercase ASCII
/// letters, digits, `-` and `_`, starting with a letter.
///
/// Two IdP clusters sharing one server use two namespaces.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= MAX_NAMESPACE_LEN
            && name.as_bytes()[0].is_ascii_lowercase()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Namespace(name))
        } else {
            Err(Error::config(
                "core",
                format!(
                    "namespace {name:?} is invalid: use 1 to {MAX_NAMESPACE_LEN} characters of \
                     a-z, 0-9, '-' and '_', starting with a letter"
                ),
            ))
        }
    }

    /// A fresh random namespace (`t` and 16 hex characters), as tests use.
    pub fn random() -> Result<Self> {
        let mut b = [0u8; 8];
        crate::id::random_bytes(&mut b)?;
        Namespace::new(format!("t{}", hex::encode(b)))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({})", self.0)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names() {
        assert!(Namespace::new("idp-prod").is_ok());
        assert!(Namespace::new("a").is_ok());
        for bad in ["", "1abc", "Idp", "idp prod", "idp:prod", &"a".repeat(33)] {
            assert!(Namespace::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_ne!(
            Namespace::random().expect("ns"),
            Namespace::random().expect("ns")
        );
    }
}
