//! The authstate schema: the attribute and object class names the stores use, the schema
//! files shipped with the crate, and the check that the server has them.

/// The schema in slapd.conf form (`include` it after `core.schema`).
pub const SCHEMA_SLAPD_CONF: &str = include_str!("../schema/authstate.schema");

/// The schema as LDIF for OpenLDAP's cn=config
/// (`ldapadd -Y EXTERNAL -H ldapi:/// -f authstate.ldif`).
pub const SCHEMA_LDIF: &str = include_str!("../schema/authstate.ldif");

/// The schema as an LDIF change to `cn=schema`, for PingDirectory and PingDS
/// (`ldapmodify -f authstate-cn-schema.ldif`, or copy it to `config/schema/`).
pub const SCHEMA_LDIF_CN_SCHEMA: &str = include_str!("../schema/authstate-cn-schema.ldif");

/// Attribute type names.
pub(crate) mod attr {
    /// The RDN: hex of a keyed hash, or a fixed name.
    pub const KEY: &str = "authstateKey";
    /// Expiry, ms since the epoch (exclusive).
    pub const EXPIRES_AT: &str = "authstateExpiresAt";
    /// Last activity of a session, ms.
    pub const LAST_ACTIVITY: &str = "authstateLastActivity";
    /// Version for compare-and-set.
    pub const VERSION: &str = "authstateVersion";
    /// A counter (lockout failures, feed sequence numbers).
    pub const COUNTER: &str = "authstateCounter";
    /// Keyed hash of a subject.
    pub const SUBJECT: &str = "authstateSubject";
    /// When an artifact was taken, ms.
    pub const TAKEN_AT: &str = "authstateTakenAt";
    /// The sealed record.
    pub const DATA: &str = "authstateData";
    /// The sealed immutable part of a session.
    pub const META: &str = "authstateMeta";
    /// Keyed hash of a grant id.
    pub const GRANT: &str = "authstateGrant";
    /// Keyed hash of a (subject, client id) pair.
    pub const CLIENT: &str = "authstateClient";
    /// End of an account lock, ms.
    pub const LOCKED_UNTIL: &str = "authstateLockedUntil";
    /// A subject revocation's cutoff, ms.
    pub const CUTOFF: &str = "authstateCutoff";
    /// The sweep lease holder (hash).
    pub const HOLDER: &str = "authstateHolder";
    /// The expiry as a GeneralizedTime (with `LdapConfig::time_attributes`).
    pub const EXPIRY_TIME: &str = "authstateExpiryTime";
    /// A session's last activity as a GeneralizedTime (with `time_attributes`).
    pub const LAST_ACTIVITY_TIME: &str = "authstateLastActivityTime";

    /// Every attribute type the backend needs from the server's schema.
    pub const ALL: [&str; 16] = [
        KEY,
        EXPIRES_AT,
        LAST_ACTIVITY,
        VERSION,
        COUNTER,
        SUBJECT,
        TAKEN_AT,
        DATA,
        META,
        GRANT,
        CLIENT,
        LOCKED_UNTIL,
        CUTOFF,
        HOLDER,
        EXPIRY_TIME,
        LAST_ACTIVITY_TIME,
    ];
}

/// Object class names.
pub(crate) mod class {
    pub const SESSION: &str = "authstateSession";
    pub const ARTIFACT: &str = "authstateArtifact";
    pub const STATE: &str = "authstateStateValue";
    pub const REPLAY: &str = "authstateReplayEntry";
    pub const LOCKOUT: &str = "authstateLockoutCounter";
    pub const KEY_SET: &str = "authstateKeySet";
    pub const REVOKED_SESSION: &str = "authstateRevokedSession";
    pub const REVOKED_SUBJECT: &str = "authstateRevokedSubject";
    pub const CHANGE: &str = "authstateRevocationChange";
    pub const FEED_COUNTER: &str = "authstateFeedCounter";
    pub const TOKEN: &str = "authstateToken";
    pub const PARTICIPANT: &str = "authstateParticipant";
    pub const LEASE: &str = "authstateLease";
    /// RFC 2589's auxiliary class for entries the `dds` overlay expires.
    pub const DYNAMIC: &str = "dynamicObject";

    /// Every object class the backend needs from the server's schema (not counting
    /// `dynamicObject`, which only the dds mode needs).
    pub const ALL: [&str; 13] = [
        SESSION,
        ARTIFACT,
        STATE,
        REPLAY,
        LOCKOUT,
        KEY_SET,
        REVOKED_SESSION,
        REVOKED_SUBJECT,
        CHANGE,
        FEED_COUNTER,
        TOKEN,
        PARTICIPANT,
        LEASE,
    ];
}

/// The names in `wanted` that none of the schema `definitions` (values of
/// `attributeTypes` or `objectClasses`) declares.
pub(crate) fn missing<'a>(definitions: &[String], wanted: &[&'a str]) -> Vec<&'a str> {
    let declared: std::collections::HashSet<String> =
        definitions.iter().flat_map(|d| declared_names(d)).collect();
    wanted
        .iter()
        .filter(|name| !declared.contains(&name.to_ascii_lowercase()))
        .copied()
        .collect()
}

/// The names a definition declares: `NAME 'a'` or `NAME ( 'a' 'b' )`, lowercase.
fn declared_names(definition: &str) -> Vec<String> {
    let Some(at) = definition.find(" NAME ") else {
        return Vec::new();
    };
    let rest = definition[at + 6..].trim_start();
    let list = if let Some(inner) = rest.strip_prefix('(') {
        inner.split(')').next().unwrap_or_default()
    } else {
        rest.split_whitespace().next().unwrap_or_default()
    };
    list.split_whitespace()
        .map(|n| n.trim_matches('\'').to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_declared_and_missing_names() {
        let defs = vec![
            "( 1.2.3 NAME 'authstateKey' DESC 'x' EQUALITY caseIgnoreIA5Match )".to_string(),
            "( 1.2.4 NAME ( 'cn' 'commonName' ) SUP name )".to_string(),
        ];
        assert_eq!(
            missing(&defs, &["authstateKey", "commonName", "authstateData"]),
            vec!["authstateData"]
        );
    }

    #[test]
    fn shipped_schema_files_declare_every_name() {
        for text in [SCHEMA_SLAPD_CONF, SCHEMA_LDIF, SCHEMA_LDIF_CN_SCHEMA] {
            // One definition per `attributetype`/`objectclass` (or olc…:) block.
            let defs: Vec<String> = text
                .split(['\n'])
                .filter(|l| l.contains(" NAME "))
                .map(|l| format!(" {}", l.trim()))
                .collect();
            assert!(missing(&defs, &attr::ALL).is_empty(), "{defs:?}");
            assert!(missing(&defs, &class::ALL).is_empty());
        }
    }
}
