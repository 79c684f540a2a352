//! The directory as the stores see it: where each record lives (DNs), sealing, and the
//! handful of LDAP operations every store is built from, each returning the outcomes a
//! store acts on (added / already exists; done / assertion failed / no such object).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstate_core::{
    Contract, Error, PurgeCriterion, PurgePolicy, PurgeReport, Result, StoreConfig, Timestamp,
};
use futures::StreamExt as _;
use ldap3::controls::{Assertion, PagedResults, PostRead, PreRead, RawControl};
use ldap3::exop::Exop;
use ldap3::{Ldap, LdapResult, Mod, Scope, SearchResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::BACKEND_NAME;
use crate::ber::{self, Entry};
use crate::config::{PurgeOptions, ServerTtl};
use crate::connection::Pool;
use crate::error::{self, RC_ALREADY_EXISTS, RC_ASSERTION_FAILED, RC_NO_SUCH_OBJECT, RC_SUCCESS};
use crate::schema::{attr, class};

/// The pre-read control's OID (RFC 4527).
const PRE_READ_OID: &str = "1.3.6.1.1.13.1";
/// The post-read control's OID (RFC 4527).
const POST_READ_OID: &str = "1.3.6.1.1.13.2";
/// The paged results control's OID (RFC 2696).
const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";
/// The refresh extended operation of dynamic directory services (RFC 2589).
const REFRESH_OID: &str = "1.3.6.1.4.1.1466.101.119.1";

/// The containers of a namespace: one per contract, and one for sweep leases.
pub(crate) const CONTAINERS: [&str; 10] = [
    "session",
    "artifact",
    "state",
    "replay",
    "lockout",
    "key",
    "revocation",
    "token",
    "registry",
    "lease",
];

/// What every node of one backend shares: the pool and the server-side settings.
#[derive(Debug)]
pub(crate) struct Directory {
    pub pool: Pool,
    pub base_dn: String,
    pub server_ttl: ServerTtl,
    pub purge: PurgeOptions,
    pub time_attributes: bool,
}

/// The outcome of an add.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    Yes,
    /// entryAlreadyExists (68).
    Exists,
}

/// The outcome of a modify or delete.
#[derive(Debug)]
pub(crate) enum Written {
    /// Done; the pre- or post-read entry when one was asked for.
    Done(Option<Entry>),
    /// The assertion control did not match (122): nothing changed.
    AssertionFailed,
    /// noSuchObject (32): nothing changed.
    NoSuchObject,
}

/// Which entry a modify or delete returns with it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadBack<'a> {
    None,
    /// The entry as it was before the operation (RFC 4527 pre-read).
    Pre(&'a [&'a str]),
    /// The entry as it is after the operation (RFC 4527 post-read).
    Post(&'a [&'a str]),
}

/// An attribute of an entry to add: its name and values.
pub(crate) type Attr = (&'static str, Vec<Vec<u8>>);

/// One opened node: its store config and where its namespace lives.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub dir: Arc<Directory>,
    pub config: StoreConfig,
    /// `ou=<namespace>,<base>`.
    pub ns_dn: String,
}

/// An integer attribute value.
pub(crate) fn int(v: i64) -> Vec<Vec<u8>> {
    vec![v.to_string().into_bytes()]
}

/// A text attribute value.
pub(crate) fn text(v: &str) -> Vec<Vec<u8>> {
    vec![v.as_bytes().to_vec()]
}

/// A `Mod::Replace` of `name` with one value.
pub(crate) fn replace(name: &str, value: Vec<u8>) -> Mod<Vec<u8>> {
    Mod::Replace(name.as_bytes().to_vec(), HashSet::from([value]))
}

/// A `Mod::Replace` of `name` with an integer.
pub(crate) fn replace_int(name: &str, value: i64) -> Mod<Vec<u8>> {
    replace(name, value.to_string().into_bytes())
}

/// A `Mod::Replace` of `name` with nothing: removes the attribute if it is there.
pub(crate) fn clear(name: &str) -> Mod<Vec<u8>> {
    Mod::Replace(name.as_bytes().to_vec(), HashSet::new())
}

