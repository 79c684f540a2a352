//! Mapping ldap3's errors and LDAP result codes onto authstate's vocabulary, in one place.
//!
//! Transport failures (refused connection, closed socket, timeout) are `Unavailable`, so
//! callers fail closed and may retry. Result codes that a retry cannot fix (bad
//! credentials, missing access rights, a schema the server does not know) are
//! `ConfigInvalid` with a message that says what to change. Codes the stores act on
//! (noSuchObject 32, entryAlreadyExists 68, assertionFailed 122) are read by the callers
//! before anything reaches here.

use authstate_core::Error;
use ldap3::{LdapError, LdapResult};

use crate::BACKEND_NAME;

/// `success`.
pub(crate) const RC_SUCCESS: u32 = 0;
/// `noSuchObject`.
pub(crate) const RC_NO_SUCH_OBJECT: u32 = 32;
/// `sizeLimitExceeded`: the entries returned are a part of those that match.
pub(crate) const RC_SIZE_LIMIT_EXCEEDED: u32 = 4;
/// `notAllowedOnNonLeaf`: the entry still has children.
pub(crate) const RC_NOT_ALLOWED_ON_NON_LEAF: u32 = 66;
/// `entryAlreadyExists`.
pub(crate) const RC_ALREADY_EXISTS: u32 = 68;
/// `assertionFailed` (RFC 4528): the entry did not match the assertion control.
pub(crate) const RC_ASSERTION_FAILED: u32 = 122;

/// What to do about a schema error, said wherever one can surface.
pub(crate) const LOAD_SCHEMA: &str = "load the authstate schema on the server \
    (backend-ldap/schema/authstate.ldif for cn=config, authstate.schema for slapd.conf; \
    see the authstate-backend-ldap crate docs for PingDirectory and PingDS)";

/// A client-side failure: the connection could not be made or was lost, or the server did
/// not answer in time. Always `Unavailable`, except for a URL ldap3 cannot use.
pub(crate) fn transport(what: &str, err: LdapError) -> Error {
    let mapped = match &err {
        LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => {
            Error::config(BACKEND_NAME, format!("{what}: {err}"))
        }
        _ => Error::unavailable(BACKEND_NAME, format!("{what}: {err}")),
    };
    mapped.with_source(err)
}

/// The name of an LDAP result code (RFC 4511, 4528), for messages.
pub(crate) fn code_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        68 => "entryAlreadyExists",
        80 => "other",
        122 => "assertionFailed",
        _ => "unknown result code",
    }
}

/// An LDAP result that none of the caller's expected outcomes covers.
pub(crate) fn result(what: &str, res: &LdapResult) -> Error {
    let rc = res.rc;
    let name = code_name(rc);
    let detail = if res.text.is_empty() {
        format!("{what}: the server answered {name} ({rc})")
    } else {
        format!("{what}: the server answered {name} ({rc}): {}", res.text)
    };
    match rc {
        // The server is overloaded, shutting down or ran out of time: retry later.
        3 | 11 | 51 | 52 | 80 => Error::unavailable(BACKEND_NAME, detail),
        // A read-only replica sending writes to its master: this node must talk to a
        // writable server (see the crate docs: one writable server for all nodes).
        10 => Error::unavailable(
            BACKEND_NAME,
            format!(
                "{detail}; the server referred the operation elsewhere (a read-only \
                 replica?): point the url at a writable server"
            ),
        ),
        // A control the backend marks critical is not supported.
        12 => Error::unsupported(
            BACKEND_NAME,
            format!(
                "{detail}; the backend needs the assertion (RFC 4528), pre-/post-read \
                 (RFC 4527) and paged results (RFC 2696) controls"
            ),
        ),
        17 | 18 | 21 | 64 | 65 => Error::config(BACKEND_NAME, format!("{detail}; {LOAD_SCHEMA}")),
        4 => Error::config(
            BACKEND_NAME,
            format!(
                "{detail}; raise the size limit for the authstate bind DN (OpenLDAP: \
                 `limits dn.exact=\"<bind DN>\" size=unlimited`)"
            ),
        ),
        7 | 8 | 13 | 48 | 49 => Error::config(
            BACKEND_NAME,
            format!("{detail}; check the bind DN, password or client certificate, and TLS"),
        ),
        50 => Error::config(
            BACKEND_NAME,
            format!(
                "{detail}; the bind DN needs read, write and add/delete rights on the authstate \
                 subtree (and `manage` on entryTtl for the dds refresh)"
            ),
        ),
        68 => Error::already_exists(BACKEND_NAME, detail),
        122 => Error::conflict(BACKEND_NAME, detail),
        _ => Error::unexpected(BACKEND_NAME, detail),
    }
}

#[cfg(test)]
mod tests {
    use authstate_core::ErrorKind;

    use super::*;

    fn res(rc: u32) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: String::new(),
            refs: Vec::new(),
            ctrls: Vec::new(),
        }
    }

    #[test]
    fn result_codes_map_to_kinds() {
        assert_eq!(result("x", &res(49)).kind(), ErrorKind::ConfigInvalid);
        assert_eq!(result("x", &res(52)).kind(), ErrorKind::Unavailable);
        assert_eq!(result("x", &res(122)).kind(), ErrorKind::Conflict);
        assert_eq!(result("x", &res(68)).kind(), ErrorKind::AlreadyExists);
        assert_eq!(result("x", &res(12)).kind(), ErrorKind::Unsupported);
        assert!(result("x", &res(10)).message().contains("writable server"));
        let schema = result("adding", &res(65));
        assert_eq!(schema.kind(), ErrorKind::ConfigInvalid);
        assert!(schema.message().contains("load the authstate schema"));
        assert!(result("x", &res(52)).is_retryable());
    }
}
