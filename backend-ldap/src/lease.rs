//! [`SweepLease`] on LDAP: one entry per lease name under `ou=lease`, holding the keyed
//! hash of the holder and the lease's end.
//!
//! | operation     | LDAP operations                                                     |
//! |---------------|---------------------------------------------------------------------|
//! | `try_acquire` | modify asserting "held by this holder, or ended" (1); add when the lease never existed |
//! | `release`     | delete asserting "held by this holder"                              |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::{Result, SweepLease};

use crate::dir::{Added, Node, ReadBack, Written, after, int, replace, replace_int, text};
use crate::schema::{attr, class};

const NAME_DOMAIN: &str = "lease.name";
const HOLDER_DOMAIN: &str = "lease.holder";
const CONTAINER: &str = "lease";
const MAX_ATTEMPTS: usize = 4;

/// The LDAP [`SweepLease`].
#[derive(Debug)]
pub(crate) struct LdapSweepLease(pub(crate) Node);

impl LdapSweepLease {
    /// The lease's DN and the holder's hash. Names and holders are labels, not secrets,
    /// but hashing them keeps every RDN and filter value plain hex.
    fn names(&self, name: &str, holder: &str) -> (String, String) {
        let config = &self.0.config;
        let name = config.hash(NAME_DOMAIN, name.as_bytes()).to_hex();
        let holder = config.hash(HOLDER_DOMAIN, holder.as_bytes()).to_hex();
        (self.0.dn(CONTAINER, &name), holder)
    }
}

#[async_trait]
impl SweepLease for LdapSweepLease {
    async fn try_acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let limits = &self.0.config.limits;
        limits.check_key("lease name", name)?;
        limits.check_key("lease holder", holder)?;
        limits.check_ttl("lease ttl", ttl)?;
        let now = self.0.now();
        let (dn, holder) = self.names(name, holder);
        let until = now.saturating_add(ttl).as_millis();
        // Ours already, or ended: then it is ours until now + ttl.
        let assertion = format!(
            "(|({}={holder})(!{}))",
            attr::HOLDER,
            after(attr::EXPIRES_AT, now)
        );
        for _ in 0..MAX_ATTEMPTS {
            let mods = vec![
                replace(attr::HOLDER, holder.clone().into_bytes()),
                replace_int(attr::EXPIRES_AT, until),
            ];
            match self
                .0
                .modify(&dn, mods, Some(&assertion), ReadBack::None)
                .await?
            {
                Written::Done(_) => return Ok(true),
                Written::AssertionFailed => return Ok(false),
                Written::NoSuchObject => {
                    let rdn = dn
                        .split_once(',')
                        .and_then(|(rdn, _)| rdn.split_once('='))
                        .map_or(String::new(), |(_, v)| v.to_owned());
                    let attrs = vec![
                        ("objectClass", self.0.classes(class::LEASE, None)),
                        (attr::KEY, text(&rdn)),
                        (attr::HOLDER, text(&holder)),
                        (attr::EXPIRES_AT, int(until)),
                    ];
                    if self.0.add(&dn, attrs).await? == Added::Yes {
                        return Ok(true);
                    }
                    // Taken by another node at the same moment: ask again.
                }
            }
        }
        Ok(false)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<()> {
        let (dn, holder) = self.names(name, holder);
        let assertion = format!("({}={holder})", attr::HOLDER);
        // Refused (another holder) or absent: nothing to release.
        self.0.delete(&dn, Some(&assertion), &[]).await?;
        Ok(())
    }
}
