//! The record codec: a versioned envelope around a compact serde encoding, optionally
//! sealed with AES-GCM, and keyed hashing for handles and index keys.
//!
//! # The envelope (stored format, version 1)
//!
//! ```text
//! plaintext: 0x01 0x00 body…
//! sealed:    0x01 alg  L key-id(L bytes) nonce(12 bytes) ciphertext‖tag(16 bytes)
//! ```
//!
//! Byte 0 is the format version ([`FORMAT_VERSION`]). Byte 1 is the algorithm: `0`
//! plaintext, `1` AES-256-GCM, `2` AES-128-GCM. A sealed envelope continues with the key
//! id length `L` (1 to [`MAX_KEY_ID_LEN`]), the key id (ASCII), a 12-byte nonce from the
//! operating system's random source, and the ciphertext followed by the 16-byte tag.
//!
//! The AEAD associated data is the header (version, algorithm, key id length and key
//! id) followed by `b"authstate/v1\0"`, the namespace, `0`, the contract name, `0` and
//! the storage key. A blob moved to another namespace, contract or storage key, or with a
//! rewritten header, fails to open. Namespaces and contract names never contain NUL and
//! the storage key is last, so the encoding is unambiguous.
//!
//! # Keyed hashing
//!
//! [`RecordCodec::hash`] is HMAC-SHA-256 keyed with the [`Pepper`] (plain SHA-256 without
//! one) over `b"authstate/v1\0" ‖ namespace ‖ 0 ‖ domain ‖ 0 ‖ value`.

use std::fmt;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::contract::Contract;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::secret::SecretBytes;

/// The envelope format version this build writes and reads (byte 0 of every envelope).
pub const FORMAT_VERSION: u8 = 1;

/// The longest data key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 32;

/// The shortest [`Pepper`], in bytes.
pub const MIN_PEPPER_LEN: usize = 16;

/// The backend name on every error raised here.
const BACKEND: &str = "core";

/// Algorithm byte of a plaintext envelope.
const ALG_PLAINTEXT: u8 = 0;
/// Algorithm byte of an AES-256-GCM envelope.
const ALG_AES256GCM: u8 = 1;
/// Algorithm byte of an AES-128-GCM envelope.
const ALG_AES128GCM: u8 = 2;

/// AES-GCM nonce length.
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// The domain-separation prefix of the associated data and of hashed values.
const DOMAIN_PREFIX: &[u8] = b"authstate/v1\0";

/// SHA-256's block size: HMAC-SHA-256 keys are prepared to this length.
const SHA256_BLOCK_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// The AEAD algorithm of a data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// AES-256-GCM, 32-byte keys. The default.
    Aes256Gcm,
    /// AES-128-GCM, 16-byte keys.
    Aes128Gcm,
}

impl Algorithm {
    /// The length of a key of this algorithm, in bytes (32 or 16).
    pub fn key_len(self) -> usize {
        match self {
            Algorithm::Aes256Gcm => 32,
            Algorithm::Aes128Gcm => 16,
        }
    }

    /// A display name (`"AES-256-GCM"`, `"AES-128-GCM"`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Aes256Gcm => "AES-256-GCM",
            Algorithm::Aes128Gcm => "AES-128-GCM",
        }
    }

    /// The envelope's algorithm byte.
    fn byte(self) -> u8 {
        match self {
            Algorithm::Aes256Gcm => ALG_AES256GCM,
            Algorithm::Aes128Gcm => ALG_AES128GCM,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A data-encryption key with its id. `Debug` never shows the material.
#[derive(Clone)]
pub struct DataKey {
    id: String,
    algorithm: Algorithm,
    material: SecretBytes,
}

/// One key for writing and any number of older keys for reading.
#[derive(Debug, Clone)]
pub struct Keyring {
    write: DataKey,
    read: Vec<DataKey>,
}

/// A secret for keyed hashing (HMAC-SHA-256) of handles and index keys.
#[derive(Debug, Clone)]
pub struct Pepper(SecretBytes);

/// What a sealed record is bound to: a blob moved to another namespace, contract or
/// storage key fails to open.
#[derive(Debug, Clone, Copy)]
pub struct AssociatedData<'a> {
    /// The store's namespace.
    pub namespace: &'a Namespace,
    /// The contract the record belongs to.
    pub contract: Contract,
    /// The record's storage key (usually an [`IndexKey`]'s bytes).
    pub key: &'a [u8],
}

/// A keyed hash (32 bytes) of a handle, id, token or subject: what is stored instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexKey([u8; 32]);

/// Seals and opens records and hashes handles. Shared by every store of a backend.
///
/// `Debug` shows key ids and algorithms, never key material or the pepper. Ciphers are
/// built from the key material on each call (an AES key schedule costs less than a
/// microsecond), so no cipher state is kept here.
#[derive(Debug, Clone, Default)]
pub struct RecordCodec {
    keyring: Option<Keyring>,
    pepper: Option<Pepper>,
    accept_plaintext: bool,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .field("material", &self.material)
            .finish()
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexKey({})", self.to_hex())
    }
}

