//! Signed-record verification on arbitrary input: records decoded (postcard)
//! from raw bytes, built from arbitrary fields, or signed by a known key and
//! then tampered with. `verify()` and `key()` must never panic; `key()` is
//! deterministic and survives a codec round trip; a record built from
//! arbitrary fields never verifies (that would be a forgery); a genuinely
//! signed record verifies, and changing any byte of its value, its sequence
//! number, salt, signature or key makes it fail.
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use meshara_dht::identity::Identity;
use meshara_dht::record::{
    ImmutableRecord, MesharaPublicKey, Record, RecordPublicKey, Refusal, SignedRecord,
};
use meshara_dht::wire::{Signature, MAX_SALT_SIZE, MAX_VALUE_SIZE};
use meshara_dht::Key;

const SIGNERS: usize = 4;

fn signers() -> &'static [Identity] {
    static SIGNERS_CELL: OnceLock<Vec<Identity>> = OnceLock::new();
    SIGNERS_CELL.get_or_init(|| {
        (0..SIGNERS as u64)
            .map(|i| Identity::from_seed(7000 + i))
            .collect()
    })
}

#[derive(Debug, Arbitrary)]
pub enum Input {
    /// A postcard-encoded `Record`, as a STORE or VALUE carries it.
    Bytes(Vec<u8>),
    /// A mutable record from arbitrary fields (key and signature included).
    Fields {
        key: KeySpec,
        salt: Vec<u8>,
        value: Vec<u8>,
        signature: [u8; 32],
        signature_hi: [u8; 32],
        /// Last: `arbitrary` reads a trailing array oddly at the end of
        /// the input (its last element twice), an integer plainly.
        seq: u64,
    },
    /// A record signed by a known key, then perhaps tampered with.
    Signed {
        signer: u8,
        /// `Some(x25519)`: a Meshara key (the signer's ed25519 key followed
        /// by these 32 bytes).
        meshara: Option<[u8; 32]>,
        salt: Vec<u8>,
        seq: u64,
        value: Vec<u8>,
        tamper: Tamper,
        /// Which value byte the checks of a verified record flip.
        position: u16,
        mask: u8,
    },
}