/// `ms` since the epoch as an LDAP GeneralizedTime in UTC with milliseconds
/// (`YYYYMMDDHHMMSS.fffZ`), clamped to the years 1970 to 9999.
pub(crate) fn generalized_time(ms: i64) -> String {
    // 9999-12-31T23:59:59.999Z.
    const MAX_MS: i64 = 253_402_300_799_999;
    let ms = ms.clamp(0, MAX_MS);
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date (Howard Hinnant's algorithm, for days since 1970-01-01).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, sec, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000,
    );
    format!("{year:04}{month:02}{day:02}{h:02}{m:02}{sec:02}.{milli:03}Z")
}

/// `(attr>=t+1)`: the attribute holds a time after `t`, i.e. the record is live at `t`.
pub(crate) fn after(name: &str, t: Timestamp) -> String {
    format!("({name}>={})", t.as_millis().saturating_add(1))
}

/// `(attr<=t)`.
pub(crate) fn at_or_before(name: &str, t: Timestamp) -> String {
    format!("({name}<={})", t.as_millis())
}

/// Live at `now` by its expiry: `(authstateExpiresAt>=now+1)`.
pub(crate) fn live(now: Timestamp) -> String {
    after(attr::EXPIRES_AT, now)
}

/// Dead at `now` by its expiry: `(authstateExpiresAt<=now)`.
pub(crate) fn dead(now: Timestamp) -> String {
    at_or_before(attr::EXPIRES_AT, now)
}

/// Lowercase, without the spaces some servers put around `,` and `=`, for comparing
/// DNs this backend built with DNs a server sent back.
fn norm_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            rdn.split('=')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("=")
                .to_ascii_lowercase()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The parent of a DN this backend built (its RDN values never contain commas).
fn parent(dn: &str) -> &str {
    dn.split_once(',').map_or("", |(_, p)| p)
}

impl Node {
    /// `ou=<name>,ou=<namespace>,<base>`.
    pub fn container(&self, name: &str) -> String {
        format!("ou={name},{}", self.ns_dn)
    }

    /// `authstateKey=<key>,ou=<container>,…`.
    pub fn dn(&self, container: &str, key: &str) -> String {
        format!("{}={key},{}", attr::KEY, self.container(container))
    }

    /// The store's clock.
    pub fn now(&self) -> Timestamp {
        self.config.now()
    }

    /// Seals `value` as the `contract` record stored under `key`.
    pub fn seal<T: Serialize>(&self, contract: Contract, key: &[u8], value: &T) -> Result<Vec<u8>> {
        let ad = self.config.ad(contract, key);
        self.config
            .codec
            .encode(&ad, value)
            .map_err(|e| from_codec(contract, e))
    }

    /// Opens the `contract` record stored under `key`. A record that does not open is
    /// `Corrupt`, never "absent".
    pub fn unseal<T: DeserializeOwned>(
        &self,
        contract: Contract,
        key: &[u8],
        blob: &[u8],
    ) -> Result<T> {
        let ad = self.config.ad(contract, key);
        self.config
            .codec
            .decode(&ad, blob)
            .map_err(|e| from_codec(contract, e))
    }

    /// Whether `blob` is sealed the way this store writes now: with the keyring's write
    /// key, or in plaintext when there is no keyring. A record that is not (written
    /// before encryption was enabled, or under an older key) is re-sealed when it is
    /// rewritten, so a migration finishes record by record.
    pub fn sealed_as_now(&self, blob: &[u8]) -> bool {
        match self.config.codec.keyring() {
            None => blob.get(1) == Some(&0),
            Some(keyring) => {
                let id = keyring.write_key().id().as_bytes();
                blob.get(1).is_some_and(|&alg| alg != 0)
                    && blob.get(2).map(|&l| usize::from(l)) == Some(id.len())
                    && blob.get(3..3 + id.len()) == Some(id)
            }
        }
    }

    /// A pooled connection with the operation timeout set.
    async fn ldap(&self) -> Result<Ldap> {
        let mut ldap = self.dir.pool.get().await?;
        // Every caller of this sends exactly one operation.
        self.dir.pool.count_operation();
        ldap.with_timeout(self.dir.pool.operation_timeout());
        Ok(ldap)
    }

