//! The LDAP directory backend of [authstate](https://docs.rs/authstate), through ldap3:
//! OpenLDAP, and PingDirectory/PingDS style deployments. Not for direct use; enable the
//! `ldap` feature of `authstate` instead.
//!
//! All nine contracts live under a configured base DN, one subtree per namespace and one
//! container per contract:
//!
//! ```text
//! <base DN>                                   (exists; the backend never creates it)
//! └─ ou=<namespace>                           (LdapBackend::migrate creates these)
//!    ├─ ou=session     authstateKey=<hex of the keyed hash of the session id>
//!    ├─ ou=artifact    authstateKey=<hex of the keyed hash of the handle>
//!    ├─ ou=state, ou=replay, ou=lockout, ou=key, ou=token   (likewise)
//!    ├─ ou=revocation  authstateKey=sri-<hash> | subject-<hash> | change-<seq> | feed
//!    ├─ ou=registry    authstateKey=<subject hash><participant hash>
//!    └─ ou=lease       authstateKey=<hash of the lease name>
//! ```
//!
//! Records are kept the way the memory backend (the reference implementation) keeps
//! them: under keyed hashes of their handles, ids and subjects (the same hashing
//! domains), with payloads sealed by the store's codec in a binary attribute
//! (`authstateData`; a session also seals its immutable part in `authstateMeta`, so that
//! an update is one modify), and beside them in the clear only what the server must
//! filter or compare on: integer times in milliseconds, versions, counters and hashes.
//! Expiry is always decided with the store's clock: in the filter or assertion of every
//! operation, and again on the sealed record where it carries its times.
//!
//! # One request where LDAP allows it
//!
//! | contract operation | LDAP operations |
//! |---|---|
//! | artifact `take` | modify with the assertion control (RFC 4528) "live and not taken" and the pre-read control (RFC 4527): the one caller the server lets through gets the payload, and the tombstone is written in the same operation (1); later callers read the tombstone (2) |
//! | artifact `put`, token `insert`, state `put_if_absent`, replay `check_and_record` | add (1); entryAlreadyExists (68) means the name is taken, unless the entry there has expired: it is then deleted under an assertion on its expiry and the add repeated (3) |
//! | session `update`, key set `replace` | modify asserting the expected version, with post-read (1); assertionFailed (122) is `Conflict` |
//! | lockout `record_failure` | modify-increment (RFC 4525) asserting the counter is live, with post-read of the new count (1; +1 when the failure sets the lock) |
//! | key set `insert` | add (1); 68 is `AlreadyExists` |
//! | session `get`, state `get`, token `get`, lockout `status`, key set `load` | base search filtered on the expiry (1) |
//! | session `delete`, state and registry `remove`, token `revoke` | delete with pre-read of the expiry: live or not, decided once, by whoever deleted (1) |
//! | revocation `revoke`, `revoke_subject` | write the revocation (modify under an assertion, or add), then append to the change feed (read of the committed number, add of the change, modify of the number): 4 to 5 |
//! | session `rotate_id` | delete asserting live with pre-read (the claim: exactly one rotator wins, and the old id stops working at once), then add under the new id (2) |
//! | session `touch` | base search, then modify asserting live with post-read (2) |
//! | revocation `is_revoked` | one one-level search for the SRI and the subject (1) |
//!
//! With [`ServerTtl::Dds`], adds of dynamic records are followed by one refresh
//! extended operation sent in the background (the caller does not wait for it). Every
//! module documents its contract's operations in the same way, and
//! [`LdapBackend::operation_count`] counts them.
//!
//! # Setting the directory up
//!
//! 1. Load the schema. OpenLDAP with cn=config: `ldapadd -Y EXTERNAL -H ldapi:/// -f
//!    schema/authstate.ldif`; with slapd.conf: `include …/authstate.schema`
//!    ([`SCHEMA_LDIF`], [`SCHEMA_SLAPD_CONF`]). PingDirectory and PingDS: add the same
//!    definitions to `cn=schema` ([`SCHEMA_LDIF_CN_SCHEMA`], `schema/authstate-cn-schema.ldif`,
//!    with `ldapmodify`, or drop it into the server's `config/schema/` directory). The
//!    OIDs under `1.3.6.1.4.1.99999.1` are a placeholder arc: replace it with one under
//!    your own enterprise number if you need registered OIDs (the backend uses names
//!    only).
//! 2. Create the base DN entry, and a bind DN with read, write, add and delete rights on
//!    it (and no size limit on searches under it: a search cut short by a size limit is
//!    an error, never a partial answer).
//! 3. Index: equality on `authstateKey`, `authstateSubject`, `authstateGrant`,
//!    `authstateClient`; ordering (OpenLDAP: `eq`, which serves integer ranges) on
//!    `authstateExpiresAt`, `authstateLastActivity` and `authstateCounter`.
//! 4. Run [`LdapBackend::migrate`] once per namespace (the CLI's `authstate migrate`).
//!    [`LdapBackend::drop_namespace`] deletes a namespace's subtree again (a retired
//!    cluster's, or those `authstate conformance` opened).
//! 5. Point every node at the same writable server (or at a proxy that sends all writes
//!    to one). The atomic operations are atomic on one server; multi-master
//!    replication resolves conflicts after the fact, so two masters could each let one
//!    take through. The backend does not claim `cluster_safe`.
//!
//! ## OpenLDAP
//!
//! `back_mdb` with the indexes above:
//!
//! ```text
//! index authstateKey,authstateSubject,authstateGrant,authstateClient eq
//! index authstateExpiresAt,authstateLastActivity,authstateCounter eq
//! ```
//!
//! Server-side removal: load the `dds` overlay (`overlay dds`, `dds-max-ttl` between 1
//! day and 1 year, `dds-default-ttl` unset, `dds-interval` e.g. `1h`) and set
//! [`ServerTtl::Dds`]. Sessions, artifacts, replay entries and tokens whose whole life
//! fits within the maximum TTL are then added as `dynamicObject`s and their `entryTtl`
//! is shortened to their expiry (plus a minute) with the refresh extended operation;
//! the bind DN needs `manage` access to `entryTtl`. Records whose expiry can move later
//! (state values, lockout counters, revocations, registry entries) are never dynamic.
//! The sweeper still purges: dds deletion is lazy, and purge counts what the store's
//! clock says is dead.
//!
//! ## PingDirectory
//!
//! Indexes: `dsconfig create-local-db-index --backend-name userRoot --index-name
//! authstateExpiresAt --set index-type:ordering`, likewise for `authstateLastActivity`
//! and `authstateCounter`, and `--set index-type:equality` for `authstateKey`,
//! `authstateSubject`, `authstateGrant` and `authstateClient`.
//!
//! PingDirectory's "Clean Up Expired/Inactive PingFederate Persistent Sessions" plugins
//! know only PingFederate's own session schema; the generic Purge Expired Data plugin
//! removes entries by a date attribute. Set [`LdapConfig::time_attributes`] so every
//! record whose expiry only moves with authstate's writes also carries its expiry as a
//! GeneralizedTime (`authstateExpiryTime`), and every session its last activity
//! (`authstateLastActivityTime`); index both for ordering, and configure two plugins,
//! the equivalents of the two PingFederate cleanup plugins (property names from
//! PingDirectory's configuration reference; check them against your version):
//!
//! ```text
//! dsconfig create-plugin --plugin-name "authstate expired records" \
//!   --type purge-expired-data --set enabled:true \
//!   --set datetime-attribute:authstateExpiryTime --set datetime-format:generalized-time \
//!   --set expiration-offset:10m --set purge-behavior:delete-entries \
//!   --set base-dn:ou=authstate,dc=example,dc=com --set "filter:(authstateExpiryTime=*)" \
//!   --set polling-interval:5m --set max-updates-per-second:100 --set num-delete-threads:1
//! dsconfig create-plugin --plugin-name "authstate inactive sessions" \
//!   --type purge-expired-data --set enabled:true \
//!   --set datetime-attribute:authstateLastActivityTime --set datetime-format:generalized-time \
//!   --set expiration-offset:<the longest idle time you allow> --set purge-behavior:delete-entries \
//!   --set base-dn:ou=authstate,dc=example,dc=com --set "filter:(objectClass=authstateSession)" \
//!   --set polling-interval:5m --set max-updates-per-second:100 --set num-delete-threads:1
//! ```
//!
//! Lockout counters (whose lock can outlast the window written with each failure) and
//! the revocation feed (whose numbers must never be reused) carry no date attribute,
//! so the server never removes them: the sweeper does. The expiration offset should
//! exceed the clock skew between the nodes and the directory. Without these plugins,
//! authstate's sweeper does the same with the same knobs:
//!
//! | plugin setting           | authstate setting                                        |
//! |--------------------------|----------------------------------------------------------|
//! | polling interval         | `SweeperConfig::interval`                                |
//! | max updates per second   | [`PurgeOptions::max_deletes_per_second`] (per purge) and `SweeperConfig::max_deletes_per_second` (per sweep) |
//! | num delete threads       | [`PurgeOptions::delete_threads`]                         |
//! | expiration offset        | `SweeperConfig::offset`                                  |
//! | inactive sessions        | `PurgeCriterion::LastActivity { max_idle }`               |
//! | peer server priority     | the sweeper's lease: one node sweeps at a time           |
//!
//! Purge searches the expired entries with the paged results control, one page per
//! batch, and deletes each under an assertion that it is still expired.
//!
//! ## PingDS
//!
//! Equality indexes on `authstateKey`, `authstateSubject`, `authstateGrant`,
//! `authstateClient` and ordering indexes on `authstateExpiresAt`,
//! `authstateLastActivity`, `authstateCounter`. For server-side removal set
//! [`LdapConfig::time_attributes`] and make the two date attributes TTL-enabled
//! indexes, as for PingFederate's `pf-authn-session-group-expiry-time` and
//! `…-last-activity-time`:
//!
//! ```text
//! dsconfig create-backend-index --backend-name <backend> --index-name authstateExpiryTime \
//!   --set index-type:ordering --set ttl-enabled:true --set ttl-age:10m
//! dsconfig create-backend-index --backend-name <backend> --index-name authstateLastActivityTime \
//!   --set index-type:ordering --set ttl-enabled:true --set ttl-age:<the longest idle time you allow>
//! ```
//!
//! `ttl-age` on the expiry is the grace after expiry (at least the clock skew); on the
//! last activity it is an operator's cap on idleness, like
//! `PurgeCriterion::LastActivity`. Reads never depend on either: a record past its
//! expiry is never returned, whether or not anything has removed it yet.
//!
//! # Connections
//!
//! Each opened node holds [`LdapConfig::pool_size`] bound connections and spreads its
//! operations over them; lost connections are re-established on next use. Binds:
//! anonymous, simple, or SASL EXTERNAL with a client certificate; TLS by `ldaps://` or
//! StartTLS, with a CA file and an optional client certificate (rustls with ring).
//! Passwords and keys are never printed: [`LdapConfig`]'s `Debug` leaves them out.
#![deny(missing_docs)]

