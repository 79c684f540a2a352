//! Property tests of the record codec's envelope: whatever bytes `open` is given, it never
//! panics, and anything but an intact envelope under the right key and associated data is
//! `ErrorKind::Corrupt`.
//!
//! What a single flipped byte does, by envelope kind:
//!
//! - **Sealed** (keyring set, `accept_plaintext` off): always `Corrupt`, wherever the flip
//!   is: version and algorithm bytes are checked, the key id selects no key (or another
//!   key, and the header is authenticated), and nonce, ciphertext and tag are covered by
//!   the tag.
//! - **Sealed, read with `accept_plaintext` on** (a migration): the same, except that
//!   turning the algorithm byte into `0` makes the envelope a plaintext one, which the
//!   migration accepts by design; its "body" is then the sealed bytes (key id, nonce,
//!   ciphertext), never the original plaintext. Anyone who can write to the backend could
//!   plant a plaintext record anyway while plaintext is accepted.
//! - **Plaintext**: a flip in the two header bytes is `Corrupt` (unknown version, unknown
//!   algorithm, or a "sealed" envelope with no keyring or no valid key id and tag); a flip
//!   in the body opens to a different body. Plaintext records have no integrity: that is
//!   what configuring a keyring is for.

// In a module so that test names contain "codec" (`cargo nextest run codec` runs them).
mod codec {
    use authstate_core::codec::{Algorithm, AssociatedData, DataKey, Keyring, RecordCodec};
    use authstate_core::{Contract, Error, ErrorKind, Namespace, SecretBytes};
    use proptest::prelude::*;
    use proptest::sample::Index;
    use proptest::test_runner::TestCaseError;

    fn algorithm() -> impl Strategy<Value = Algorithm> {
        prop_oneof![Just(Algorithm::Aes256Gcm), Just(Algorithm::Aes128Gcm)]
    }

    fn contract() -> impl Strategy<Value = Contract> {
        proptest::sample::select(Contract::ALL.to_vec())
    }