    /// `ConfigInvalid` when a noSuchObject answer says the record's container (not the
    /// record) is missing: the namespace was never migrated, or the base DN is wrong.
    fn missing_container(&self, dn: &str, res: &LdapResult) -> Option<Error> {
        let container = parent(dn);
        if res.matched.is_empty() || norm_dn(&res.matched) == norm_dn(container) {
            return None;
        }
        Some(Error::config(
            BACKEND_NAME,
            format!(
                "the container {container} does not exist (the server found only {:?}): run \
                 LdapBackend::migrate for namespace {} (authstate migrate), and check the \
                 base DN",
                res.matched, self.config.namespace
            ),
        ))
    }

    /// Reads one entry, if it exists and matches `filter`.
    pub async fn read(&self, dn: &str, filter: &str, attrs: &[&str]) -> Result<Option<Entry>> {
        let mut ldap = self.ldap().await?;
        let SearchResult(entries, res) = ldap
            .search(dn, Scope::Base, filter, attrs.to_vec())
            .await
            .map_err(|e| error::transport("reading an entry", e))?;
        match res.rc {
            RC_SUCCESS => match entries.first() {
                Some(e) => ber::entry_from_tag(&e.0).map(Some),
                None => Ok(None),
            },
            RC_NO_SUCH_OBJECT => match self.missing_container(dn, &res) {
                Some(e) => Err(e),
                None => Ok(None),
            },
            _ => Err(error::result("reading an entry", &res)),
        }
    }

    /// The entries directly under `base` that match `filter`.
    pub async fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> Result<Vec<Entry>> {
        let mut ldap = self.ldap().await?;
        let SearchResult(entries, res) = ldap
            .search(base, Scope::OneLevel, filter, attrs.to_vec())
            .await
            .map_err(|e| error::transport("searching", e))?;
        match res.rc {
            RC_SUCCESS => entries.iter().map(|e| ber::entry_from_tag(&e.0)).collect(),
            RC_NO_SUCH_OBJECT => Err(self.container_gone(base)),
            _ => Err(error::result("searching", &res)),
        }
    }

    fn container_gone(&self, container: &str) -> Error {
        Error::config(
            BACKEND_NAME,
            format!(
                "the container {container} does not exist: run LdapBackend::migrate for \
                 namespace {} (authstate migrate), and check the base DN",
                self.config.namespace
            ),
        )
    }

    /// Adds an entry.
    pub async fn add(&self, dn: &str, attrs: Vec<Attr>) -> Result<Added> {
        let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = attrs
            .into_iter()
            .map(|(name, values)| (name.as_bytes().to_vec(), values.into_iter().collect()))
            .collect();
        let mut ldap = self.ldap().await?;
        let res = ldap
            .add(dn, attrs)
            .await
            .map_err(|e| error::transport("adding an entry", e))?;
        match res.rc {
            RC_SUCCESS => Ok(Added::Yes),
            RC_ALREADY_EXISTS => Ok(Added::Exists),
            RC_NO_SUCH_OBJECT => Err(self.container_gone(parent(dn))),
            _ => Err(error::result("adding an entry", &res)),
        }
    }

    /// Modifies an entry, only if it matches `assertion` (when given), returning the
    /// entry asked for by `read`, all in one operation.
    pub async fn modify(
        &self,
        dn: &str,
        mods: Vec<Mod<Vec<u8>>>,
        assertion: Option<&str>,
        read: ReadBack<'_>,
    ) -> Result<Written> {
        let controls = controls(assertion, read)?;
        let mut ldap = self.ldap().await?;
        let res = ldap
            .with_controls(controls)
            .modify(dn, mods)
            .await
            .map_err(|e| error::transport("modifying an entry", e))?;
        self.written(dn, res, read, "modifying an entry")
    }

    /// Deletes an entry, only if it matches `assertion` (when given), returning its
    /// attributes `pre_read` as they were.
    pub async fn delete(
        &self,
        dn: &str,
        assertion: Option<&str>,
        pre_read: &[&str],
    ) -> Result<Written> {
        let read = if pre_read.is_empty() {
            ReadBack::None
        } else {
            ReadBack::Pre(pre_read)
        };
        let controls = controls(assertion, read)?;
        let mut ldap = self.ldap().await?;
        let res = ldap
            .with_controls(controls)
            .delete(dn)
            .await
            .map_err(|e| error::transport("deleting an entry", e))?;
        self.written(dn, res, read, "deleting an entry")
    }