impl IndexKey {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// Parses 64 hex characters (either case); anything else is `InvalidInput`.
    pub fn from_hex(s: &str) -> Result<Self> {
        let mut out = [0u8; 32];
        // `decode_to_slice` refuses any length but 64 and any non-hex character. The
        // input is not echoed: it may be whatever a client sent.
        hex::decode_to_slice(s, &mut out).map_err(|_| {
            Error::invalid_input(BACKEND, "an index key is 64 hex characters")
        })?;
        Ok(IndexKey(out))
    }
}

impl DataKey {
    /// A key from raw material (32 bytes for AES-256-GCM, 16 for AES-128-GCM) and an id
    /// of 1 to 32 characters `[A-Za-z0-9._-]`; anything else is `ConfigInvalid`.
    pub fn new(id: impl Into<String>, algorithm: Algorithm, material: SecretBytes) -> Result<Self> {
        let id = id.into();
        validate_key_id(&id)?;
        if material.len() != algorithm.key_len() {
            return Err(Error::config(
                BACKEND,
                format!(
                    "data key {id:?}: {} needs {} bytes of key material, got {}",
                    algorithm.name(),
                    algorithm.key_len(),
                    material.len()
                ),
            ));
        }
        Ok(DataKey { id, algorithm, material })
    }
    /// A new random key.
    pub fn generate(id: impl Into<String>, algorithm: Algorithm) -> Result<Self> {
        let mut material = Zeroizing::new(vec![0u8; algorithm.key_len()]);
        crate::id::random_bytes(&mut material)?;
        DataKey::new(id, algorithm, SecretBytes::new(std::mem::take(&mut *material)))
    }
    /// The key id stored in every envelope it seals.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The envelope header this key writes: version, algorithm, key id length, key id.
    fn header(&self) -> Result<Vec<u8>> {
        let id = self.id.as_bytes();
        let id_len = u8::try_from(id.len())
            .map_err(|_| Error::unexpected(BACKEND, "data key id longer than 255 bytes"))?;
        let mut header = Vec::with_capacity(3 + id.len());
        header.push(FORMAT_VERSION);
        header.push(self.algorithm.byte());
        header.push(id_len);
        header.extend_from_slice(id);
        Ok(header)
    }
}

