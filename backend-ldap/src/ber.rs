//! The little BER this backend reads and writes itself.
//!
//! ldap3's parsers for response controls and search entries panic on a missing or
//! malformed value (`RawControl::parse`, `SearchEntry::construct`); a server's answer is
//! input like any other, so entries and control values are walked here with checks
//! instead, and a malformed answer is an `Unexpected` error, never a panic. The refresh
//! extended operation of RFC 2589 has no ldap3 type, so its request is encoded here.

use std::collections::HashMap;

use authstate_core::{Error, Result};
use ldap3::asn1::{PL, StructureTag, parse_tag};

use crate::BACKEND_NAME;

/// An entry as the server sent it (a search result entry, or the entry of a pre-/post-read
/// control): its DN and its attribute values, keyed by lowercase attribute name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub dn: String,
    attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// The first value of `name`, if the entry has the attribute.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(Vec::as_slice)
    }

    /// Every value of `name` (none when the entry lacks it).
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The first value of `name`, which must be present.
    pub fn required(&self, name: &str) -> Result<&[u8]> {
        self.bytes(name)
            .ok_or_else(|| malformed(format!("the entry {} has no {name} attribute", self.dn)))
    }

    /// `name` as an INTEGER-syntax value, if present.
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        let Some(raw) = self.bytes(name) else {
            return Ok(None);
        };
        std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| {
                Error::corrupt(
                    BACKEND_NAME,
                    format!("the {name} attribute of {} is not an integer", self.dn),
                )
            })
    }

    /// `name` as an INTEGER-syntax value, which must be present.
    pub fn required_int(&self, name: &str) -> Result<i64> {
        self.int(name)?.ok_or_else(|| {
            Error::corrupt(
                BACKEND_NAME,
                format!("the entry {} has no {name} attribute", self.dn),
            )
        })
    }

    /// `name` as text (IA5 or directory string), if present.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.bytes(name).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Every attribute with its values, for dumps.
    pub fn attributes(&self) -> impl Iterator<Item = (&String, &Vec<Vec<u8>>)> {
        self.attrs.iter()
    }
}

fn malformed(message: impl Into<String>) -> Error {
    Error::unexpected(
        BACKEND_NAME,
        format!("malformed answer from the server: {}", message.into()),
    )
}

fn primitive(tag: &StructureTag) -> Option<&[u8]> {
    match &tag.payload {
        PL::P(bytes) => Some(bytes),
        PL::C(_) => None,
    }
}

fn constructed(tag: &StructureTag) -> Option<&[StructureTag]> {
    match &tag.payload {
        PL::C(inner) => Some(inner),
        PL::P(_) => None,
    }
}

/// A SearchResultEntry (`[APPLICATION 4] SEQUENCE { objectName, attributes }`), from a
/// search or from the value of a pre-/post-read response control.
pub(crate) fn entry_from_tag(tag: &StructureTag) -> Result<Entry> {
    if tag.id != 4 {
        return Err(malformed(format!(
            "expected a search result entry, got tag {}",
            tag.id
        )));
    }
    let parts = constructed(tag).ok_or_else(|| malformed("an entry is not constructed"))?;
    let [name, attributes] = parts else {
        return Err(malformed("an entry does not have a name and attributes"));
    };
    let dn = primitive(name)
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .ok_or_else(|| malformed("an entry's DN is not a UTF-8 string"))?;
    let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for attribute in constructed(attributes).ok_or_else(|| malformed("attributes"))? {
        let Some([kind, values]) = constructed(attribute) else {
            return Err(malformed("a partial attribute is not a type and values"));
        };
        let kind = primitive(kind)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| malformed("an attribute type is not text"))?
            .to_ascii_lowercase();
        let values = constructed(values)
            .ok_or_else(|| malformed("attribute values are not a set"))?
            .iter()
            .map(|v| {
                primitive(v)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| malformed("an attribute value is not a string"))
            })
            .collect::<Result<Vec<_>>>()?;
        attrs.entry(kind).or_default().extend(values);
    }
    Ok(Entry { dn, attrs })
}