    fn written(
        &self,
        dn: &str,
        res: LdapResult,
        read: ReadBack<'_>,
        what: &str,
    ) -> Result<Written> {
        match res.rc {
            RC_SUCCESS => {
                let oid = match read {
                    ReadBack::None => return Ok(Written::Done(None)),
                    ReadBack::Pre(_) => PRE_READ_OID,
                    ReadBack::Post(_) => POST_READ_OID,
                };
                // The control was critical, so a success without it is a server bug;
                // it is checked, not assumed (ldap3's parser would panic on it).
                let value = res
                    .ctrls
                    .iter()
                    .find(|c| c.1.ctype == oid)
                    .and_then(|c| c.1.val.as_deref())
                    .ok_or_else(|| {
                        Error::unexpected(
                            BACKEND_NAME,
                            format!(
                                "{what}: the server reported success but sent no read-entry \
                                 control ({oid})"
                            ),
                        )
                    })?;
                ber::entry_from_control(value).map(|e| Written::Done(Some(e)))
            }
            RC_ASSERTION_FAILED => Ok(Written::AssertionFailed),
            RC_NO_SUCH_OBJECT => match self.missing_container(dn, &res) {
                Some(e) => Err(e),
                None => Ok(Written::NoSuchObject),
            },
            _ => Err(error::result(what, &res)),
        }
    }

    /// The expiry attributes of a new record: the integer, and with
    /// `time_attributes` its GeneralizedTime copy.
    pub fn expiry(&self, ms: i64) -> Vec<Attr> {
        let mut out = vec![(attr::EXPIRES_AT, int(ms))];
        if self.dir.time_attributes {
            out.push((attr::EXPIRY_TIME, text(&generalized_time(ms))));
        }
        out
    }

    /// The modifications that set a record's expiry (see [`Node::expiry`]).
    pub fn set_expiry(&self, ms: i64) -> Vec<Mod<Vec<u8>>> {
        let mut out = vec![replace_int(attr::EXPIRES_AT, ms)];
        if self.dir.time_attributes {
            out.push(replace(
                attr::EXPIRY_TIME,
                generalized_time(ms).into_bytes(),
            ));
        }
        out
    }

    /// A session's last activity attributes (see [`Node::expiry`]).
    pub fn last_activity(&self, ms: i64) -> Vec<Attr> {
        let mut out = vec![(attr::LAST_ACTIVITY, int(ms))];
        if self.dir.time_attributes {
            out.push((attr::LAST_ACTIVITY_TIME, text(&generalized_time(ms))));
        }
        out
    }

    /// The modifications that set a session's last activity.
    pub fn set_last_activity(&self, ms: i64) -> Vec<Mod<Vec<u8>>> {
        let mut out = vec![replace_int(attr::LAST_ACTIVITY, ms)];
        if self.dir.time_attributes {
            out.push(replace(
                attr::LAST_ACTIVITY_TIME,
                generalized_time(ms).into_bytes(),
            ));
        }
        out
    }

    /// The object classes of a new record of `class` that lives `lifetime`: with the
    /// dds mode on and a life that fits the server's maximum TTL, also `dynamicObject`.
    pub fn classes(&self, class: &str, lifetime: Option<Duration>) -> Vec<Vec<u8>> {
        let mut out = vec![class.as_bytes().to_vec()];
        if self.dynamic(lifetime).is_some() {
            out.push(class::DYNAMIC.as_bytes().to_vec());
        }
        out
    }

    /// The entryTtl to give a new record living `lifetime`, if it is a dynamic object.
    fn dynamic(&self, lifetime: Option<Duration>) -> Option<u32> {
        let ServerTtl::Dds { max_ttl, tolerance } = self.dir.server_ttl else {
            return None;
        };
        let ttl = lifetime?.saturating_add(tolerance);
        // Whole seconds, rounded up: never shorter than the record's life.
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        (secs <= max_ttl.as_secs()).then(|| u32::try_from(secs).ok())?
    }

    /// After adding a dynamic record (see [`Node::classes`]), shortens its entryTtl from
    /// the server's default (the maximum) to its life. Sent in the background: the
    /// default TTL is already correct, only longer, so a lost refresh costs memory and
    /// never a live record; the caller does not wait for it.
    pub fn refresh_ttl(&self, dn: &str, lifetime: Option<Duration>) {
        let Some(ttl) = self.dynamic(lifetime) else {
            return;
        };
        let dir = self.dir.clone();
        let dn = dn.to_owned();
        tokio::spawn(async move {
            if let Err(e) = refresh(&dir, &dn, ttl).await {
                tracing::warn!(error = %e, "the dds refresh of a new entry failed; it keeps the default TTL");
            }
        });
    }