/// Checks a data key id: 1 to [`MAX_KEY_ID_LEN`] characters of `[A-Za-z0-9._-]`.
fn validate_key_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN {
        return Err(Error::config(
            BACKEND,
            format!(
                "a data key id is 1 to {MAX_KEY_ID_LEN} characters long, got {} bytes",
                id.len()
            ),
        ));
    }
    let valid = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(Error::config(
            BACKEND,
            format!("data key id {id:?} is invalid: use only A-Z, a-z, 0-9, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

impl Keyring {
    /// A keyring that writes (and reads) with `write`.
    pub fn new(write: DataKey) -> Self {
        Keyring { write, read: Vec::new() }
    }
    /// Adds an older key that is only used to read. Duplicate ids are `ConfigInvalid`.
    pub fn with_read_key(mut self, key: DataKey) -> Result<Self> {
        if self.find(key.id.as_bytes()).is_some() {
            return Err(Error::config(
                BACKEND,
                format!("the keyring already has a key with id {:?}", key.id),
            ));
        }
        self.read.push(key);
        Ok(self)
    }
    /// The key every new record is sealed with.
    pub fn write_key(&self) -> &DataKey {
        &self.write
    }
    /// The older keys that are only used to open records.
    pub fn read_keys(&self) -> &[DataKey] {
        &self.read
    }

    /// The key with this id: the write key or one of the read keys.
    fn find(&self, id: &[u8]) -> Option<&DataKey> {
        std::iter::once(&self.write)
            .chain(&self.read)
            .find(|k| k.id.as_bytes() == id)
    }
}

impl Pepper {
    /// A pepper of at least 16 bytes; shorter is `ConfigInvalid`.
    pub fn new(bytes: SecretBytes) -> Result<Self> {
        if bytes.len() < MIN_PEPPER_LEN {
            return Err(Error::config(
                BACKEND,
                format!(
                    "a pepper needs at least {MIN_PEPPER_LEN} bytes (32 random bytes are \
                     recommended), got {}",
                    bytes.len()
                ),
            ));
        }
        Ok(Pepper(bytes))
    }

    /// An HMAC-SHA-256 instance keyed with the pepper.
    ///
    /// The key is prepared as HMAC itself does (RFC 2104 §2: a key longer than the hash's
    /// block is replaced by its hash, then zero-padded to the block), so that the
    /// infallible `KeyInit::new` can be used instead of `new_from_slice`, whose error
    /// never happens for HMAC but would need an `unwrap`. The result is identical to
    /// `Hmac::new_from_slice(pepper)` (tested against RFC 4231).
    fn mac(&self) -> HmacSha256 {
        let pepper = self.0.expose();
        let mut key = hmac::digest::Key::<HmacSha256>::default();
        if pepper.len() <= SHA256_BLOCK_LEN {
            if let Some(dst) = key.get_mut(..pepper.len()) {
                dst.copy_from_slice(pepper);
            }
        } else {
            let mut hashed = Sha256::digest(pepper);
            if let Some(dst) = key.get_mut(..hashed.len()) {
                dst.copy_from_slice(&hashed);
            }
            hashed.as_mut_slice().zeroize();
        }
        let mac = <HmacSha256 as KeyInit>::new(&key);
        key.as_mut_slice().zeroize();
        mac
    }
}

impl RecordCodec {
    /// No encryption, no pepper (SHA-256 for hashing): the default.
    pub fn plaintext() -> Self {
        RecordCodec::default()
    }
    /// Sets the keyring: every record written from now on is sealed.
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }
    /// Sets the pepper for keyed hashing.
    pub fn with_pepper(mut self, pepper: Pepper) -> Self {
        self.pepper = Some(pepper);
        self
    }
    /// Whether plaintext envelopes are accepted while a keyring is set (a migration).
    ///
    /// Without a keyring, plaintext envelopes are always accepted. Note that while this is
    /// on, anybody who can write to the backend can plant a plaintext record (that is what
    /// a migration accepts); turn it off once every record has been rewritten sealed.
    pub fn accept_plaintext(mut self, accept: bool) -> Self {
        self.accept_plaintext = accept;
        self
    }
    /// Whether records are sealed.
    pub fn is_encrypting(&self) -> bool {
        self.keyring.is_some()
    }
    /// The keyring, if records are sealed.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }
    /// Wraps `plaintext` in an envelope, sealed when a keyring is set.
    ///
    /// Fails with `Unavailable` only if the OS random source fails (no nonce), and with
    /// `Unexpected` if AES-GCM refuses the input (over 64 GiB).
    pub fn seal(&self, ad: &AssociatedData<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let Some(keyring) = &self.keyring else {
            let mut out = Vec::with_capacity(2 + plaintext.len());
            out.push(FORMAT_VERSION);
            out.push(ALG_PLAINTEXT);
            out.extend_from_slice(plaintext);
            return Ok(out);
        };
        let key = &keyring.write;
        let header = key.header()?;
        let mut nonce = [0u8; NONCE_LEN];
        crate::id::random_bytes(&mut nonce)?;
        let aad = associated_data(&header, ad);
        let ciphertext = aead_seal(key, nonce, &aad, plaintext)?;
        let mut out = Vec::with_capacity(header.len() + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }
    /// Opens an envelope. Any failure (truncated, tampered, wrong key, wrong associated
    /// data, unknown version) is `Corrupt`, never a panic.
    pub fn open(&self, ad: &AssociatedData<'_>, envelope: &[u8]) -> Result<Vec<u8>> {
        let (&version, rest) = envelope
            .split_first()
            .ok_or_else(|| corrupt("truncated envelope: it is empty"))?;
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "unknown envelope format version {version} (this build reads version \
                 {FORMAT_VERSION})"
            )));
        }
        let (&alg, rest) = rest
            .split_first()
            .ok_or_else(|| corrupt("truncated envelope: no algorithm byte"))?;
        let algorithm = match alg {
            ALG_PLAINTEXT => return self.open_plaintext(rest),
            ALG_AES256GCM => Algorithm::Aes256Gcm,
            ALG_AES128GCM => Algorithm::Aes128Gcm,
            other => {
                return Err(corrupt(format!(
                    "unknown algorithm {other} in the envelope (known: 0 plaintext, \
                     1 AES-256-GCM, 2 AES-128-GCM)"
                )));
            }
        };
        let Some(keyring) = &self.keyring else {
            return Err(corrupt(format!(
                "sealed record ({algorithm}) but no keyring is configured: configure the \
                 keyring the record was written with"
            )));
        };
        let (&id_len, rest) = rest
            .split_first()
            .ok_or_else(|| corrupt("truncated envelope: no key id length"))?;
        let id_len = usize::from(id_len);
        if !(1..=MAX_KEY_ID_LEN).contains(&id_len) {
            return Err(corrupt(format!(
                "invalid key id length {id_len} in the envelope (1 to {MAX_KEY_ID_LEN})"
            )));
        }
        let (id, rest) = rest
            .split_at_checked(id_len)
            .ok_or_else(|| corrupt("truncated envelope: the key id is cut short"))?;
        let key = keyring.find(id).ok_or_else(|| {
            corrupt(format!(
                "unknown key id {:?}: add that key to the keyring as a read key",
                String::from_utf8_lossy(id)
            ))
        })?;
        if key.algorithm != algorithm {
            return Err(corrupt(format!(
                "the envelope says {algorithm} but key id {:?} is {}",
                key.id, key.algorithm
            )));
        }
        let (nonce, ciphertext) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| corrupt("truncated envelope: the nonce is cut short"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(corrupt(
                "truncated envelope: the ciphertext is shorter than the authentication tag",
            ));
        }
        let header = envelope
            .get(..3 + id_len)
            .ok_or_else(|| corrupt("truncated envelope: no header"))?;
        let aad = associated_data(header, ad);
        aead_open(key, nonce, &aad, ciphertext)
    }
    /// Serializes `value` compactly and seals it.
    pub fn encode<T: Serialize>(&self, ad: &AssociatedData<'_>, value: &T) -> Result<Vec<u8>> {
        let bytes = Zeroizing::new(postcard::to_stdvec(value).map_err(|e| {
            Error::unexpected(BACKEND, "the record could not be serialized").with_source(e)
        })?);
        self.seal(ad, &bytes)
    }
    /// Opens and deserializes.
    pub fn decode<T: DeserializeOwned>(&self, ad: &AssociatedData<'_>, envelope: &[u8]) -> Result<T> {
        let bytes = Zeroizing::new(self.open(ad, envelope)?);
        postcard::from_bytes(&bytes).map_err(|e| {
            corrupt(format!(
                "the {} record does not deserialize as the expected type",
                ad.contract
            ))
            .with_source(e)
        })
    }
    /// The keyed hash of `value` in `domain` (e.g. `"session.id"`, `"token.subject"`)
    /// within `namespace`: HMAC-SHA-256 with the pepper, or SHA-256 without one.
    ///
    /// `domain` must not contain NUL (it is a fixed name chosen by the store).
    pub fn hash(&self, namespace: &Namespace, domain: &str, value: &[u8]) -> IndexKey {
        debug_assert!(!domain.contains('\0'), "hash domain {domain:?} contains NUL");
        let parts: [&[u8]; 6] = [
            DOMAIN_PREFIX,
            namespace.as_str().as_bytes(),
            &[0],
            domain.as_bytes(),
            &[0],
            value,
        ];
        let out: [u8; 32] = match &self.pepper {
            Some(pepper) => {
                let mut mac = pepper.mac();
                for part in parts {
                    mac.update(part);
                }
                mac.finalize().into_bytes().into()
            }
            None => {
                let mut sha = Sha256::new();
                for part in parts {
                    sha.update(part);
                }
                sha.finalize().into()
            }
        };
        IndexKey(out)
    }

    /// Opens the body of a plaintext envelope, if plaintext is accepted.
    fn open_plaintext(&self, body: &[u8]) -> Result<Vec<u8>> {
        if self.keyring.is_some() && !self.accept_plaintext {
            return Err(corrupt(
                "plaintext record refused: encryption is configured and accept_plaintext is \
                 off; to read records written before encryption was enabled, turn \
                 accept_plaintext on (RecordCodec::accept_plaintext(true)) during the \
                 migration, until every record has been rewritten sealed",
            ));
        }
        Ok(body.to_vec())
    }
}