    fn key_id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._-]{1,32}"
    }

    fn namespace() -> impl Strategy<Value = Namespace> {
        "[a-z][a-z0-9_-]{0,31}".prop_map(|s| Namespace::new(s).expect("valid namespace"))
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..200)
    }

    fn storage_key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..48)
    }

    fn data_key(id: &str, algorithm: Algorithm, material: &[u8; 32]) -> DataKey {
        let material = material
            .get(..algorithm.key_len())
            .expect("32 bytes is enough");
        DataKey::new(id, algorithm, SecretBytes::new(material.to_vec())).expect("valid key")
    }

    fn sealing(key: DataKey) -> RecordCodec {
        RecordCodec::plaintext().with_keyring(Keyring::new(key))
    }

    fn assert_corrupt(result: Result<Vec<u8>, Error>, what: &str) -> Result<(), TestCaseError> {
        match result {
            Ok(body) => Err(TestCaseError::fail(format!(
                "{what}: opened to {} bytes instead of failing",
                body.len()
            ))),
            Err(err) => {
                prop_assert_eq!(err.kind(), ErrorKind::Corrupt, "{}: {}", what, err);
                Ok(())
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips_and_binds_associated_data(
            algorithm in algorithm(),
            id in key_id(),
            material in any::<[u8; 32]>(),
            ns in namespace(),
            contract in contract(),
            key in storage_key(),
            other_key in storage_key(),
            body in payload(),
        ) {
            let codec = sealing(data_key(&id, algorithm, &material));
            let ad = AssociatedData { namespace: &ns, contract, key: &key };
            let env = codec.seal(&ad, &body).expect("seal");
            prop_assert_eq!(codec.open(&ad, &env).expect("open"), body.clone());

            let plain = RecordCodec::plaintext();
            let penv = plain.seal(&ad, &body).expect("seal");
            prop_assert_eq!(plain.open(&ad, &penv).expect("open"), body);

            if other_key != key {
                let moved = AssociatedData { key: &other_key, ..ad };
                assert_corrupt(codec.open(&moved, &env), "moved to another storage key")?;
            }
        }

        /// (1) The same key id with different material never opens.
        #[test]
        fn wrong_key_with_the_same_id_is_corrupt(
            algorithm in algorithm(),
            id in key_id(),
            material in any::<[u8; 32]>(),
            other_material in any::<[u8; 32]>(),
            ns in namespace(),
            contract in contract(),
            key in storage_key(),
            body in payload(),
        ) {
            let len = algorithm.key_len();
            prop_assume!(material.get(..len) != other_material.get(..len));
            let ad = AssociatedData { namespace: &ns, contract, key: &key };
            let env = sealing(data_key(&id, algorithm, &material)).seal(&ad, &body).expect("seal");
            let wrong = sealing(data_key(&id, algorithm, &other_material));
            assert_corrupt(wrong.open(&ad, &env), "wrong material")?;
            // The same id under the other algorithm: the algorithm byte does not match.
            let other_algorithm = match algorithm {
                Algorithm::Aes256Gcm => Algorithm::Aes128Gcm,
                Algorithm::Aes128Gcm => Algorithm::Aes256Gcm,
            };
            let wrong = sealing(data_key(&id, other_algorithm, &material));
            assert_corrupt(wrong.open(&ad, &env), "wrong algorithm")?;
        }

        /// (2) Every proper prefix of a sealed envelope is `Corrupt`, whether plaintext is
        /// accepted or not.
        #[test]
        fn every_truncation_of_a_sealed_envelope_is_corrupt(
            algorithm in algorithm(),
            id in key_id(),
            material in any::<[u8; 32]>(),
            ns in namespace(),
            contract in contract(),
            key in storage_key(),
            body in payload(),
        ) {
            let codec = sealing(data_key(&id, algorithm, &material));
            let migrating = codec.clone().accept_plaintext(true);
            let ad = AssociatedData { namespace: &ns, contract, key: &key };
            let env = codec.seal(&ad, &body).expect("seal");
            for cut in 0..env.len() {
                let prefix = env.get(..cut).expect("in range");
                assert_corrupt(codec.open(&ad, prefix), &format!("cut at {cut}"))?;
                assert_corrupt(migrating.open(&ad, prefix), &format!("cut at {cut}, migrating"))?;
            }
        }

        /// (3) Changing any byte of a sealed envelope (by any non-zero XOR) is `Corrupt`.
        #[test]
        fn any_changed_byte_of_a_sealed_envelope_is_corrupt(
            algorithm in algorithm(),
            id in key_id(),
            material in any::<[u8; 32]>(),
            ns in namespace(),
            contract in contract(),
            key in storage_key(),
            body in payload(),
            at in any::<Index>(),
            xor in 1u8..=255,
        ) {
            let codec = sealing(data_key(&id, algorithm, &material));
            let ad = AssociatedData { namespace: &ns, contract, key: &key };
            let mut env = codec.seal(&ad, &body).expect("seal");
            let pos = at.index(env.len());
            let byte = env.get_mut(pos).expect("in range");
            *byte ^= xor;
            let new_byte = *byte;
            assert_corrupt(codec.open(&ad, &env), &format!("byte {pos} ^ {xor:#04x}"))?;

            // During a migration the only change that opens is algorithm byte -> 0, which
            // reads the sealed bytes as a plaintext body (see the module docs).
            let migrating = codec.clone().accept_plaintext(true);
            match migrating.open(&ad, &env) {
                Ok(opened) => {
                    prop_assert!(pos == 1 && new_byte == 0, "byte {} ^ {:#04x} opened", pos, xor);
                    prop_assert_eq!(Some(&opened[..]), env.get(2..));
                    prop_assert_ne!(opened, body);
                }
                Err(err) => prop_assert_eq!(err.kind(), ErrorKind::Corrupt, "{}", err),
            }
        }

        /// (3) For plaintext envelopes: a changed header byte is `Corrupt`, a changed body
        /// byte opens to a different body (plaintext has no integrity), never a panic.
        #[test]
        fn any_changed_byte_of_a_plaintext_envelope(
            algorithm in algorithm(),
            material in any::<[u8; 32]>(),
            ns in namespace(),
            contract in contract(),
            key in storage_key(),
            body in payload(),
            at in any::<Index>(),
            xor in 1u8..=255,
        ) {
            let plain = RecordCodec::plaintext();
            let migrating = sealing(data_key("k1", algorithm, &material)).accept_plaintext(true);
            let ad = AssociatedData { namespace: &ns, contract, key: &key };
            let mut env = plain.seal(&ad, &body).expect("seal");
            let pos = at.index(env.len());
            *env.get_mut(pos).expect("in range") ^= xor;
            for codec in [&plain, &migrating] {
                let result = codec.open(&ad, &env);
                if pos < 2 {
                    assert_corrupt(result, &format!("header byte {pos} ^ {xor:#04x}"))?;
                } else {
                    let opened = result.expect("a plaintext body opens");
                    prop_assert_eq!(Some(&opened[..]), env.get(2..));
                    prop_assert_ne!(opened, body.clone());
                }
            }
        }

        /// (4) Arbitrary bytes never panic. With a keyring and `accept_plaintext` off they are
        /// always `Corrupt` (a valid envelope would be an AES-GCM forgery); without a keyring,
        /// or during a migration, exactly those that start `01 00` open, to the rest.
        #[test]
        fn arbitrary_bytes_never_panic(
            algorithm in algorithm(),
            material in any::<[u8; 32]>(),
            ns in namespace(),
            contract in contract(),
            key in storage_key(),
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                // Shaped like an envelope, so parsing goes deeper.
                (0u8..=3, 0u8..=40, prop::collection::vec(any::<u8>(), 0..80)).prop_map(
                    |(alg, len, rest)| [&[1, alg, len][..], &rest[..]].concat()
                ),
                // Right up to the key id of the configured key.
                (1u8..=2, prop::collection::vec(any::<u8>(), 0..80)).prop_map(
                    |(alg, rest)| [&[1, alg, 2, b'k', b'1'][..], &rest[..]].concat()
                ),
            ],
        ) {
            let strict = sealing(data_key("k1", algorithm, &material));
            let migrating = strict.clone().accept_plaintext(true);
            let plain = RecordCodec::plaintext();
            let ad = AssociatedData { namespace: &ns, contract, key: &key };

            assert_corrupt(strict.open(&ad, &bytes), "random bytes, strict")?;
            for codec in [&plain, &migrating] {
                match (codec.open(&ad, &bytes), bytes.get(..2)) {
                    (Ok(body), Some([1, 0])) => prop_assert_eq!(Some(&body[..]), bytes.get(2..)),
                    (Ok(_), _) => prop_assert!(false, "non-plaintext random bytes opened"),
                    (Err(err), header) => {
                        prop_assert_eq!(err.kind(), ErrorKind::Corrupt, "{}", err);
                        prop_assert_ne!(header, Some(&[1u8, 0][..]), "plaintext refused: {}", err);
                    }
                }
            }
            // And through `decode`, whatever the type.
            if let Err(err) = plain.decode::<(String, u64, Vec<u8>)>(&ad, &bytes) {
                prop_assert_eq!(err.kind(), ErrorKind::Corrupt, "{}", err);
            }
        }
    }

    /// Exhaustive companion to the sampled test: every single bit of one envelope per
    /// algorithm, including the header.
    #[test]
    fn every_single_bit_flip_of_a_sealed_envelope_is_corrupt() {
        let ns = Namespace::new("idp-prod").expect("namespace");
        let ad = AssociatedData {
            namespace: &ns,
            contract: Contract::Session,
            key: b"index-key",
        };
        for algorithm in [Algorithm::Aes256Gcm, Algorithm::Aes128Gcm] {
            let codec = sealing(data_key("key-2024", algorithm, &[7; 32]));
            let env = codec.seal(&ad, b"a session record").expect("seal");
            for pos in 0..env.len() {
                for bit in 0..8 {
                    let mut flipped = env.clone();
                    *flipped.get_mut(pos).expect("in range") ^= 1 << bit;
                    let err = codec.open(&ad, &flipped).expect_err("flipped bit opened");
                    assert_eq!(
                        err.kind(),
                        ErrorKind::Corrupt,
                        "byte {pos} bit {bit}: {err}"
                    );
                }
            }
        }
    }
}