mod artifact;
mod ber;
mod config;
mod connection;
mod dir;
mod error;
mod keys;
mod lease;
mod lockout;
mod registry;
mod replay;
mod revocation;
mod schema;
mod session;
mod state;
mod token;

use std::sync::Arc;

use authstate_core::{Capabilities, Contract, Error, Namespace, Result, StoreConfig, Stores};
use ldap3::{Scope, SearchResult};

pub use config::{Bind, ClientCert, LdapConfig, PurgeOptions, ServerTtl, TlsOptions};
pub use schema::{SCHEMA_LDIF, SCHEMA_LDIF_CN_SCHEMA, SCHEMA_SLAPD_CONF};

use crate::dir::{CONTAINERS, Directory, Node, ReadBack, Written, int, replace, text};
use crate::error::{
    LOAD_SCHEMA, RC_NO_SUCH_OBJECT, RC_NOT_ALLOWED_ON_NON_LEAF, RC_SIZE_LIMIT_EXCEEDED, RC_SUCCESS,
};
use crate::schema::{attr, class};

/// The backend's name, as it appears in errors.
pub const BACKEND_NAME: &str = "ldap";

/// A connected LDAP backend: a pool of bound connections and the checked base DN.
///
/// [`LdapBackend::open`] opens the nine stores of one namespace over it. Each
/// `LdapBackend` is one "node"; connect twice for two independent nodes.
#[derive(Debug, Clone)]
pub struct LdapBackend {
    dir: Arc<Directory>,
}