/// A `Corrupt` error raised by the codec.
fn corrupt(message: impl Into<String>) -> Error {
    Error::corrupt(BACKEND, message)
}

/// The AEAD associated data: the envelope header, then `b"authstate/v1\0"`, the
/// namespace, `0`, the contract name, `0` and the storage key.
fn associated_data(header: &[u8], ad: &AssociatedData<'_>) -> Vec<u8> {
    let namespace = ad.namespace.as_str().as_bytes();
    let contract = ad.contract.as_str().as_bytes();
    let mut out = Vec::with_capacity(
        header.len() + DOMAIN_PREFIX.len() + namespace.len() + contract.len() + 2 + ad.key.len(),
    );
    out.extend_from_slice(header);
    out.extend_from_slice(DOMAIN_PREFIX);
    out.extend_from_slice(namespace);
    out.push(0);
    out.extend_from_slice(contract);
    out.push(0);
    out.extend_from_slice(ad.key);
    out
}

/// Seals `msg` with `key`: ciphertext followed by the 16-byte tag.
fn aead_seal(key: &DataKey, nonce: [u8; NONCE_LEN], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>> {
    let nonce = aes_gcm::Nonce::<U12>::from(nonce);
    let payload = Payload { msg, aad };
    let material = key.material.expose();
    let sealed = match key.algorithm {
        Algorithm::Aes256Gcm => Aes256Gcm::new_from_slice(material)
            .map_err(|_| bad_key_length(key))?
            .encrypt(&nonce, payload),
        Algorithm::Aes128Gcm => Aes128Gcm::new_from_slice(material)
            .map_err(|_| bad_key_length(key))?
            .encrypt(&nonce, payload),
    };
    sealed.map_err(|_| {
        Error::unexpected(
            BACKEND,
            format!("{} refused to seal the record (too large)", key.algorithm),
        )
    })
}

/// Opens `ciphertext` (with its tag) with `key`; any failure is `Corrupt`.
fn aead_open(key: &DataKey, nonce: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
    let nonce = aes_gcm::Nonce::<U12>::try_from(nonce)
        .map_err(|_| corrupt("truncated envelope: the nonce is cut short"))?;
    let payload = Payload { msg: ciphertext, aad };
    let material = key.material.expose();
    let opened = match key.algorithm {
        Algorithm::Aes256Gcm => Aes256Gcm::new_from_slice(material)
            .map_err(|_| corrupt(bad_key_length(key).message()))?
            .decrypt(&nonce, payload),
        Algorithm::Aes128Gcm => Aes128Gcm::new_from_slice(material)
            .map_err(|_| corrupt(bad_key_length(key).message()))?
            .decrypt(&nonce, payload),
    };
    opened.map_err(|_| {
        corrupt(format!(
            "authentication failed with key id {:?} ({}): the record was tampered with, \
             sealed with a different key under that id, or moved from another namespace, \
             contract or storage key",
            key.id, key.algorithm
        ))
    })
}

/// The error for key material of the wrong length (prevented by [`DataKey::new`]).
fn bad_key_length(key: &DataKey) -> Error {
    Error::unexpected(
        BACKEND,
        format!(
            "data key {:?} does not have the {} bytes {} needs",
            key.id,
            key.algorithm.key_len(),
            key.algorithm
        ),
    )
}