    /// Deletes, in batches of one page of a paged search, the entries under `container`
    /// that match `dead` (built from the policy's cutoffs), each guarded by the same
    /// filter as an assertion so that a record renewed since the search survives.
    pub async fn purge(
        &self,
        container: &str,
        policy: &PurgePolicy,
        dead: impl Fn(Cutoff) -> String,
    ) -> Result<PurgeReport> {
        if policy.batch_size == 0 {
            return Err(Error::invalid_input(
                BACKEND_NAME,
                "purge batch_size is zero: a purge would never make progress",
            ));
        }
        let filter = dead(Cutoff::new(policy, self.now()));
        let container = self.container(container);
        let size = i32::try_from(policy.batch_size).unwrap_or(i32::MAX);
        let mut report = PurgeReport::default();
        let paged = self.dir.pool.paged().await?;
        let pacer = Pacer::new(self.dir.purge.max_deletes_per_second);
        let mut cookie: Vec<u8> = Vec::new();
        loop {
            if policy.max_batches.is_some_and(|max| report.batches >= max) {
                // Tell the server the paged search is over (RFC 2696: size 0).
                if !cookie.is_empty() {
                    let _ = paged_page(&paged.ldap, &container, &filter, 0, cookie, self).await;
                }
                break;
            }
            let (dns, next) =
                paged_page(&paged.ldap, &container, &filter, size, cookie, self).await?;
            let examined = dns.len() as u64;
            let deleted = self.delete_all(dns, &filter, &pacer).await?;
            if examined > 0 {
                report.batches += 1;
                report.examined += examined;
                report.deleted += deleted;
            }
            if next.is_empty() {
                break;
            }
            cookie = next;
        }
        Ok(report)
    }

