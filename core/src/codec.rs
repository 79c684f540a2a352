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
use std::sync::Arc;

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
    /// The cipher, keyed once (the AES key schedule and the GHASH key), shared by the
    /// copies of this key and zeroized with the last of them (aes-gcm's `zeroize`).
    cipher: Arc<Cipher>,
}

/// A keyed AES-GCM instance.
enum Cipher {
    Aes256(Aes256Gcm),
    Aes128(Aes128Gcm),
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

/// The associated-data key of the meta part of a session stored as two envelopes (a
/// sealed meta that never changes and sealed data bound to its version): the session's
/// key followed by `/m`.
pub fn session_meta_key(key: &IndexKey) -> Vec<u8> {
    let mut ad = key.as_bytes().to_vec();
    ad.extend_from_slice(b"/m");
    ad
}

/// The associated-data key of the data part, at `version`, of a session stored as two
/// envelopes: the session's key, `/d` and the version (8 bytes, big-endian), so data
/// sealed for one version never opens as another's.
pub fn session_data_key(key: &IndexKey, version: u64) -> Vec<u8> {
    let mut ad = key.as_bytes().to_vec();
    ad.extend_from_slice(b"/d");
    ad.extend_from_slice(&version.to_be_bytes());
    ad
}

/// A keyed hash (32 bytes) of a handle, id, token or subject: what is stored instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexKey([u8; 32]);

/// Seals and opens records and hashes handles. Shared by every store of a backend.
///
/// `Debug` shows key ids and algorithms, never key material or the pepper. Each key's
/// cipher is keyed once, when the key is made (keying AES-256-GCM costs about as much as
/// sealing 200 bytes with it).
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
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| Error::invalid_input(BACKEND, "an index key is 64 hex characters"))?;
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
        let cipher = match algorithm {
            Algorithm::Aes256Gcm => {
                Aes256Gcm::new_from_slice(material.expose()).map(Cipher::Aes256)
            }
            Algorithm::Aes128Gcm => {
                Aes128Gcm::new_from_slice(material.expose()).map(Cipher::Aes128)
            }
        }
        .map_err(|_| {
            Error::config(
                BACKEND,
                format!(
                    "data key {id:?}: {} refused the key material",
                    algorithm.name()
                ),
            )
        })?;
        Ok(DataKey {
            id,
            algorithm,
            material,
            cipher: Arc::new(cipher),
        })
    }
    /// A new random key.
    pub fn generate(id: impl Into<String>, algorithm: Algorithm) -> Result<Self> {
        let mut material = Zeroizing::new(vec![0u8; algorithm.key_len()]);
        crate::id::random_bytes(&mut material)?;
        DataKey::new(
            id,
            algorithm,
            SecretBytes::new(std::mem::take(&mut *material)),
        )
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
        Keyring {
            write,
            read: Vec::new(),
        }
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
    /// Whether `envelope` (one that opened) is sealed with the keyring's write key, as
    /// the codec would seal it now. `false` for plaintext accepted during a migration
    /// and for envelopes sealed with an older read key: their records should be
    /// rewritten (resealed) when next written. Without a keyring every envelope is
    /// current.
    ///
    /// ```
    /// use authstate_core::codec::{Algorithm, AssociatedData, DataKey, Keyring, RecordCodec};
    /// use authstate_core::{Contract, Namespace};
    ///
    /// let ns = Namespace::new("idp").unwrap();
    /// let ad = AssociatedData { namespace: &ns, contract: Contract::Session, key: b"k" };
    /// let old = Keyring::new(DataKey::generate("2025", Algorithm::Aes256Gcm).unwrap());
    /// let sealed = RecordCodec::plaintext().with_keyring(old.clone()).seal(&ad, b"x").unwrap();
    /// let rotated = RecordCodec::plaintext().with_keyring(
    ///     Keyring::new(DataKey::generate("2026", Algorithm::Aes256Gcm).unwrap())
    ///         .with_read_key(old.write_key().clone())
    ///         .unwrap(),
    /// );
    /// assert!(!rotated.is_current(&sealed));
    /// assert!(rotated.is_current(&rotated.seal(&ad, b"x").unwrap()));
    /// ```
    pub fn is_current(&self, envelope: &[u8]) -> bool {
        let Some(keyring) = &self.keyring else {
            return true;
        };
        // Header: format byte, algorithm (0: plaintext), key id length, key id.
        match envelope.get(1) {
            Some(&ALG_PLAINTEXT) | None => false,
            Some(_) => {
                let id = keyring.write.id().as_bytes();
                let len = envelope.get(2).map_or(0, |&l| usize::from(l));
                envelope.get(3..3 + len) == Some(id)
            }
        }
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
    pub fn decode<T: DeserializeOwned>(
        &self,
        ad: &AssociatedData<'_>,
        envelope: &[u8],
    ) -> Result<T> {
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
        debug_assert!(
            !domain.contains('\0'),
            "hash domain {domain:?} contains NUL"
        );
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
    let sealed = match key.cipher.as_ref() {
        Cipher::Aes256(cipher) => cipher.encrypt(&nonce, payload),
        Cipher::Aes128(cipher) => cipher.encrypt(&nonce, payload),
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
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    let opened = match key.cipher.as_ref() {
        Cipher::Aes256(cipher) => cipher.decrypt(&nonce, payload),
        Cipher::Aes128(cipher) => cipher.decrypt(&nonce, payload),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn ns(name: &str) -> Namespace {
        Namespace::new(name).expect("namespace")
    }

    fn key(id: &str, algorithm: Algorithm, fill: u8) -> DataKey {
        DataKey::new(
            id,
            algorithm,
            SecretBytes::new(vec![fill; algorithm.key_len()]),
        )
        .expect("data key")
    }

    fn sealing(write: DataKey) -> RecordCodec {
        RecordCodec::plaintext().with_keyring(Keyring::new(write))
    }

    fn expect_corrupt(result: Result<Vec<u8>>, needle: &str) -> Error {
        let err = result.expect_err("should not open");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert_eq!(err.backend(), "core");
        assert!(err.message().contains(needle), "{needle:?} not in {err}");
        err
    }

    const PAYLOAD: &[u8] = b"the session record";

    #[test]
    fn plaintext_round_trip() {
        let n = ns("idp-prod");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::Session,
            key: b"k",
        };
        let codec = RecordCodec::plaintext();
        assert!(!codec.is_encrypting());
        let env = codec.seal(&ad, PAYLOAD).expect("seal");
        assert_eq!(env.first(), Some(&1));
        assert_eq!(env.get(1), Some(&0));
        assert_eq!(env.get(2..), Some(PAYLOAD));
        assert_eq!(codec.open(&ad, &env).expect("open"), PAYLOAD);
        assert_eq!(codec.open(&ad, &[1, 0]).expect("empty body"), b"");
    }

    fn sealed_round_trip(algorithm: Algorithm, alg_byte: u8) {
        let n = ns("idp-prod");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::Token,
            key: b"abc",
        };
        let codec = sealing(key("key-2024.01", algorithm, 7));
        assert!(codec.is_encrypting());
        let env = codec.seal(&ad, PAYLOAD).expect("seal");
        // 0x01 alg L key-id nonce ciphertext tag
        assert_eq!(env.get(..3), Some(&[1, alg_byte, 11][..]));
        assert_eq!(env.get(3..14), Some(&b"key-2024.01"[..]));
        assert_eq!(env.len(), 3 + 11 + NONCE_LEN + PAYLOAD.len() + TAG_LEN);
        assert!(
            !env.windows(PAYLOAD.len()).any(|w| w == PAYLOAD),
            "plaintext visible"
        );
        assert_eq!(codec.open(&ad, &env).expect("open"), PAYLOAD);
        // A fresh random nonce every time.
        let again = codec.seal(&ad, PAYLOAD).expect("seal");
        assert_ne!(env, again);
        assert_ne!(env.get(14..26), again.get(14..26));
        assert_eq!(codec.open(&ad, &again).expect("open"), PAYLOAD);
        // Empty payloads too.
        let empty = codec.seal(&ad, b"").expect("seal");
        assert_eq!(codec.open(&ad, &empty).expect("open"), b"");
    }

    #[test]
    fn aes256_round_trip() {
        sealed_round_trip(Algorithm::Aes256Gcm, 1);
    }

    #[test]
    fn aes128_round_trip() {
        sealed_round_trip(Algorithm::Aes128Gcm, 2);
    }

    #[test]
    fn rotation_old_write_key_opens_as_read_key() {
        let n = ns("idp-prod");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::Session,
            key: b"s1",
        };
        let old = key("k1", Algorithm::Aes128Gcm, 1);
        let new = key("k2", Algorithm::Aes256Gcm, 2);
        let before = sealing(old.clone());
        let sealed_old = before.seal(&ad, PAYLOAD).expect("seal");

        let after = RecordCodec::plaintext()
            .with_keyring(Keyring::new(new).with_read_key(old).expect("read key"));
        assert_eq!(
            after.open(&ad, &sealed_old).expect("old record opens"),
            PAYLOAD
        );
        // New records are sealed with the new write key, which the old codec cannot open.
        let sealed_new = after.seal(&ad, PAYLOAD).expect("seal");
        assert_eq!(sealed_new.get(..5), Some(&[1, 1, 2, b'k', b'2'][..]));
        assert_eq!(after.open(&ad, &sealed_new).expect("open"), PAYLOAD);
        expect_corrupt(before.open(&ad, &sealed_new), "unknown key id \"k2\"");
    }

    #[test]
    fn moved_records_do_not_open() {
        let a = ns("idp-a");
        let b = ns("idp-b");
        let codec = sealing(key("k1", Algorithm::Aes256Gcm, 3));
        let ad = AssociatedData {
            namespace: &a,
            contract: Contract::Session,
            key: b"key-1",
        };
        let env = codec.seal(&ad, PAYLOAD).expect("seal");
        let moved = [
            AssociatedData {
                namespace: &b,
                ..ad
            },
            AssociatedData {
                contract: Contract::State,
                ..ad
            },
            AssociatedData {
                key: b"key-2",
                ..ad
            },
            AssociatedData {
                key: b"key-1\0",
                ..ad
            },
            AssociatedData { key: b"", ..ad },
        ];
        for other in &moved {
            expect_corrupt(codec.open(other, &env), "authentication failed");
        }
        assert_eq!(codec.open(&ad, &env).expect("open"), PAYLOAD);
    }

    #[test]
    fn rewritten_header_does_not_open() {
        // Two keys with the same material and algorithm: only the header's key id differs,
        // and the header is authenticated.
        let n = ns("idp");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::Key,
            key: b"set",
        };
        let codec = RecordCodec::plaintext().with_keyring(
            Keyring::new(key("ka", Algorithm::Aes256Gcm, 9))
                .with_read_key(key("kb", Algorithm::Aes256Gcm, 9))
                .expect("read key"),
        );
        let mut env = codec.seal(&ad, PAYLOAD).expect("seal");
        assert_eq!(env.get(3..5), Some(&b"ka"[..]));
        if let Some(b) = env.get_mut(4) {
            *b = b'b';
        }
        expect_corrupt(codec.open(&ad, &env), "authentication failed");
    }

    #[test]
    fn wrong_material_under_same_id_does_not_open() {
        let n = ns("idp");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::Token,
            key: b"t",
        };
        let env = sealing(key("k1", Algorithm::Aes256Gcm, 1))
            .seal(&ad, PAYLOAD)
            .expect("seal");
        let other = sealing(key("k1", Algorithm::Aes256Gcm, 2));
        expect_corrupt(
            other.open(&ad, &env),
            "authentication failed with key id \"k1\"",
        );
    }

    #[test]
    fn algorithm_byte_must_match_the_key() {
        let n = ns("idp");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::Token,
            key: b"t",
        };
        let codec = sealing(key("k1", Algorithm::Aes256Gcm, 1));
        let mut env = codec.seal(&ad, PAYLOAD).expect("seal");
        if let Some(b) = env.get_mut(1) {
            *b = 2;
        }
        expect_corrupt(
            codec.open(&ad, &env),
            "says AES-128-GCM but key id \"k1\" is AES-256-GCM",
        );
    }

    #[test]
    fn plaintext_migration_on_and_off() {
        let n = ns("idp");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::State,
            key: b"s",
        };
        let old = RecordCodec::plaintext().seal(&ad, PAYLOAD).expect("seal");
        let strict = sealing(key("k1", Algorithm::Aes256Gcm, 1));
        let err = expect_corrupt(strict.open(&ad, &old), "plaintext record refused");
        assert!(err.message().contains("accept_plaintext(true)"), "{err}");
        let migrating = strict.clone().accept_plaintext(true);
        assert_eq!(migrating.open(&ad, &old).expect("migration"), PAYLOAD);
        // Writes are still sealed during the migration.
        let new = migrating.seal(&ad, PAYLOAD).expect("seal");
        assert_eq!(new.get(1), Some(&1));
        assert_eq!(strict.open(&ad, &new).expect("open"), PAYLOAD);
        // Without a keyring, plaintext is always accepted, whatever the flag says.
        let plain = RecordCodec::plaintext().accept_plaintext(false);
        assert_eq!(plain.open(&ad, &old).expect("plaintext"), PAYLOAD);
    }

    #[test]
    fn sealed_record_without_keyring() {
        let n = ns("idp");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::State,
            key: b"s",
        };
        let env = sealing(key("k1", Algorithm::Aes128Gcm, 1))
            .seal(&ad, PAYLOAD)
            .expect("seal");
        expect_corrupt(
            RecordCodec::plaintext().open(&ad, &env),
            "sealed record (AES-128-GCM) but no keyring is configured",
        );
    }

    #[test]
    fn malformed_envelopes_say_what() {
        let n = ns("idp");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::State,
            key: b"s",
        };
        let codec = sealing(key("k1", Algorithm::Aes256Gcm, 1));
        let env = codec.seal(&ad, PAYLOAD).expect("seal");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "truncated envelope"),
            (vec![1], "truncated envelope"),
            (vec![1, 1], "truncated envelope"),
            (vec![1, 1, 2, b'k'], "truncated envelope"),
            (vec![2, 0, 1, 2], "unknown envelope format version 2"),
            (vec![0], "unknown envelope format version 0"),
            (vec![1, 3, 2, b'k', b'1'], "unknown algorithm 3"),
            (vec![1, 255], "unknown algorithm 255"),
            (vec![1, 1, 0], "invalid key id length 0"),
            (vec![1, 1, 33], "invalid key id length 33"),
            (vec![1, 1, 2, b'k', b'2', 0, 0], "unknown key id \"k2\""),
            (vec![1, 1, 2, 0xff, b'"'], "unknown key id \"\u{fffd}\\\"\""),
            (
                env.get(..5 + NONCE_LEN - 1).expect("len").to_vec(),
                "nonce is cut short",
            ),
            (
                env.get(..5 + NONCE_LEN + TAG_LEN - 1)
                    .expect("len")
                    .to_vec(),
                "shorter than",
            ),
            (
                env.get(..env.len() - 1).expect("len").to_vec(),
                "authentication failed",
            ),
        ];
        for (bytes, needle) in cases {
            expect_corrupt(codec.open(&ad, &bytes), needle);
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        subject: String,
        created_ms: u64,
        data: Vec<u8>,
        idle: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Other {
        // The first byte of an encoded `Rec` is the subject's length (5), not a bool.
        _flag: bool,
    }

    #[test]
    fn encode_decode_round_trip() {
        let n = ns("idp");
        let ad = AssociatedData {
            namespace: &n,
            contract: Contract::Session,
            key: b"s",
        };
        let rec = Rec {
            subject: "alice".into(),
            created_ms: 1_700_000_000_000,
            data: vec![1, 2, 3],
            idle: Some(600),
        };
        for codec in [
            RecordCodec::plaintext(),
            sealing(key("k1", Algorithm::Aes256Gcm, 1)),
            sealing(key("k1", Algorithm::Aes128Gcm, 1)),
        ] {
            let env = codec.encode(&ad, &rec).expect("encode");
            assert_eq!(codec.decode::<Rec>(&ad, &env).expect("decode"), rec);
            let err = codec.decode::<Other>(&ad, &env).expect_err("wrong type");
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
            assert!(std::error::Error::source(&err).is_some());
            let empty = codec.seal(&ad, b"").expect("seal");
            let err = codec.decode::<Rec>(&ad, &empty).expect_err("empty body");
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
            // Open failures come through decode unchanged.
            let err = codec.decode::<Rec>(&ad, &[9, 9]).expect_err("bad version");
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        }
    }

    #[test]
    fn hash_is_stable_and_separated() {
        let a = ns("idp-a");
        let b = ns("idp-b");
        let plain = RecordCodec::plaintext();
        let pepper1 = Pepper::new(SecretBytes::new(vec![1u8; 32])).expect("pepper");
        let pepper2 = Pepper::new(SecretBytes::new(vec![2u8; 32])).expect("pepper");
        let peppered = RecordCodec::plaintext().with_pepper(pepper1.clone());
        let other_pepper = RecordCodec::plaintext().with_pepper(pepper2);

        // Stable, and exactly the documented construction.
        let mut input = b"authstate/v1\0idp-a\0session.id\0v".to_vec();
        assert_eq!(
            plain.hash(&a, "session.id", b"v"),
            plain.hash(&a, "session.id", b"v")
        );
        assert_eq!(
            plain.hash(&a, "session.id", b"v").as_bytes(),
            &<[u8; 32]>::from(Sha256::digest(&input))
        );
        let mac = <HmacSha256 as KeyInit>::new_from_slice(&[1u8; 32]).expect("hmac");
        assert_eq!(
            peppered.hash(&a, "session.id", b"v").as_bytes(),
            &<[u8; 32]>::from(mac.chain_update(&input).finalize().into_bytes())
        );
        input.clear();

        let base = peppered.hash(&a, "session.id", b"v");
        assert_ne!(base, peppered.hash(&b, "session.id", b"v"), "namespace");
        assert_ne!(base, peppered.hash(&a, "session.subject", b"v"), "domain");
        assert_ne!(base, peppered.hash(&a, "session.id", b"w"), "value");
        assert_ne!(base, other_pepper.hash(&a, "session.id", b"v"), "pepper");
        assert_ne!(base, plain.hash(&a, "session.id", b"v"), "no pepper");
        // The separator keeps domain and value apart.
        assert_ne!(peppered.hash(&a, "ab", b"c"), peppered.hash(&a, "a", b"bc"));
        // The keyring does not change hashes.
        let sealed = sealing(key("k1", Algorithm::Aes256Gcm, 1)).with_pepper(pepper1);
        assert_eq!(base, sealed.hash(&a, "session.id", b"v"));
    }

    #[test]
    fn hmac_key_preparation_matches_rfc4231() {
        fn tag(key: &[u8], data: &[u8]) -> String {
            let mut mac = Pepper(SecretBytes::new(key.to_vec())).mac();
            mac.update(data);
            hex::encode(mac.finalize().into_bytes())
        }
        // RFC 4231 test case 1 (short key) and 6 (key longer than the block).
        assert_eq!(
            tag(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            tag(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        for len in [0, 1, 16, 32, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let reference = <HmacSha256 as KeyInit>::new_from_slice(&key)
                .expect("hmac")
                .chain_update(b"data")
                .finalize()
                .into_bytes();
            assert_eq!(
                tag(&key, b"data"),
                hex::encode(reference),
                "key length {len}"
            );
        }
    }

    #[test]
    fn index_key_hex() {
        let k = RecordCodec::plaintext().hash(&ns("idp"), "d", b"v");
        let hex = k.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(IndexKey::from_hex(&hex).expect("parse"), k);
        assert_eq!(IndexKey::from_hex(&hex.to_uppercase()).expect("parse"), k);
        assert_eq!(format!("{k:?}"), format!("IndexKey({hex})"));
        let bad = [
            String::new(),
            "ab".into(),
            hex[..63].to_string(),
            format!("{hex}0"),
            "g".repeat(64),
            "é".repeat(32),
        ];
        for s in bad {
            let err = IndexKey::from_hex(&s).expect_err("bad hex");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{s:?}");
        }
    }

    #[test]
    fn data_key_validation() {
        let ok = |id: &str, alg: Algorithm, len: usize| {
            DataKey::new(id, alg, SecretBytes::new(vec![0u8; len]))
        };
        assert!(ok("k", Algorithm::Aes256Gcm, 32).is_ok());
        assert!(ok("A-z_0.9", Algorithm::Aes128Gcm, 16).is_ok());
        assert!(ok(&"k".repeat(32), Algorithm::Aes256Gcm, 32).is_ok());
        let bad = [
            ("", Algorithm::Aes256Gcm, 32, "1 to 32"),
            (&*"k".repeat(33), Algorithm::Aes256Gcm, 32, "got 33 bytes"),
            ("k 1", Algorithm::Aes256Gcm, 32, "\"k 1\" is invalid"),
            ("k/1", Algorithm::Aes256Gcm, 32, "is invalid"),
            ("ké", Algorithm::Aes256Gcm, 32, "is invalid"),
            ("k1", Algorithm::Aes256Gcm, 16, "AES-256-GCM needs 32 bytes"),
            ("k1", Algorithm::Aes256Gcm, 0, "got 0"),
            ("k1", Algorithm::Aes128Gcm, 32, "AES-128-GCM needs 16 bytes"),
        ];
        for (id, alg, len, needle) in bad {
            let err = ok(id, alg, len).expect_err("invalid key");
            assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
            assert!(err.message().contains(needle), "{needle:?} not in {err}");
        }
        let a = DataKey::generate("g", Algorithm::Aes256Gcm).expect("generate");
        let b = DataKey::generate("g", Algorithm::Aes256Gcm).expect("generate");
        assert_eq!(a.material.len(), 32);
        assert_ne!(a.material, b.material);
        assert_eq!(
            DataKey::generate("g", Algorithm::Aes128Gcm)
                .expect("gen")
                .material
                .len(),
            16
        );
        assert!(DataKey::generate("", Algorithm::Aes128Gcm).is_err());
        assert_eq!((a.id(), a.algorithm()), ("g", Algorithm::Aes256Gcm));
    }

    #[test]
    fn keyring_refuses_duplicate_ids() {
        let ring = Keyring::new(key("k1", Algorithm::Aes256Gcm, 1));
        let err = ring
            .clone()
            .with_read_key(key("k1", Algorithm::Aes128Gcm, 2))
            .expect_err("dup");
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        let ring = ring
            .with_read_key(key("k0", Algorithm::Aes128Gcm, 2))
            .expect("read key");
        let err = ring
            .clone()
            .with_read_key(key("k0", Algorithm::Aes256Gcm, 3))
            .expect_err("dup");
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert!(err.message().contains("\"k0\""), "{err}");
        assert_eq!(ring.write_key().id(), "k1");
        assert_eq!(ring.read_keys().len(), 1);
    }

    #[test]
    fn pepper_length() {
        let err = Pepper::new(SecretBytes::new(vec![1u8; 15])).expect_err("short");
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert!(err.message().contains("at least 16 bytes"), "{err}");
        assert!(Pepper::new(SecretBytes::new(vec![1u8; 16])).is_ok());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let material = b"KEYMATERIAL-KEYMATERIAL-KEYMAT32".to_vec();
        let pepper = b"PEPPERPEPPERPEPPER".to_vec();
        let dk = DataKey::new(
            "k1",
            Algorithm::Aes256Gcm,
            SecretBytes::new(material.clone()),
        )
        .expect("key");
        let codec = RecordCodec::plaintext()
            .with_keyring(
                Keyring::new(dk.clone())
                    .with_read_key(key("k0", Algorithm::Aes128Gcm, 0xab))
                    .expect("read key"),
            )
            .with_pepper(Pepper::new(SecretBytes::new(pepper.clone())).expect("pepper"));
        let shown = [
            format!("{dk:?}"),
            format!("{codec:?}"),
            format!("{codec:#?}"),
        ];
        for s in &shown {
            assert!(s.contains("k1") && s.contains("redacted"), "{s}");
            for secret in [&material[..], &pepper[..], &[0xab; 16][..]] {
                assert!(!s.contains(&*String::from_utf8_lossy(secret)), "{s}");
                assert!(!s.contains(&hex::encode(secret)), "{s}");
                assert!(
                    !s.contains(
                        &format!("{:?}", &secret[..4])
                            .trim_end_matches(']')
                            .to_string()
                    ),
                    "{s}"
                );
            }
            assert!(
                !s.contains("KEYMAT") && !s.contains("PEPPER") && !s.contains("171"),
                "{s}"
            );
        }
    }
}