#[derive(Debug, Arbitrary)]
pub enum KeySpec {
    Ed25519([u8; 32]),
    Meshara([u8; 32], [u8; 32]),
    /// A signer's real public key (the signature is still arbitrary).
    Known(u8),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Tamper {
    None,
    SignatureByte {
        index: u8,
        mask: u8,
    },
    Seq {
        delta: u64,
    },
    SaltByte {
        index: u8,
        mask: u8,
    },
    AppendValue(u8),
    OtherSigner(u8),
    /// A Meshara key whose x25519 half changes: the key (and so the signed
    /// message) changes, the ed25519 half that verifies does not.
    X25519Byte {
        index: u8,
        mask: u8,
    },
}

fn clamp(mut bytes: Vec<u8>, max: usize) -> Bytes {
    bytes.truncate(max);
    Bytes::from(bytes)
}

/// Checks that must hold for every record, valid or not.
fn check_any(record: &Record) -> Result<(), Refusal> {
    let result = record.verify();
    assert_eq!(record.verify(), result, "verify() is not deterministic");
    let key = record.key();
    assert_eq!(record.key(), key, "key() is not deterministic");
    assert_eq!(record.clone().key(), key);
    // The codec round trip keeps the key and the verdict.
    if let Ok(bytes) = postcard::to_allocvec(record) {
        if let Ok(back) = postcard::from_bytes::<Record>(&bytes) {
            assert_eq!(&back, record, "record changes through the codec");
            assert_eq!(back.key(), key);
            assert_eq!(back.verify(), result);
        } else {
            // Only an oversize record may fail to decode after encoding.
            assert!(
                result == Err(Refusal::TooLarge),
                "a valid record does not decode"
            );
        }
    }
    let _ = record.stored_size();
    let _ = record.seq();
    match record {
        Record::Immutable(r) => {
            assert_eq!(
                key,
                Key::sha1(&r.value),
                "immutable key is not SHA-1(value)"
            );
            assert_eq!(result.is_ok(), r.value.len() <= MAX_VALUE_SIZE);
        }
        Record::Mutable(r) => {
            assert_eq!(key, r.public_key.record_key(&r.salt));
            if r.value.len() > MAX_VALUE_SIZE || r.salt.len() > MAX_SALT_SIZE {
                assert_eq!(result, Err(Refusal::TooLarge));
            }
        }
    }
    result
}

/// A verified mutable record: every change to what the signature covers
/// makes it fail.
fn check_valid_mutable(r: &SignedRecord, position: u16, mask: u8) {
    let mask = mask.max(1);
    let fails = |changed: SignedRecord, what: &str| {
        let v = Record::Mutable(changed).verify();
        assert!(v.is_err(), "{what} changed and the record still verifies");
    };
    if !r.value.is_empty() {
        let len = r.value.len();
        for pos in [0, len - 1, usize::from(position) % len] {
            let mut value = r.value.to_vec();
            value[pos] ^= mask;
            fails(
                SignedRecord {
                    value: value.into(),
                    ..r.clone()
                },
                "a value byte",
            );
        }
    }
    if r.value.len() < MAX_VALUE_SIZE {
        let mut value = r.value.to_vec();
        value.push(mask);
        fails(
            SignedRecord {
                value: value.into(),
                ..r.clone()
            },
            "the value length",
        );
    }
    if !r.value.is_empty() {
        let value = r.value.slice(..r.value.len() - 1);
        fails(SignedRecord { value, ..r.clone() }, "the value length");
    }
    fails(
        SignedRecord {
            seq: r.seq.wrapping_add(1),
            ..r.clone()
        },
        "seq",
    );
    if r.salt.len() < MAX_SALT_SIZE {
        let mut salt = r.salt.to_vec();
        salt.push(mask);
        fails(
            SignedRecord {
                salt: salt.into(),
                ..r.clone()
            },
            "the salt",
        );
    }
    let mut sig = r.signature;
    sig.0[usize::from(position) % 64] ^= mask;
    fails(
        SignedRecord {
            signature: sig,
            ..r.clone()
        },
        "the signature",
    );
}

fn sign(
    signer: &Identity,
    meshara: Option<[u8; 32]>,
    salt: Bytes,
    seq: u64,
    value: Bytes,
) -> SignedRecord {
    let public_key = match meshara {
        None => RecordPublicKey::Ed25519(signer.public_key()),
        Some(x25519) => {
            let mut full = [0u8; 64];
            full[..32].copy_from_slice(&signer.public_key());
            full[32..].copy_from_slice(&x25519);
            RecordPublicKey::Meshara(MesharaPublicKey(full))
        }
    };
    let record = SignedRecord::sign_with(public_key, salt, seq, value, |msg| signer.sign(msg).0);
    match record {
        Ok(r) => r,
        Err(e) => panic!("signing within the limits failed: {e}"),
    }
}

/// Runs one input, panicking on any broken invariant.
pub fn run(input: Input) {
    match input {
        Input::Bytes(bytes) => {
            if let Ok(record) = postcard::from_bytes::<Record>(&bytes) {
                if check_any(&record).is_ok() {
                    if let Record::Mutable(r) = &record {
                        check_valid_mutable(r, 0, 1);
                    }
                }
            }
        }
        Input::Fields {
            key,
            salt,
            seq,
            value,
            signature,
            signature_hi,
        } => {
            let public_key = match key {
                KeySpec::Ed25519(pk) => RecordPublicKey::Ed25519(pk),
                KeySpec::Meshara(a, b) => {
                    let mut full = [0u8; 64];
                    full[..32].copy_from_slice(&a);
                    full[32..].copy_from_slice(&b);
                    RecordPublicKey::Meshara(MesharaPublicKey(full))
                }
                KeySpec::Known(i) => {
                    RecordPublicKey::Ed25519(signers()[usize::from(i) % SIGNERS].public_key())
                }
            };
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&signature);
            sig[32..].copy_from_slice(&signature_hi);
            let record = Record::Mutable(SignedRecord {
                public_key,
                salt: Bytes::from(salt),
                seq,
                value: Bytes::from(value),
                signature: Signature(sig),
            });
            let result = check_any(&record);
            assert!(
                result.is_err(),
                "an arbitrary signature verified: {record:?}"
            );
            // The immutable record of the same value.
            let value = record.value().clone();
            let _ = check_any(&Record::Immutable(ImmutableRecord { value }));
        }
        Input::Signed {
            signer,
            meshara,
            salt,
            seq,
            value,
            tamper,
            position,
            mask,
        } => {
            let id = &signers()[usize::from(signer) % SIGNERS];
            let salt = clamp(salt, MAX_SALT_SIZE);
            let value = clamp(value, MAX_VALUE_SIZE);
            let genuine = sign(id, meshara, salt, seq, value);
            if meshara.is_none() && genuine.salt.is_empty() {
                assert_eq!(
                    genuine.key(),
                    id.node_id(),
                    "own record key is not the node id"
                );
            }
            let record = Record::Mutable(genuine.clone());
            assert_eq!(
                check_any(&record),
                Ok(()),
                "a genuine record does not verify"
            );
            check_valid_mutable(&genuine, position, mask);
            let tampered = match tamper {
                Tamper::None => None,
                Tamper::SignatureByte { index, mask } => {
                    let mut r = genuine.clone();
                    r.signature.0[usize::from(index) % 64] ^= mask.max(1);
                    Some(r)
                }
                Tamper::Seq { delta } => (delta != 0).then(|| SignedRecord {
                    seq: genuine.seq.wrapping_add(delta),
                    ..genuine.clone()
                }),
                Tamper::SaltByte { index, mask } => (!genuine.salt.is_empty()).then(|| {
                    let mut salt = genuine.salt.to_vec();
                    let i = usize::from(index) % salt.len();
                    salt[i] ^= mask.max(1);
                    SignedRecord {
                        salt: salt.into(),
                        ..genuine.clone()
                    }
                }),
                Tamper::AppendValue(b) => Some(SignedRecord {
                    value: [&genuine.value[..], &[b]].concat().into(),
                    ..genuine.clone()
                }),
                Tamper::OtherSigner(other) => {
                    let other = &signers()[usize::from(other) % SIGNERS];
                    (other.public_key() != id.public_key()).then(|| {
                        let public_key = match genuine.public_key {
                            RecordPublicKey::Ed25519(_) => {
                                RecordPublicKey::Ed25519(other.public_key())
                            }
                            RecordPublicKey::Meshara(MesharaPublicKey(mut full)) => {
                                full[..32].copy_from_slice(&other.public_key());
                                RecordPublicKey::Meshara(MesharaPublicKey(full))
                            }
                        };
                        SignedRecord {
                            public_key,
                            ..genuine.clone()
                        }
                    })
                }
                Tamper::X25519Byte { index, mask: m } => match genuine.public_key {
                    RecordPublicKey::Meshara(MesharaPublicKey(mut full)) => {
                        full[32 + usize::from(index) % 32] ^= m.max(1);
                        Some(SignedRecord {
                            public_key: RecordPublicKey::Meshara(MesharaPublicKey(full)),
                            ..genuine.clone()
                        })
                    }
                    RecordPublicKey::Ed25519(_) => None,
                },
            };
            if let Some(t) = tampered {
                let record = Record::Mutable(t);
                assert!(
                    check_any(&record).is_err(),
                    "a tampered record verifies: {tamper:?}"
                );
            }
        }
    }
}