    /// Deletes `dns`, each guarded by `filter`, `delete_threads` at a time and paced to
    /// the configured rate; returns how many were deleted.
    async fn delete_all(&self, dns: Vec<String>, filter: &str, pacer: &Pacer) -> Result<u64> {
        let threads = self.dir.purge.delete_threads.max(1);
        let results: Vec<Result<bool>> = futures::stream::iter(dns)
            .map(|dn| async move {
                pacer.wait().await;
                match self.delete(&dn, Some(filter), &[]).await? {
                    Written::Done(_) => Ok(true),
                    // Renewed since the search, or already gone (another purge, dds).
                    Written::AssertionFailed | Written::NoSuchObject => Ok(false),
                }
            })
            .buffer_unordered(threads)
            .collect()
            .await;
        let mut deleted = 0;
        for r in results {
            if r? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// One page of a paged one-level search for DNs; returns them and the next cookie
/// (empty at the end).
async fn paged_page(
    ldap: &Ldap,
    container: &str,
    filter: &str,
    size: i32,
    cookie: Vec<u8>,
    node: &Node,
) -> Result<(Vec<String>, Vec<u8>)> {
    let mut ldap = ldap.clone();
    node.dir.pool.count_operation();
    let mut control: RawControl = PagedResults { size, cookie }.into();
    control.crit = true;
    let SearchResult(entries, res) = ldap
        .with_timeout(node.dir.pool.operation_timeout())
        .with_controls(control)
        .search(container, Scope::OneLevel, filter, vec!["1.1"])
        .await
        .map_err(|e| error::transport("searching for expired entries", e))?;
    match res.rc {
        RC_SUCCESS => {}
        RC_NO_SUCH_OBJECT => return Err(node.container_gone(container)),
        _ => return Err(error::result("searching for expired entries", &res)),
    }
    let dns = entries
        .iter()
        .map(|e| ber::entry_from_tag(&e.0).map(|e| e.dn))
        .collect::<Result<Vec<_>>>()?;
    let next = match res
        .ctrls
        .iter()
        .find(|c| c.1.ctype == PAGED_RESULTS_OID)
        .and_then(|c| c.1.val.as_deref())
    {
        Some(value) => ber::paged_cookie(value)?,
        None => Vec::new(),
    };
    Ok((dns, next))
}

/// Sends the refresh extended operation for `dn`.
async fn refresh(dir: &Directory, dn: &str, ttl: u32) -> Result<()> {
    let mut ldap = dir.pool.get().await?;
    dir.pool.count_operation();
    let res = ldap
        .with_timeout(dir.pool.operation_timeout())
        .extended(Exop {
            name: Some(REFRESH_OID.to_owned()),
            val: Some(ber::refresh_request(dn, ttl)),
        })
        .await
        .map_err(|e| error::transport("refreshing an entry's TTL", e))?;
    match res.1.rc {
        RC_SUCCESS | RC_NO_SUCH_OBJECT => Ok(()),
        _ => Err(error::result("refreshing an entry's TTL", &res.1)),
    }
}

/// The assertion control (critical: a server that cannot evaluate it must refuse the
/// operation, never perform it unconditionally) and the read-entry control.
fn controls(assertion: Option<&str>, read: ReadBack<'_>) -> Result<Vec<RawControl>> {
    let mut out = Vec::with_capacity(2);
    if let Some(filter) = assertion {
        // ldap3 panics on a filter it cannot parse; the backend builds every filter, but
        // a bug must be an error, not a crash.
        if ldap3::parse_filter(filter).is_err() {
            return Err(Error::unexpected(
                BACKEND_NAME,
                format!("the backend built an invalid assertion filter {filter:?}"),
            ));
        }
        let mut control = Assertion::new(filter);
        control.crit = true;
        out.push(control);
    }
    let read_control = match read {
        ReadBack::None => None,
        ReadBack::Pre(attrs) => Some(PreRead::new(attrs.to_vec())),
        ReadBack::Post(attrs) => Some(PostRead::new(attrs.to_vec())),
    };
    if let Some(mut control) = read_control {
        // Critical too: a take that succeeded without returning the payload would lose it.
        control.crit = true;
        out.push(control);
    }
    Ok(out)
}

/// A codec error, re-raised under this backend's name with the original as source.
fn from_codec(contract: Contract, e: Error) -> Error {
    Error::new(
        e.kind(),
        BACKEND_NAME,
        format!("{contract} record: {}", e.message()),
    )
    .with_retryable(e.is_retryable())
    .with_source(e)
}

/// What a purge may delete: records at or before these times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cutoff {
    /// Records whose expiry is at or before this are dead.
    pub expiry: Timestamp,
    /// Sessions whose last activity is at or before this are dead (`LastActivity`).
    pub idle: Option<Timestamp>,
}

impl Cutoff {
    fn new(policy: &PurgePolicy, now: Timestamp) -> Self {
        let expiry = now.saturating_sub(policy.offset);
        let idle = match policy.criterion {
            PurgeCriterion::Expiry => None,
            PurgeCriterion::LastActivity { max_idle } => Some(expiry.saturating_sub(max_idle)),
        };
        Cutoff { expiry, idle }
    }
}

/// Spaces deletes to at most `rate` per second (PingDirectory's "max updates per
/// second"); no limit without a rate.
struct Pacer {
    gap: Option<Duration>,
    // A std mutex: it is never held across an await.
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rate: Option<u32>) -> Self {
        Pacer {
            gap: rate.map(|r| Duration::from_secs(1) / r.max(1)),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(gap) = self.gap else {
            return;
        };
        let at = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let at = (*next).max(Instant::now());
            *next = at + gap;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_formats_utc_with_millis() {
        assert_eq!(generalized_time(0), "19700101000000.000Z");
        assert_eq!(generalized_time(951_782_400_123), "20000229000000.123Z");
        assert_eq!(generalized_time(1_767_225_599_999), "20251231235959.999Z");
        assert_eq!(generalized_time(-5), "19700101000000.000Z");
        assert_eq!(generalized_time(i64::MAX), "99991231235959.999Z");
    }

    #[test]
    fn filters_compare_times_exclusively() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(live(t), "(authstateExpiresAt>=1001)");
        assert_eq!(dead(t), "(authstateExpiresAt<=1000)");
        assert_eq!(
            norm_dn("authstateKey=AB, ou=x ,dc=Y"),
            "authstatekey=ab,ou=x,dc=y"
        );
        assert_eq!(parent("a=1,b=2,c=3"), "b=2,c=3");
    }
}