/// The entry in a pre-read or post-read response control value (RFC 4527).
pub(crate) fn entry_from_control(value: &[u8]) -> Result<Entry> {
    let (_, tag) = parse_tag(value).map_err(|_| malformed("a read-entry control value"))?;
    entry_from_tag(&tag)
}

/// The cookie of a paged-results response control value (RFC 2696:
/// `SEQUENCE { size INTEGER, cookie OCTET STRING }`).
pub(crate) fn paged_cookie(value: &[u8]) -> Result<Vec<u8>> {
    let (_, tag) = parse_tag(value).map_err(|_| malformed("a paged results control value"))?;
    match constructed(&tag) {
        Some([_size, cookie]) => primitive(cookie)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| malformed("a paged results cookie")),
        _ => Err(malformed("a paged results control value")),
    }
}

/// A BER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    push_len(out, value.len());
    out.extend_from_slice(value);
}

/// The minimal two's-complement big-endian bytes of a non-negative INTEGER.
fn integer_bytes(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    // Keep a leading zero when the top bit is set, or the value would read as negative.
    if bytes[start] & 0x80 != 0 {
        if start == 0 {
            let mut out = vec![0];
            out.extend_from_slice(&bytes);
            return out;
        }
        start -= 1;
    }
    bytes[start..].to_vec()
}

/// The request value of the refresh extended operation (RFC 2589 §4.1):
/// `SEQUENCE { entryName [0] LDAPDN, requestTtl [1] INTEGER }`.
pub(crate) fn refresh_request(dn: &str, ttl_secs: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(dn.len() + 16);
    push_tlv(&mut body, 0x80, dn.as_bytes());
    push_tlv(&mut body, 0x81, &integer_bytes(ttl_secs));
    let mut out = Vec::with_capacity(body.len() + 4);
    push_tlv(&mut out, 0x30, &body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_request_encodes_dn_and_ttl() {
        assert_eq!(
            refresh_request("cn=a", 120),
            vec![
                0x30, 0x09, 0x80, 0x04, b'c', b'n', b'=', b'a', 0x81, 0x01, 120
            ]
        );
        // 200 has its top bit set: a leading zero keeps it positive.
        assert_eq!(&refresh_request("", 200)[4..], &[0x81, 0x02, 0x00, 200]);
        let long = "x".repeat(300);
        let encoded = refresh_request(&long, 1);
        assert_eq!(&encoded[..4], &[0x30, 0x82, 0x01, 0x33]);
        assert_eq!(&encoded[4..8], &[0x80, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn integers_are_minimal() {
        assert_eq!(integer_bytes(0), vec![0]);
        assert_eq!(integer_bytes(127), vec![127]);
        assert_eq!(integer_bytes(128), vec![0, 128]);
        assert_eq!(integer_bytes(86_400), vec![0x01, 0x51, 0x80]);
        assert_eq!(integer_bytes(u32::MAX), vec![0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn read_entry_control_parses_and_garbage_is_an_error() {
        // The pre-read value slapd sent for `authstateData: \x01\x00hello`.
        let value = [
            0x64, 0x1a, 0x04, 0x04, b'c', b'n', b'=', b'x', 0x30, 0x12, 0x30, 0x10, 0x04, 0x05,
            b'a', b'D', b'a', b't', b'a', 0x31, 0x07, 0x04, 0x05, 1, 0, b'h', b'i', b'!',
        ];
        let entry = entry_from_control(&value).expect("parses");
        assert_eq!(entry.dn, "cn=x");
        assert_eq!(entry.bytes("adata"), Some(&[1u8, 0, b'h', b'i', b'!'][..]));
        assert!(entry_from_control(&[0x64, 0x05, 0x04]).is_err());
        assert!(entry_from_control(&[]).is_err());
        assert!(entry_from_control(&[0x30, 0x00]).is_err());
    }
}