/// One entry of [`LdapBackend::dump`]: its DN and everything stored in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The DN.
    pub key: Vec<u8>,
    /// Every attribute, one `name: value` line per value, values as stored (binary
    /// values raw).
    pub value: Vec<u8>,
}

impl LdapBackend {
    /// Connects (`pool_size` connections, each bound), then checks that the base DN
    /// exists and that the server knows the authstate schema.
    ///
    /// Errors: `ConfigInvalid` for a bad config, refused credentials, a missing base DN
    /// or a missing schema (each message says what to fix); `Unavailable` when the
    /// server cannot be reached.
    pub async fn connect(config: LdapConfig) -> Result<Self> {
        config.validate()?;
        let base_dn = config.base_dn.trim().to_owned();
        let server_ttl = config.server_ttl;
        let purge = config.purge;
        let time_attributes = config.time_attributes;
        let url = config.url.clone();
        let pool = connection::Pool::connect(config).await?;
        let backend = LdapBackend {
            dir: Arc::new(Directory {
                pool,
                base_dn,
                server_ttl,
                purge,
                time_attributes,
            }),
        };
        backend.check_base(&url).await?;
        backend.check_schema(&url).await?;
        Ok(backend)
    }

    /// What this backend can do: durable, shared by every node connected to the same
    /// server, and with server-side TTL when [`ServerTtl::Dds`] is configured.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            server_side_ttl: matches!(self.dir.server_ttl, ServerTtl::Dds { .. }),
            durable: true,
            shared_across_nodes: true,
            ..Default::default()
        }
    }

    /// How many LDAP operations the stores opened on this backend have sent so far
    /// (searches, adds, modifies, deletes, dds refreshes; not binds or the checks made
    /// when connecting). For benchmarks and metrics: divide by contract operations to
    /// get the round trips each one costs.
    pub fn operation_count(&self) -> u64 {
        self.dir.pool.operations()
    }

    /// Creates the namespace's subtree (`ou=<namespace>` and one container per contract)
    /// and the revocation feed's counter. Idempotent: what exists is left as it is.
    pub async fn migrate(&self, namespace: &Namespace) -> Result<()> {
        let node = self.node(StoreConfig::new(namespace.clone()));
        let ns_attrs = vec![
            ("objectClass", text("organizationalUnit")),
            ("ou", text(namespace.as_str())),
        ];
        match node.add(&node.ns_dn, ns_attrs).await {
            Ok(_) => {}
            Err(e) if e.kind() == authstate_core::ErrorKind::ConfigInvalid => {
                return Err(Error::config(
                    BACKEND_NAME,
                    format!(
                        "cannot create {}: {}; check that the base DN {} exists",
                        node.ns_dn,
                        e.message(),
                        self.dir.base_dn
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
        for name in CONTAINERS {
            let attrs = vec![
                ("objectClass", text("organizationalUnit")),
                ("ou", text(name)),
            ];
            node.add(&node.container(name), attrs).await?;
        }
        let feed = vec![
            ("objectClass", text(class::FEED_COUNTER)),
            (attr::KEY, text(revocation::FEED_KEY)),
            (attr::COUNTER, int(0)),
        ];
        node.add(&node.dn("revocation", revocation::FEED_KEY), feed)
            .await?;
        Ok(())
    }

    /// Opens all nine stores in `config.namespace` (one node over this backend's
    /// connections). The namespace must have been migrated.
    pub async fn open(&self, config: StoreConfig) -> Result<Stores> {
        let node = self.node(config);
        self.check_namespace(&node).await?;
        Ok(Stores {
            sessions: Arc::new(session::LdapSessionStore(node.clone())),
            artifacts: Arc::new(artifact::LdapArtifactStore(node.clone())),
            state: Arc::new(state::LdapStateStore(node.clone())),
            replay: Arc::new(replay::LdapReplayCache(node.clone())),
            lockout: Arc::new(lockout::LdapLockoutStore(node.clone())),
            keys: Arc::new(keys::LdapKeyStore(node.clone())),
            revocations: Arc::new(revocation::LdapRevocationStore(node.clone())),
            tokens: Arc::new(token::LdapTokenStore(node.clone())),
            registry: Arc::new(registry::LdapSessionRegistry(node.clone())),
            lease: Arc::new(lease::LdapSweepLease(node)),
            capabilities: self.capabilities(),
            backend: BACKEND_NAME,
        })
    }

    /// Drops `namespace`: deletes its subtree (`ou=<namespace>` under the base DN) with
    /// every record in it. For retiring an IdP cluster that shared the directory, and
    /// for cleaning up after `authstate conformance`. There is no undo, and nothing
    /// outside the subtree is touched.
    ///
    /// Entries are deleted one by one, children before their parents, in rounds: a
    /// server that returns only part of a large subtree per search (a size limit) is
    /// searched again until nothing is left. Stores still open on the namespace fail
    /// their calls with `ConfigInvalid` ("run migrate") until it is migrated again:
    /// drop only a namespace no node uses.
    ///
    /// Returns whether the namespace had a subtree; dropping one that has none does
    /// nothing and is not an error. A round that can delete nothing (entries this bind
    /// may not see or delete) is an error naming the subtree.
    pub async fn drop_namespace(&self, namespace: &Namespace) -> Result<bool> {
        let node = self.node(StoreConfig::new(namespace.clone()));
        let what = "dropping the namespace";
        let timeout = self.dir.pool.operation_timeout();
        let mut ldap = self.dir.pool.get().await?;
        let mut existed = false;
        loop {
            let SearchResult(entries, res) = ldap
                .with_timeout(timeout)
                .search(&node.ns_dn, Scope::Subtree, "(objectClass=*)", vec!["1.1"])
                .await
                .map_err(|e| error::transport(what, e))?;
            match res.rc {
                RC_SUCCESS | RC_SIZE_LIMIT_EXCEEDED => {}
                RC_NO_SUCH_OBJECT => return Ok(existed),
                _ => return Err(error::result(what, &res)),
            }
            existed = true;
            let mut dns = entries
                .iter()
                .map(|e| ber::entry_from_tag(&e.0).map(|e| e.dn))
                .collect::<Result<Vec<String>>>()?;
            // Children first: a child's DN is its parent's with one more RDN in front.
            dns.sort_by_key(|dn| std::cmp::Reverse(dn.len()));
            // Entries deleted, or found gone (expired by the server, another drop).
            let mut progress = 0usize;
            for dn in &dns {
                let res = ldap
                    .with_timeout(timeout)
                    .delete(dn)
                    .await
                    .map_err(|e| error::transport(what, e))?;
                match res.rc {
                    RC_SUCCESS | RC_NO_SUCH_OBJECT => progress += 1,
                    // Children this round's search did not return: the next round.
                    RC_NOT_ALLOWED_ON_NON_LEAF => {}
                    _ => return Err(error::result(what, &res)),
                }
            }
            if progress == 0 {
                return Err(Error::unexpected(
                    BACKEND_NAME,
                    format!(
                        "{what}: {} still holds entries that this bind cannot see or delete",
                        node.ns_dn
                    ),
                ));
            }
        }
    }

    /// Every entry stored under the namespace's subtree, with all user attributes
    /// (binary ones included). For conformance harnesses: no raw handle, id, token or
    /// subject may appear in it. An unknown namespace dumps nothing.
    pub async fn dump(&self, namespace: &Namespace) -> Result<Vec<RawEntry>> {
        let node = self.node(StoreConfig::new(namespace.clone()));
        let mut ldap = self.dir.pool.get().await?;
        let SearchResult(entries, res) = ldap
            .with_timeout(self.dir.pool.operation_timeout())
            .search(&node.ns_dn, Scope::Subtree, "(objectClass=*)", vec!["*"])
            .await
            .map_err(|e| error::transport("dumping the namespace", e))?;
        match res.rc {
            RC_SUCCESS => {}
            RC_NO_SUCH_OBJECT => return Ok(Vec::new()),
            _ => return Err(error::result("dumping the namespace", &res)),
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in &entries {
            let entry = ber::entry_from_tag(&e.0)?;
            let mut attrs: Vec<_> = entry.attributes().collect();
            attrs.sort();
            let mut value = Vec::new();
            for (name, values) in attrs {
                for v in values {
                    value.extend_from_slice(name.as_bytes());
                    value.extend_from_slice(b": ");
                    value.extend_from_slice(v);
                    value.push(b'\n');
                }
            }
            out.push(RawEntry {
                key: entry.dn.into_bytes(),
                value,
            });
        }
        Ok(out)
    }

    /// Flips one byte of the sealed `authstateData` of every record of `contract` in
    /// `namespace` (expired or not) and returns how many it altered: the last byte (in
    /// the AEAD tag) of a sealed envelope, the format version byte of a plaintext one.
    /// For conformance harnesses; every later read of such a record must be `Corrupt`.
    pub async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<usize> {
        let node = self.node(StoreConfig::new(namespace.clone()));
        let entries = match node
            .search(
                &node.container(contract.as_str()),
                &format!("({}=*)", attr::DATA),
                &[attr::DATA],
            )
            .await
        {
            Ok(entries) => entries,
            Err(e) if e.kind() == authstate_core::ErrorKind::ConfigInvalid => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut altered = 0;
        for entry in entries {
            let mut blob = entry.required(attr::DATA)?.to_vec();
            // Byte 1 of an envelope is its algorithm: 0 for plaintext, which has no tag.
            let at = if blob.get(1).is_some_and(|&alg| alg != 0) {
                blob.len().saturating_sub(1)
            } else {
                0
            };
            let Some(byte) = blob.get_mut(at) else {
                continue;
            };
            *byte ^= 0x01;
            if let Written::Done(_) = node
                .modify(
                    &entry.dn,
                    vec![replace(attr::DATA, blob)],
                    None,
                    ReadBack::None,
                )
                .await?
            {
                altered += 1;
            }
        }
        Ok(altered)
    }

    fn node(&self, config: StoreConfig) -> Node {
        let ns_dn = format!("ou={},{}", config.namespace.as_str(), self.dir.base_dn);
        Node {
            dir: self.dir.clone(),
            config,
            ns_dn,
        }
    }

    /// `ConfigInvalid` unless the base DN exists.
    async fn check_base(&self, url: &str) -> Result<()> {
        let base = &self.dir.base_dn;
        let mut ldap = self.dir.pool.get().await?;
        let SearchResult(entries, res) = ldap
            .with_timeout(self.dir.pool.operation_timeout())
            .search(base, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| error::transport("reading the base DN", e))?;
        match res.rc {
            RC_SUCCESS if !entries.is_empty() => Ok(()),
            RC_SUCCESS | RC_NO_SUCH_OBJECT => Err(Error::config(
                BACKEND_NAME,
                format!(
                    "the base DN {base} does not exist on {url} (or the bind DN cannot see it){}: \
                     create it, or set base_dn to an existing entry",
                    if res.matched.is_empty() {
                        String::new()
                    } else {
                        format!("; the closest existing entry is {}", res.matched)
                    }
                ),
            )),
            _ => Err(error::result("reading the base DN", &res)),
        }
    }

    /// `ConfigInvalid` unless the server's schema has every authstate attribute type and
    /// object class (and, for [`ServerTtl::Dds`], a dynamic subtree over the base DN).
    /// A server that does not let the bind DN read its schema is not checked here; its
    /// first write then fails with the same advice.
    async fn check_schema(&self, url: &str) -> Result<()> {
        let mut ldap = self.dir.pool.get().await?;
        let timeout = self.dir.pool.operation_timeout();
        let SearchResult(root, res) = ldap
            .with_timeout(timeout)
            .search(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["subschemaSubentry", "dynamicSubtrees"],
            )
            .await
            .map_err(|e| error::transport("reading the root DSE", e))?;
        if res.rc != RC_SUCCESS {
            return Ok(());
        }
        let Some(root) = root
            .first()
            .map(|e| ber::entry_from_tag(&e.0))
            .transpose()?
        else {
            return Ok(());
        };
        if matches!(self.dir.server_ttl, ServerTtl::Dds { .. }) {
            let base = self.dir.base_dn.to_ascii_lowercase().replace(' ', "");
            let dynamic = root
                .values("dynamicSubtrees")
                .iter()
                .filter_map(|v| std::str::from_utf8(v).ok())
                .any(|s| base.ends_with(&s.to_ascii_lowercase().replace(' ', "")));
            if !dynamic {
                return Err(Error::config(
                    BACKEND_NAME,
                    format!(
                        "server_ttl is Dds but {url} has no dynamic subtree holding {}: load the \
                         dds overlay on its database (moduleload dds, overlay dds), or set \
                         server_ttl to None",
                        self.dir.base_dn
                    ),
                ));
            }
        }
        let subschema = root
            .text("subschemaSubentry")
            .unwrap_or("cn=Subschema")
            .to_owned();
        let SearchResult(schema, res) = ldap
            .with_timeout(timeout)
            .search(
                &subschema,
                Scope::Base,
                "(objectClass=*)",
                vec!["attributeTypes", "objectClasses"],
            )
            .await
            .map_err(|e| error::transport("reading the server's schema", e))?;
        if res.rc != RC_SUCCESS {
            return Ok(());
        }
        let Some(schema) = schema
            .first()
            .map(|e| ber::entry_from_tag(&e.0))
            .transpose()?
        else {
            return Ok(());
        };
        let as_text = |name: &str| -> Vec<String> {
            schema
                .values(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect()
        };
        let types = as_text("attributeTypes");
        let classes = as_text("objectClasses");
        if types.is_empty() || classes.is_empty() {
            return Ok(());
        }
        let mut missing = schema::missing(&types, &attr::ALL);
        missing.extend(schema::missing(&classes, &class::ALL));
        if missing.is_empty() {
            return Ok(());
        }
        let what = if missing.len() == attr::ALL.len() + class::ALL.len() {
            format!(
                "the server knows none of its {} attribute types and {} object classes \
                 (authstateKey, authstateData, authstateSession, …)",
                attr::ALL.len(),
                class::ALL.len()
            )
        } else {
            format!("the server does not know {}", missing.join(", "))
        };
        Err(Error::config(
            BACKEND_NAME,
            format!("the authstate schema is not loaded on {url}: {what}; {LOAD_SCHEMA}"),
        ))
    }

    /// `ConfigInvalid` unless the namespace's containers exist.
    async fn check_namespace(&self, node: &Node) -> Result<()> {
        let found = match node
            .search(&node.ns_dn, "(objectClass=organizationalUnit)", &["ou"])
            .await
        {
            Ok(found) => found,
            Err(e) if e.kind() == authstate_core::ErrorKind::ConfigInvalid => {
                return Err(Error::config(
                    BACKEND_NAME,
                    format!(
                        "the namespace {} has no subtree ({} does not exist): run \
                         LdapBackend::migrate for it (authstate migrate)",
                        node.config.namespace, node.ns_dn
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        let present: Vec<String> = found
            .iter()
            .filter_map(|e| e.text("ou").map(str::to_ascii_lowercase))
            .collect();
        let absent: Vec<&str> = CONTAINERS
            .iter()
            .filter(|c| !present.iter().any(|p| p == *c))
            .copied()
            .collect();
        if absent.is_empty() {
            return Ok(());
        }
        Err(Error::config(
            BACKEND_NAME,
            format!(
                "the namespace {} is not fully migrated (missing ou={} under {}): run \
                 LdapBackend::migrate for it",
                node.config.namespace,
                absent.join(", ou="),
                node.ns_dn
            ),
        ))
    }
}

/// The bytes hashed for a pair of values (a subject and a client, a session reference
/// and a partner): the first value's length, then both, as the memory backend does. The
/// length prefix keeps `("ab", "c")` and `("a", "bc")` apart.
pub(crate) fn pair_bytes(first: &str, second: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + first.len() + second.len());
    out.extend_from_slice(&(first.len() as u64).to_be_bytes());
    out.extend_from_slice(first.as_bytes());
    out.extend_from_slice(second.as_bytes());
    out
}
